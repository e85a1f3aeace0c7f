"""The facts summary of `check`'s report (JSON `facts`, documented in docs/json.md)."""

from __future__ import annotations

from typing import Any

from tpdoctor.facts.caps import has_cap
from tpdoctor.facts.container import container_runtime
from tpdoctor.model import CheckOptions
from tpdoctor.model.facts import Facts
from tpdoctor.oneccl.model import drmfd_walk, predict_mode
from tpdoctor.rules.gpus import infer_backend, rank_count, sysfs_gpu, visible_gpu_paths


def facts_summary(facts: Facts, options: CheckOptions) -> dict[str, Any]:
    backend = infer_backend(facts, options)
    visible = visible_gpu_paths(facts, backend)
    gpus = []
    for path in visible:
        gpu = sysfs_gpu(facts, path)
        node = facts.node(path)
        gpus.append(
            {
                "node": path,
                "bdf": gpu.bdf if gpu else None,
                "vendor": gpu.vendor if gpu else None,
                "gid": node.gid if node else None,
                "open": facts.probes.opens.get(path) if facts.probes else None,
            }
        )
    out: dict[str, Any] = {
        "source": "live" if facts.live else facts.label or facts.root,
        "live": facts.live,
        "backend": backend,
        "gpus": gpus,
        "tp": options.tp or len(visible),
        "pp": options.pp,
        "container": container_runtime(facts),
        "kernel": facts.kernel.release,
        "ptrace_scope": facts.kernel.ptrace_scope,
        "seccomp": facts.process.seccomp,
        "cap_sys_ptrace": has_cap(facts, "SYS_PTRACE"),
        "uid": facts.process.uid,
        "groups": facts.process.groups,
        "tmp_writable": facts.tmp_writable,
        "errors": facts.errors,
    }
    if backend == "xpu" and rank_count(options, len(visible)) >= 2:
        p = predict_mode(facts, options)
        walk = drmfd_walk(facts, p.version)
        out["oneccl"] = {
            "dist_backend": options.dist_backend,
            "version": ".".join(str(v) for v in p.version.version),
            "version_source": p.version.source,
            "version_assumed": p.version.assumed,
            "requested": p.requested,
            "requested_source": p.requested_source,
            "pidfd_self_test": p.pidfd.ok,
            "mode": p.mode,
            "fallback_to_drmfd": p.fallback,
            "drmfd_dir": walk.directory,
            "drmfd_dir_exists": walk.exists,
            "drmfd_entries": [e.name for e in walk.entries],
        }
    if facts.probes is not None:
        out["probes"] = facts.probes.model_dump(mode="json")
    return out
