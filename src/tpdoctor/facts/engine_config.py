"""The container engines' daemon configuration on a host: Docker's daemon.json, containerd's config.toml, the
kubelet's cgroup driver. rules/engine_config.py decides what they prove; only the keys those rules read are kept.

Docker (moby/moby, cited at docker-v29.7.2 unless said): dockerd reads /etc/docker/daemon.json (`--config-file`;
the rootless daemon's ~/.config/docker/daemon.json is not read here: whether dockerd runs rootless is not visible).
Docker installed as a snap reads /var/snap/docker/current/config/daemon.json instead (docker-snap bin/dockerd-wrapper):
only the runtimes it registers are kept.
daemon/config/config.go getConflictFreeConfiguration: a file of only whitespace is the defaults; a UTF-8 (or, since
v23.0, UTF-8 or UTF-16 LE with a BOM) text that is not a JSON object is refused ("invalid JSON"); configValuesSet flattens a nested
object whose key is not in flatOptions (so `{"proxies": {"http-proxy": ...}}` is the key http-proxy), and
findConfigurationConflicts refuses a key no flag or NamedOption names (rules/dockerd_options.py); then
json.Unmarshal into the typed Config refuses a value of the wrong type (a quoted boolean for features.cdi).
daemon/runtime_unix.go setupRuntimes: a default-runtime that is neither runc nor a key of `runtimes` stops the
daemon ("specified default runtime '%s' does not exist", also v20.10-v24 daemon/config/config.go Validate). A
runtime's `path` is the runc binary containerd's shim runs (BinaryName), looked up on PATH when it has no '/'.

containerd (containerd/containerd v1.7.34 services/server/config/config.go, v2.0.0 cmd/containerd/server/config/
config.go): /etc/containerd/config.toml, then its `imports` (relative to the importing file's directory, a '*'
globbed; imports of imports too). Values are merged key by key, the last file winning and disabled_plugins appended,
as containerd 2.x does (a21e379b6, v2.0.0-rc.6); containerd 1.7 replaces the whole plugin table an import sets
(mergeConfig), which is not modelled: there an import's CRI table without enable_cdi resets it to false. A
file without `version` is version 1: `disabled_plugins` and `[plugins.<id>]` name plugins by their short id
("cri"); version 2 and 3 by URI ("io.containerd.grpc.v1.cri"), and a version 2 file with a bare id fails to load
("invalid disabled plugin URI"). The CRI runtime settings live in [plugins.cri] (v1), [plugins.
"io.containerd.grpc.v1.cri"] (v2) or [plugins."io.containerd.cri.v1.runtime"] (v3, containerd 2.x): enable_cdi
(pkg/cri/config: false in 1.7, internal/cri/config: true from 2.0), containerd.default_runtime_name (or 1.x's
deprecated containerd.default_runtime table, which becomes the runtime "default" and the default when it has a
runtime_type), containerd.runtimes.<name>.runtime_type and .options.BinaryName / .options.SystemdCgroup.

The kubelet: /var/lib/kubelet/config.yaml's top-level `cgroupDriver` (kubeadm's KubeletConfiguration), read as one
line (check loads no YAML parser), and the plugins registered in /var/lib/kubelet/plugins_registry
(`<driver>-reg.sock`, k8s.io/dynamic-resource-allocation kubeletplugin; the NVIDIA DRA driver's gpu.nvidia.com,
kubernetes-sigs/dra-driver-nvidia-gpu cmd/gpu-kubelet-plugin/main.go @95932046).
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import re
from typing import Any

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.elf import ElfError, read_go_main_path
from tpdoctor.facts.fsutil import read_config_text
from tpdoctor.facts.nvidia_toolkit import TomlTooDeep, _toml_loads
from tpdoctor.facts.oneccl_install import is_file, list_dir, open_in_root
from tpdoctor.model.facts import EngineConfigFacts, EngineRuntime, Facts
from tpdoctor.redact import redact_text
from tpdoctor.units import parse_size

DOCKER_CONFIG = "/etc/docker/daemon.json"
# Docker as a snap (Ubuntu): dockerd runs from /snap/docker/<rev> with --config-file=$SNAP_DATA/config/daemon.json,
# SNAP_DATA being /var/snap/docker/<rev> ("current" links to the active revision); the install hook copies the
# snap's default file there (docker-snap/docker-snap bin/dockerd-wrapper, snap/hooks/install @3489233)
DOCKER_SNAP_DIRS = ("/snap/docker", "/var/snap/docker")
DOCKER_SNAP_CONFIG = "/var/snap/docker/current/config/daemon.json"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
KUBELET_REGISTRY = "/var/lib/kubelet/plugins_registry"
BIN_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/sbin", "/usr/local/sbin", "/bin", "/sbin")
# systemd's default PATH for services (dockerd, containerd and their shims inherit it): where exec.LookPath looks
ENGINE_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
MAX_CONFIG = 1 << 20  # daemon.json and config.toml are a few KiB
MAX_IMPORTS = 8  # containerd imports read (the toolkit's drop-in is one); more: the rest is not read, one line
MAX_KEYS = 200
MAX_RUNTIMES = 32
# daemon/config/config.go flatOptions: nested objects kept whole (their own keys are not flag names)
FLAT_OPTIONS = frozenset(
    {"cluster-store-opts", "default-network-opts", "log-opts", "runtimes", "default-ulimits", "features", "builder",
     "nri-opts"}
)
CRI_TABLES = {1: ("cri",), 2: ("io.containerd.grpc.v1.cri",), 3: ("io.containerd.cri.v1.runtime",)}
_CGROUP_DRIVER = re.compile(r"""^cgroupDriver:\s*["']?([A-Za-z]+)["']?\s*(?:#.*)?$""", re.M)


def _bins(ctx: CollectContext, name: str) -> list[str]:
    return [f"{d}/{name}" for d in BIN_DIRS if is_file(ctx, f"{d}/{name}")]


def resolve_binary(ctx: CollectContext, path: str | None) -> tuple[str | None, bool | None]:
    """Where exec.LookPath finds `path` in this root: an absolute path as is, a bare name on ENGINE_PATH."""
    if not path:
        return None, None
    if path.startswith("/"):
        return path, is_file(ctx, path)
    if "/" in path:
        return None, None  # relative to the daemon's working directory: not judged
    hit = next((f"{d}/{path}" for d in ENGINE_PATH if is_file(ctx, f"{d}/{path}")), None)
    return hit, hit is not None


# --- Docker ----------------------------------------------------------------------------------------------------


def _flatten(config: dict[str, Any]) -> list[str]:
    """daemon/config/config.go configValuesSet: the keys findConfigurationConflicts checks."""
    out: list[str] = []
    for k, v in config.items():
        out += list(v) if isinstance(v, dict) and k not in FLAT_OPTIONS else [k]
    return out


def _wrong(eng: EngineConfigFacts, errors: list[str], path: str, why: str) -> None:
    errors.append(f"{path}: {why}: not judged (dockerd refuses such a file)")
    eng.docker_refused = eng.docker_refused or why


def _docker(ctx: CollectContext, facts: Facts, eng: EngineConfigFacts) -> None:
    eng.dockerd = _bins(ctx, "dockerd")
    if not os.path.lexists(ctx.entry(DOCKER_CONFIG)):
        if eng.dockerd:
            eng.docker_config, eng.docker_state = DOCKER_CONFIG, "absent"
        return
    eng.docker_config = DOCKER_CONFIG
    text = read_config_text(ctx.root, DOCKER_CONFIG, facts.errors, MAX_CONFIG, "docker daemon.json", utf16_bom=True)
    if text is None:
        eng.docker_state = "invalid"
        return
    eng.docker_state = "read"
    if not text.strip():
        return  # getConflictFreeConfiguration: an empty file is the defaults
    try:
        config = json.loads(text, parse_constant=_no_constant)
    except RecursionError:  # not judged: one unreadable file, as a TOML nested too deeply (not the whole check)
        facts.errors.append(f"{DOCKER_CONFIG}: arrays or objects nested too deeply: not read")
        eng.docker_state = "invalid"
        return
    except ValueError as exc:  # json.JSONDecodeError, and NaN / Infinity that Go's decoder refuses
        reason = str(exc).splitlines()[0][:160]
        facts.errors.append(f"{DOCKER_CONFIG}: not valid JSON ({reason}); dockerd refuses such a file too")
        eng.docker_refused = f"not valid JSON: {reason}"
        return
    if not isinstance(config, dict):
        _wrong(eng, facts.errors, DOCKER_CONFIG, f"not a JSON object but {type(config).__name__}")
        return
    eng.docker_keys = _flatten(config)[:MAX_KEYS]
    _docker_values(ctx, config, eng, facts.errors)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _docker_values(ctx: CollectContext, config: dict[str, Any], eng: EngineConfigFacts, errors: list[str]) -> None:
    path = DOCKER_CONFIG
    default = config.get("default-runtime")
    if default is not None:
        if isinstance(default, str):
            eng.docker_default_runtime = redact_text(default)
        else:
            _wrong(eng, errors, path, "default-runtime is not a string")
    features = config.get("features")
    if features is not None:  # map[string]bool
        if not isinstance(features, dict):
            _wrong(eng, errors, path, "features is not an object")
        elif "cdi" in features:
            if isinstance(features["cdi"], bool):
                eng.docker_features_cdi = features["cdi"]
            else:
                _wrong(eng, errors, path, "features.cdi is not a boolean")
    dirs = config.get("cdi-spec-dirs")
    if dirs is not None:
        if isinstance(dirs, list) and all(isinstance(d, str) for d in dirs):
            eng.docker_cdi_spec_dirs = [redact_text(d) for d in dirs[:16]]
        else:
            _wrong(eng, errors, path, "cdi-spec-dirs is not an array of strings")
    shm = config.get("default-shm-size")
    if shm is not None:  # opts.MemBytes.UnmarshalJSON: a quoted go-units size
        size = parse_size(shm, go_units=True) if isinstance(shm, str) else None
        if size is None:
            _wrong(eng, errors, path, "default-shm-size is not a size string")
        eng.docker_default_shm_size = size
    _docker_memlock(config.get("default-ulimits"), eng, errors)
    _docker_runtimes(ctx, config.get("runtimes"), eng, errors)


def _docker_memlock(ulimits: Any, eng: EngineConfigFacts, errors: list[str]) -> None:
    """default-ulimits: map[string]*container.Ulimit ({"Name", "Hard", "Soft"}; Go's decoder matches case-folded)."""
    if ulimits is None:
        return
    if not isinstance(ulimits, dict):
        _wrong(eng, errors, DOCKER_CONFIG, "default-ulimits is not an object")
        return
    memlock = ulimits.get("memlock")
    if memlock is None:
        return
    if not isinstance(memlock, dict):
        _wrong(eng, errors, DOCKER_CONFIG, "default-ulimits.memlock is not an object")
        return
    fields = {k.lower(): v for k, v in memlock.items()}
    for name in ("soft", "hard"):
        value = fields.get(name)
        if value is not None and (type(value) is not int):
            _wrong(eng, errors, DOCKER_CONFIG, f"default-ulimits.memlock.{name.title()} is not an integer")
            return
    eng.docker_memlock_soft, eng.docker_memlock_hard = fields.get("soft", 0), fields.get("hard", 0)


def _docker_runtimes(ctx: CollectContext, runtimes: Any, eng: EngineConfigFacts, errors: list[str]) -> None:
    if runtimes is None:
        return
    if not isinstance(runtimes, dict):
        _wrong(eng, errors, DOCKER_CONFIG, "runtimes is not an object")
        return
    for name, rt in list(runtimes.items())[:MAX_RUNTIMES]:
        if not isinstance(rt, dict):
            _wrong(eng, errors, DOCKER_CONFIG, f"runtimes.{name} is not an object")
            continue
        path, kind = rt.get("path"), rt.get("runtimeType")
        if (path is not None and not isinstance(path, str)) or (kind is not None and not isinstance(kind, str)):
            _wrong(eng, errors, DOCKER_CONFIG, f"runtimes.{name}.path or runtimeType is not a string")
            continue
        resolved, exists = resolve_binary(ctx, path)
        eng.docker_runtimes.append(EngineRuntime(
            name=redact_text(str(name)), path=redact_text(path) if path else None, runtime_type=kind,
            resolved=resolved, exists=exists,
        ))


def _docker_snap(ctx: CollectContext, facts: Facts, eng: EngineConfigFacts) -> None:
    """The snap's daemon.json: only the runtimes it registers (what a GPU container needs there)."""
    eng.docker_snap_dir = next((d for d in DOCKER_SNAP_DIRS if os.path.lexists(ctx.entry(d))), None)
    if eng.docker_snap_dir is None:
        return
    eng.docker_snap = DOCKER_SNAP_CONFIG
    if not os.path.lexists(ctx.entry(DOCKER_SNAP_CONFIG)):
        eng.docker_snap_state = "absent"
        return
    text = read_config_text(ctx.root, DOCKER_SNAP_CONFIG, facts.errors, MAX_CONFIG, "docker snap daemon.json",
                            utf16_bom=True)
    try:
        config = json.loads(text, parse_constant=_no_constant) if text is not None and text.strip() else {}
    except (RecursionError, ValueError):
        config = None
    if text is None or not isinstance(config, dict):
        eng.docker_snap_state = "invalid"
        return
    eng.docker_snap_state = "read"
    runtimes = config.get("runtimes")
    if isinstance(runtimes, dict):
        eng.docker_snap_runtimes = [redact_text(str(k)) for k in list(runtimes)[:MAX_RUNTIMES]]


# --- containerd ------------------------------------------------------------------------------------------------


def _table(data: Any, *keys: str) -> Any:
    for k in keys:
        data = data.get(k) if isinstance(data, dict) else None
    return data


def _imports(ctx: CollectContext, parent: str, imports: Any, facts: Facts) -> list[str]:
    """config.go resolveImports, inside the root: a relative path joins the importing file's directory, a '*' is
    globbed over one directory's names (containerd's filepath.Glob; a '*' in a directory part is not followed)."""
    out: list[str] = []
    if not isinstance(imports, list):
        return out
    for item in imports:
        if not isinstance(item, str):
            continue
        path = posixpath.normpath(item if item.startswith("/") else posixpath.join(posixpath.dirname(parent), item))
        if "*" not in path:
            out.append(path)
            continue
        directory, pattern = posixpath.split(path)
        if "*" in directory or any(c in pattern for c in "[]?"):
            facts.errors.append(f"{parent}: import {redact_text(item)!r}: a pattern check does not follow; not read")
            continue
        out += [posixpath.join(directory, n) for n in list_dir(ctx, directory) if fnmatch.fnmatchcase(n, pattern)]
    return out


def _load_toml(ctx: CollectContext, facts: Facts, path: str, eng: EngineConfigFacts) -> dict[str, Any] | None:
    text = read_config_text(ctx.root, path, facts.errors, MAX_CONFIG, "containerd config")
    if text is None:
        return None
    try:
        return _toml_loads(text)
    except TomlTooDeep as exc:  # not judged: whether containerd loads it is not known
        facts.errors.append(f"{path}: {exc}")
        return None
    except ValueError as exc:
        reason = str(exc).splitlines()[0][:160]
        facts.errors.append(f"{path}: not valid TOML ({reason}); containerd refuses such a file too")
        eng.containerd_refused = eng.containerd_refused or f"{path}: not valid TOML: {reason}"
        return None


def _containerd_release(ctx: CollectContext, binaries: list[str]) -> int | None:
    """containerd's major release from its binaries' Go build info: the module is github.com/containerd/containerd/v2
    from 2.0 (go.mod @v2.0.0), github.com/containerd/containerd before; None when unread or the binaries disagree."""
    seen: set[int] = set()
    for path in binaries:
        fd = open_in_root(ctx, path)
        if fd is None:
            continue
        try:
            with os.fdopen(fd, "rb") as f:
                main = read_go_main_path(f)
        except (OSError, ElfError):
            continue
        if main and main.startswith("github.com/containerd/containerd/"):
            seen.add(2 if main.startswith("github.com/containerd/containerd/v2/") else 1)
    return seen.pop() if len(seen) == 1 else None


def _containerd(ctx: CollectContext, facts: Facts, eng: EngineConfigFacts) -> None:
    eng.containerd = _bins(ctx, "containerd")
    eng.containerd_release = _containerd_release(ctx, eng.containerd)
    if not os.path.lexists(ctx.entry(CONTAINERD_CONFIG)):
        if eng.containerd:
            eng.containerd_config, eng.containerd_state = CONTAINERD_CONFIG, "absent"
        return
    eng.containerd_config = CONTAINERD_CONFIG
    main = _load_toml(ctx, facts, CONTAINERD_CONFIG, eng)
    if main is None:
        eng.containerd_state = "invalid"
        return
    eng.containerd_state = "read"
    version = main.get("version", 1)
    if type(version) is not int:
        eng.containerd_refused = "version is not an integer"
        return
    eng.containerd_version = version or 1
    files: list[tuple[str, dict[str, Any]]] = [(CONTAINERD_CONFIG, main)]
    pending, seen = _imports(ctx, CONTAINERD_CONFIG, main.get("imports"), facts), {CONTAINERD_CONFIG}
    while pending:
        path = pending.pop(0)
        if path in seen:
            continue
        seen.add(path)
        if len(files) > MAX_IMPORTS:
            facts.errors.append(f"{CONTAINERD_CONFIG}: more than {MAX_IMPORTS} imports: {path} and later not read")
            break
        if not os.path.lexists(ctx.entry(path)):
            continue  # containerd fails on a named import that is gone; a glob matching nothing is fine
        data = _load_toml(ctx, facts, path, eng)
        if data is None:
            continue
        files.append((path, data))
        eng.containerd_imports.append(path)
        pending += _imports(ctx, path, data.get("imports"), facts)
    _containerd_values(ctx, files, eng)


def _containerd_values(ctx: CollectContext, files: list[tuple[str, dict[str, Any]]], eng: EngineConfigFacts) -> None:
    """The keys the rules read, the last file that sets one winning (an import's disabled_plugins are appended)."""
    version = eng.containerd_version or 1
    disabled: list[str] = []
    for _, data in files:
        value = data.get("disabled_plugins")
        if isinstance(value, list):
            disabled += [redact_text(p) for p in value if isinstance(p, str)]
    eng.containerd_disabled_plugins = disabled[:64]
    if version == 2 and any("." not in p for p in disabled):  # v1.7 ValidateV2 / v2.0 ValidateVersion
        bare = next(p for p in disabled if "." not in p)
        eng.containerd_refused = f'version 2 with disabled plugin "{bare}": not a plugin URI (io.containerd.x.vx)'
    table_id = CRI_TABLES.get(version, CRI_TABLES[3])[0]
    runtimes: dict[str, EngineRuntime] = {}
    legacy: dict[str, Any] | None = None
    for _, data in files:
        cri = _table(data, "plugins", table_id)
        if not isinstance(cri, dict):
            continue
        eng.containerd_cri_table = f"plugins.{table_id}"
        if isinstance(cri.get("enable_cdi"), bool):
            eng.containerd_enable_cdi = cri["enable_cdi"]
        default = _table(cri, "containerd", "default_runtime_name")
        if isinstance(default, str):
            eng.containerd_default_runtime = redact_text(default)
        found_legacy = _table(cri, "containerd", "default_runtime")
        if version < 3 and isinstance(found_legacy, dict):
            legacy = found_legacy
        entries = _table(cri, "containerd", "runtimes")
        for name, rt in (entries.items() if isinstance(entries, dict) else ()):
            if not isinstance(rt, dict) or len(runtimes) >= MAX_RUNTIMES:
                continue
            runtimes[name] = _runtime(ctx, str(name), rt)
    # the deprecated [containerd.default_runtime] table (containerd 1.x; `nvidia-ctk runtime configure` with a
    # legacy config writes it for --set-as-default): with a runtime_type, the CRI plugin makes it the runtime
    # "default" and the default runtime, over default_runtime_name (containerd 1.7 pkg/cri/config
    # ValidatePluginConfig; gone in 2.0)
    if legacy is not None and isinstance(legacy.get("runtime_type"), str) and legacy["runtime_type"]:
        runtimes.pop("default", None)
        if len(runtimes) < MAX_RUNTIMES:
            runtimes["default"] = _runtime(ctx, "default", legacy)
        eng.containerd_default_runtime = "default"
    eng.containerd_runtimes = list(runtimes.values())


def _runtime(ctx: CollectContext, name: str, rt: dict[str, Any]) -> EngineRuntime:
    """One CRI runtime table: its runtime_type and options.BinaryName / options.SystemdCgroup."""
    found = rt.get("options")
    options: dict[str, Any] = found if isinstance(found, dict) else {}
    binary = options.get("BinaryName")
    binary = binary if isinstance(binary, str) and binary else None
    resolved, exists = resolve_binary(ctx, binary)
    systemd = options.get("SystemdCgroup")
    kind = rt.get("runtime_type")
    return EngineRuntime(
        name=redact_text(name), path=redact_text(binary) if binary else None,
        runtime_type=kind if isinstance(kind, str) else None, resolved=resolved, exists=exists,
        systemd_cgroup=systemd if isinstance(systemd, bool) else None,
    )


# --- the kubelet -----------------------------------------------------------------------------------------------


def _kubelet(ctx: CollectContext, facts: Facts, eng: EngineConfigFacts) -> None:
    eng.kubelet = _bins(ctx, "kubelet")
    eng.kubelet_plugins = sorted(
        n.removesuffix("-reg.sock") for n in list_dir(ctx, KUBELET_REGISTRY) if n.endswith("-reg.sock")
    )[:64]
    if not os.path.lexists(ctx.entry(KUBELET_CONFIG)):
        return
    eng.kubelet_config = KUBELET_CONFIG
    text = read_config_text(ctx.root, KUBELET_CONFIG, facts.errors, MAX_CONFIG, "kubelet config")
    if text is None:
        return
    m = _CGROUP_DRIVER.search(text)
    eng.kubelet_cgroup_driver = m.group(1) if m else None


def collect_engine_config(ctx: CollectContext, facts: Facts) -> None:
    """facts.engines: daemon.json, containerd's config.toml with its imports, the kubelet's cgroup driver."""
    eng = facts.engines
    _docker(ctx, facts, eng)
    _docker_snap(ctx, facts, eng)
    _containerd(ctx, facts, eng)
    _kubelet(ctx, facts, eng)


COLLECTORS.append(collect_engine_config)
