"""The remedy catalog: for each cause id, the fixes per runtime, least privilege first.

Data lives in data/fixes/<family>.yaml so a reader finds the remedy for `oneccl.bypath-missing`
in data/fixes/oneccl.yaml. Snippets are string.Template text: `$render_devices_compose`,
`$render_gid`, `$shm_size` ... are filled from what the caller knows (host facts, the log, the
config) and fall back to commented defaults otherwise.

A remedy may carry `variants`: `by` names a context key (`launcher`, which explain fills from the
log: torchrun, accelerate, deepspeed, mpirun, vllm, sglang, tgi, ray), and each value of that key
maps to the fields it replaces (title, note, a runtime's snippet). The remedy keeps its id; only
its words follow what the log used (`--nproc-per-node` for torchrun, not `--tensor-parallel-size`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from string import Template
from typing import Any

from tpdoctor.model.finding import PRIVILEGE_ORDER, RUNTIMES, Fix
from tpdoctor.model.pkgdata import list_data, read_data
from tpdoctor.model.yamldata import load_data_yaml

PRIVILEGED_RISK = (
    "privileged hands the container every host device, all capabilities, no seccomp and no "
    "AppArmor/SELinux confinement: a process in it can take over the host. Use only to confirm "
    "a diagnosis, never in production."
)

DEFAULT_RENDER_NODES = ("/dev/dri/renderD128", "/dev/dri/renderD129")


def _yaml_list(items: Iterable[str], indent: int) -> str:
    pad = " " * indent
    return "\n".join(f'{pad}- "{i}"' for i in items)


def fix_context(
    *,
    render_nodes: Iterable[str] | None = None,
    render_gid: int | str | None = None,
    video_gid: int | str | None = None,
    shm_size: str = "16g",
    nvidia_nodes: Iterable[str] | None = None,
    gpu_count: int | None = None,
    nvidia_only: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Build the substitution values for fix templates from what is known.

    nvidia_only: check saw NVIDIA GPUs and no render node, so the GPU request is the NVIDIA one itself (`--gpus N`), not
    a render-node list with the NVIDIA form as a comment (an H100 host's check printed `--device /dev/dri/renderD128
    --device /dev/dri/renderD129   # NVIDIA: --gpus 2`)."""
    nodes = list(render_nodes or DEFAULT_RENDER_NODES)
    gid = str(render_gid) if render_gid is not None else "${RENDER_GID}"
    gid_shell = str(render_gid) if render_gid is not None else "$(getent group render | cut -d: -f3)"
    count = gpu_count if gpu_count is not None else len(nodes)
    nv = list(nvidia_nodes or [f"/dev/nvidia{i}" for i in range(count)])
    ctx: dict[str, str] = {
        "render_nodes": " ".join(nodes),
        "render_devices_compose": _yaml_list(nodes, 2),
        "render_devices_docker": " ".join(f"--device {n}" for n in nodes),
        "render_gid": gid,
        "render_gid_shell": gid_shell,
        "video_gid": str(video_gid) if video_gid is not None else "${VIDEO_GID}",
        "shm_size": shm_size,
        "gpu_count": str(count),
        "nvidia_nodes": " ".join(nv),
        "nvidia_devices_docker": " ".join(f"--device {n}" for n in nv),
        "gpu_ids": ",".join(str(i) for i in range(count)),
        "gpu_ids_quoted": ", ".join(f'"{i}"' for i in range(count)),
        "driver_lib_dir": "/usr/local/nvidia/lib64",  # GKE's; check fills the directory it found
    }
    render_docker, render_compose = ctx["render_devices_docker"], ctx["render_devices_compose"]
    nvidia_compose = (
        "deploy:\n  resources:\n    reservations:\n      devices:\n        - driver: nvidia\n"
        "          count: {}\n          capabilities: [gpu]\n"
    )
    if nvidia_only:
        ctx["gpus_compose"], ctx["all_gpus_compose"] = nvidia_compose.format(count), nvidia_compose.format("all")
        ctx["gpus_docker"], ctx["all_gpus_docker"] = f"--gpus {count}", "--gpus all"
        ctx["all_gpus_podman"] = "--device nvidia.com/gpu=all   # CDI (nvidia-ctk cdi generate)"
    else:
        ctx["gpus_compose"] = (
            f"# Intel / AMD: one entry per render node\ndevices:\n{render_compose}\n# NVIDIA:\n"
            + nvidia_compose.format(count)
        )
        ctx["all_gpus_compose"] = (
            f"devices:\n{render_compose}\n# NVIDIA: deploy: "
            "{resources: {reservations: {devices: [{driver: nvidia, count: all, capabilities: [gpu]}]}}}\n"
        )
        ctx["gpus_docker"] = f"{render_docker}   # NVIDIA: --gpus {count}"
        ctx["all_gpus_docker"] = f"{render_docker}   # NVIDIA: --gpus all"
        ctx["all_gpus_podman"] = f"{render_docker}   # NVIDIA: --device nvidia.com/gpu=all (CDI)"
    for k, v in (extra or {}).items():
        ctx[k] = str(v)
    return ctx


