"""CDI specs on the host, read where the engines read them, and the files they name that are gone.

Podman, containerd, CRI-O and Docker resolve `--device nvidia.com/gpu=...` (and a CDI-enabled device
plugin's devices) through the `*.yaml` / `*.json` files of /etc/cdi and /var/run/cdi, not recursing
(cncf-tags/container-device-interface pkg/cdi/spec-dirs.go DefaultSpecDirs, scanSpecDirs @05ae4b5).
A spec hands the container host files: `containerEdits` at the top and per device, each with
`deviceNodes` (path, hostPath), `mounts` (hostPath) and `hooks` (path) (specs-go/config.go).
`nvidia-ctk cdi generate` names the driver's libraries and firmware by their versioned file names
(NVIDIA/nvidia-container-toolkit pkg/nvcdi driver-nvml.go), so a spec written before a driver upgrade
names files that are gone and the runtime fails at mount time: runtime.cdi-spec-stale.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tpdoctor.errors import InputError
from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.fsutil import read_text
from tpdoctor.model.facts import CdiSpec, Facts
from tpdoctor.yamlguard import MAX_NODES, refuse_bombs, walk_budget

SPEC_DIRS = ("/etc/cdi", "/var/run/cdi")
MAX_SPECS = 64  # files per directory: a host has a handful
MAX_PATHS = 4096  # host paths checked per spec (a spec of 8 GPUs names a few hundred)


def _edits(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The spec's containerEdits and each device's."""
    out = [spec.get("containerEdits")]
    devices = spec.get("devices")
    if isinstance(devices, list):
        out += [d.get("containerEdits") for d in devices if isinstance(d, dict)]
    return [e for e in out if isinstance(e, dict)]


def host_paths(spec: dict[str, Any]) -> list[str]:
    """Every absolute host path a spec hands a container, in the order written, once each."""
    paths: list[str] = []
    for edits in _edits(spec):
        for key, field in (("deviceNodes", "hostPath"), ("mounts", "hostPath"), ("hooks", "path")):
            items = edits.get(key)
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict):
                    continue
                # a device node without hostPath is opened at its container path on the host
                p = item.get(field) or (item.get("path") if key == "deviceNodes" else None)
                if isinstance(p, str) and p.startswith("/"):
                    paths.append(p)
    return list(dict.fromkeys(paths))


def _parse(text: str, path: str) -> dict[str, Any] | None:
    """The spec as the CDI library reads it (one document, YAML or JSON), through the YAML bomb guards."""
    if path.endswith(".json"):
        data = json.loads(text)
    else:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        refuse_bombs(text, path)
        try:
            data = YAML(typ="safe", pure=True).load(text)
        except YAMLError as exc:
            raise InputError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    walk_budget(data, [MAX_NODES], path)
    return data if isinstance(data, dict) else None


def _absent(ctx: CollectContext, p: str) -> bool:
    try:
        os.stat(ctx.path(p))
    except FileNotFoundError:
        return True
    except OSError:  # unreadable or a link loop: not known to be gone
        return False
    return False


def collect_cdi(ctx: CollectContext, facts: Facts) -> None:
    """facts.cdi_specs: each spec file of the two directories, with the host paths it names that are absent."""
    for directory in SPEC_DIRS:
        try:
            names = sorted(os.listdir(ctx.path(directory)))
        except FileNotFoundError:
            continue
        except OSError as exc:
            facts.errors.append(f"{directory}: {exc.__class__.__name__}: {exc.strerror or exc}")
            continue
        for name in [n for n in names if n.endswith((".yaml", ".json"))][:MAX_SPECS]:
            path = f"{directory}/{name}"
            text = read_text(ctx.root, path, facts.errors)
            if text is None:
                continue
            try:
                spec = _parse(text, path)
            except RecursionError:  # json.loads of '[[[[...' 100k deep (the YAML reader refuses it itself)
                facts.errors.append(f"{path}: not a readable CDI spec: nested too deeply")
                continue
            except (InputError, ValueError) as exc:
                facts.errors.append(f"{path}: not a readable CDI spec: {str(exc).splitlines()[0][:200]}")
                continue
            if spec is None:
                continue
            kind = spec.get("kind")
            missing = [p for p in host_paths(spec)[:MAX_PATHS] if _absent(ctx, p)]
            facts.cdi_specs.append(CdiSpec(path=path, kind=kind if isinstance(kind, str) else None, missing=missing))


COLLECTORS.append(collect_cdi)