@lru_cache(maxsize=1)
def _catalog() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for name in list_data("fixes", ".yaml"):
        data = load_data_yaml(read_data(f"fixes/{name}"), f"fixes/{name}") or {}
        for cause, remedies in data.items():
            if cause in out:
                raise ValueError(f"fix catalog: {cause} defined twice ({name})")
            out[cause] = list(remedies)
    return out


def causes_with_fixes() -> set[str]:
    return set(_catalog())


@lru_cache(maxsize=1)
def fix_sources() -> dict[str, tuple[str, str]]:
    """cause id -> (data/fixes/<family>.yaml, the file's header comment with its sources)."""
    out: dict[str, tuple[str, str]] = {}
    for name in list_data("fixes", ".yaml"):
        text = read_data(f"fixes/{name}")
        head = " ".join(ln.lstrip("# ").strip() for ln in text.splitlines() if ln.startswith("#"))
        for cause in load_data_yaml(text, f"fixes/{name}") or {}:
            out[cause] = (f"data/fixes/{name}", head)
    return out


def remedies(cause: str) -> list[dict[str, Any]]:
    """The catalog's remedies for one cause, as written (title, privilege, one snippet per runtime)."""
    return list(_catalog().get(cause, []))


def fixes_for(
    cause: str,
    context: Mapping[str, str] | None = None,
    runtimes: Iterable[str] | None = None,
    include_privileged: bool = True,
) -> list[Fix]:
    """Concrete fixes for one cause, least privilege first, one Fix per (remedy, runtime).

    Memoized on the arguments: an audit of a big file asks for the same cause with the same
    context thousands of times. Fix objects are shared between findings and never mutated."""
    key = (
        cause,
        tuple(sorted((context or {}).items())),
        tuple(runtimes) if runtimes else None,
        include_privileged,
    )
    hit = _FIXES_MEMO.get(key)
    if hit is None:
        hit = _FIXES_MEMO[key] = tuple(_fixes_for(cause, context, runtimes, include_privileged))
        if len(_FIXES_MEMO) > 4096:
            _FIXES_MEMO.pop(next(iter(_FIXES_MEMO)))
    return list(hit)


_FIXES_MEMO: dict[tuple[Any, ...], tuple[Fix, ...]] = {}


# Template keys that only the finding itself can fill (fix_context has no default for them).
CONTEXT_ONLY_KEYS = frozenset(
    {"env_name", "env_value", "env_suggestion", "env_names", "iface", "drmfd_dir", "worker_affinity"}
)


# The fields a variant may replace: the words, never the id or the privilege (the remedy stays the same one).
VARIANT_FIELDS = frozenset({"title", "note", *RUNTIMES})


def chosen_variant(remedy: Mapping[str, Any], ctx: Mapping[str, str]) -> dict[str, Any]:
    """The remedy as the context selects it: its `variants[ctx[by]]` fields over its own, else itself."""
    variants = remedy.get("variants")
    if not isinstance(variants, Mapping):
        return dict(remedy)
    value = ctx.get(str(variants.get("by", "")))
    chosen = variants.get(value) if value and value != "by" else None
    out = {k: v for k, v in remedy.items() if k != "variants"}
    if isinstance(chosen, Mapping):
        out.update({k: v for k, v in chosen.items() if k in VARIANT_FIELDS})
    return out


def _needs_missing_context(remedy: Mapping[str, Any], ctx: Mapping[str, str]) -> bool:
    """Does the remedy use a context-only key the caller did not give (explain knows no variable name)?"""
    for value in remedy.values():
        if not isinstance(value, str):
            continue
        for m in Template.pattern.finditer(value):
            key = m.group("named") or m.group("braced")
            if key in CONTEXT_ONLY_KEYS and key not in ctx:
                return True
    return False


def _fixes_for(
    cause: str,
    context: Mapping[str, str] | None,
    runtimes: Iterable[str] | None,
    include_privileged: bool,
) -> list[Fix]:
    ctx = dict(fix_context())
    ctx.update(context or {})
    wanted = set(runtimes) if runtimes else set(RUNTIMES)
    remedies = sorted(
        enumerate(_catalog().get(cause, [])),
        key=lambda ir: (PRIVILEGE_ORDER.get(ir[1].get("privilege", "none"), 9), ir[0]),
    )
    fixes: list[Fix] = []
    for _, written in remedies:
        remedy = chosen_variant(written, ctx)
        privilege = remedy.get("privilege", "none")
        if privilege == "privileged" and not include_privileged:
            continue
        if _needs_missing_context(remedy, ctx):
            continue  # a command with `$env_name` left in it would be wrong to paste: no fix beats that
        risk = remedy.get("risk") or (PRIVILEGED_RISK if privilege == "privileged" else None)
        for runtime in RUNTIMES:
            if runtime not in remedy or runtime not in wanted:
                continue
            fixes.append(
                Fix(
                    id=remedy["id"],
                    runtime=runtime,
                    title=Template(remedy["title"]).safe_substitute(ctx),
                    snippet=Template(str(remedy[runtime])).safe_substitute(ctx).rstrip(),
                    privilege=privilege,
                    risk=risk,
                    note=Template(remedy["note"]).safe_substitute(ctx) if remedy.get("note") else None,
                )
            )
    return fixes
