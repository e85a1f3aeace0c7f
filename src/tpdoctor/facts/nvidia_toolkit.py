"""The NVIDIA Container Toolkit's config.toml: the settings that decide whether a GPU container is created.

Where the toolkit reads it (NVIDIA/nvidia-container-toolkit): `$XDG_CONFIG_HOME/nvidia-container-runtime/config.toml`,
else /etc/nvidia-container-runtime/config.toml (internal/config/config.go GetConfigFilePath at v1.13.0 b7079454,
v1.16.0 c5c124b8, v1.17.0 5bc03154); from v1.18.0 (f8daa5e2) `NVIDIA_CTK_CONFIG_FILE_PATH` names the file outright
(api/config/v1/config.go since v1.19.0 ec7b4e2f, as at d34b3046). Those variables are the engine's environment, not
check's: the GPU Operator's toolkit container sets them in the wrappers it installs under /usr/local/nvidia/toolkit,
pointing at /usr/local/nvidia/toolkit/.config/nvidia-container-runtime/config.toml (cmd/nvidia-ctk-installer
toolkit/installer/executables.go @d34b3046), which is read when /etc has none. The hook up to v1.17.x tried
/run/nvidia/driver/etc/nvidia-container-runtime/config.toml first (cmd/nvidia-container-runtime-hook/hook_config.go
@5bc03154; gone at f8daa5e2); not read here. No version reads drop-in files. An absent file is the defaults
(config.go GetDefault), a file that does not parse makes the runtime and hook refuse every container
("failed to load specified config file", toml.go loadConfigToml).

The keys read, with their defaults (the same at v1.13, v1.16, v1.17, v1.18 and d34b3046):
- `accept-nvidia-visible-devices-envvar-when-unprivileged` true; false: NVIDIA_VISIBLE_DEVICES of an unprivileged
  container is ignored (internal/config/image/cuda_image.go VisibleDevices), and docker --gpus hands the hook the
  devices in that very variable (moby daemon/nvidia_linux.go setNvidiaGPUs);
- `accept-nvidia-visible-devices-as-volume-mounts` false (the k8s device plugin's volume-mounts strategy);
- `[nvidia-container-runtime] mode` "auto" (auto, legacy, cdi, csv; jit-cdi from v1.18); anything but legacy makes the
  hook that docker --gpus runs refuse, unless `[nvidia-container-runtime-hook] skip-mode-detection` (hook_config.go
  assertModeIsLegacy, main.go up to v1.17);
- `[nvidia-container-cli] root` "" (the host's own driver; the GPU Operator's toolkit writes /run/nvidia/driver);
- `[nvidia-container-cli] ldconfig` "@/sbin/ldconfig" (packages write "@/sbin/ldconfig.real" on Debian/Ubuntu). '@'
  marks a HOST path. Since v1.15.0 the hook runs its `.real` sibling when that exists, else the path without `.real`
  (internal/config/cli.go NormalizeLDConfigPath, 232df647); since v1.17.3 a path without '@' makes the whole config
  invalid unless `[features] allow-ldconfig-from-container = true` (cli.go assertValid, 00f1d5a6).
- `[nvidia-container-runtime] runtimes` ["docker-runc", "runc", "crun"] (["docker-runc", "runc"] before v1.17): the
  low-level runtimes the wrapper nvidia-container-runtime tries, each a path or a name looked up on its PATH and then
  /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin (internal/oci/runtime_low_level.go findRuntime,
  pkg/lookup/path.go GetPaths @d34b3046); none found, it refuses every container ("no runtime binary found from
  candidate list"). Judged only where the wrapper is installed; the engine's own PATH is not known here, except
  where k3s or RKE2 start containerd: they put their bundled bin directory (runc, containerd-shim-runc-v2) first on
  its PATH, and the wrapper a containerd shim starts inherits it. k3s: <data-dir>/data/<hash>/bin, then
  <data-dir>/data/<hash>/bin/aux, the running one linked as <data-dir>/data/current (k3s-io/k3s cmd/k3s/main.go
  stageAndRun and extract @0208f16b; data-dir /var/lib/rancher/k3s); RKE2: <data-dir>/data/<runtime image
  tag-hash>/bin, linked as <data-dir>/bin (rancher/rke2 pkg/bootstrap/bootstrap.go:52-53 binDirForDigest, :255 the
  link, pkg/executor/staticpod/staticpod.go:120-123 the PATH @6ce1a801; data-dir /var/lib/rancher/rke2,
  pkg/cli/cmds/server.go:19). A candidate found there counts as found.

The named host paths are tested inside the root (the one in-root resolver), as are the driver root and its
libraries; rules/nvidia_toolkit.py decides what that proves.
"""

from __future__ import annotations

import os
import posixpath
import sys
from typing import Any

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.driver_libs import MAX_LD_CACHE, parse_ld_cache
from tpdoctor.facts.fsutil import read_config_text, read_fd_recorded
from tpdoctor.facts.oneccl_install import is_file, list_dir, open_in_root, resolved_dir
from tpdoctor.model.facts import GLIBC_DEFAULT_DIRS, Facts, NvidiaToolkitFacts

CONFIG_PATHS = (
    "/etc/nvidia-container-runtime/config.toml",
    "/usr/local/nvidia/toolkit/.config/nvidia-container-runtime/config.toml",  # the GPU Operator's toolkit
)
# The binaries whose presence says the toolkit is installed (packages: /usr/bin; the GPU Operator: its toolkit dir).
BINARY_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/local/nvidia/toolkit")
BINARIES = ("nvidia-container-runtime", "nvidia-container-runtime-hook", "nvidia-container-toolkit", "nvidia-container-cli")
MAX_CONFIG = 1 << 20  # the packaged file is ~2 KiB
DRIVER_LIBS = ("libnvidia-ml.so.1", "libcuda.so.1")
# where a driver root's loader finds them besides its ld.so.cache (arm64 and RHEL-style lib64 included)
DRIVER_LIB_DIRS = (*GLIBC_DEFAULT_DIRS, "/usr/lib/aarch64-linux-gnu")

# key -> (dotted path, type) of what is read; the type is checked as go-toml's Unmarshal would refuse it
_KEYS: dict[str, tuple[tuple[str, ...], type]] = {
    "accept_envvar_unprivileged": (("accept-nvidia-visible-devices-envvar-when-unprivileged",), bool),
    "accept_volume_mounts": (("accept-nvidia-visible-devices-as-volume-mounts",), bool),
    "mode": (("nvidia-container-runtime", "mode"), str),
    "skip_mode_detection": (("nvidia-container-runtime-hook", "skip-mode-detection"), bool),
    "ldconfig": (("nvidia-container-cli", "ldconfig"), str),
    "driver_root": (("nvidia-container-cli", "root"), str),
    "allow_ldconfig_from_container": (("features", "allow-ldconfig-from-container"), bool),
    "runtimes": (("nvidia-container-runtime", "runtimes"), list),
}
_DEFAULTS: dict[str, Any] = {
    "accept_envvar_unprivileged": True,
    "accept_volume_mounts": False,
    "mode": "auto",
    "skip_mode_detection": False,
    "driver_root": "",
    "allow_ldconfig_from_container": False,
    "runtimes": ["docker-runc", "runc", "crun"],
}
# pkg/lookup/path.go defaultPATH: searched after the wrapper's own PATH (the engine's, not known here)
RUNTIME_SEARCH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
MAX_RUNTIMES = 16
# gfeat38: the bundled bin directories k3s and RKE2 put on their containerd's PATH (the module docstring's sources):
# (the running one's link and its subdirectories on PATH, "" the link itself; the data directory whose versions
# count when the link is absent, and a version's subdirectories on PATH)
BUNDLED_BIN_DIRS: tuple[tuple[str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    ("/var/lib/rancher/k3s/data/current", ("bin", "bin/aux"), "/var/lib/rancher/k3s/data", ("bin", "bin/aux")),
    ("/var/lib/rancher/rke2/bin", ("",), "/var/lib/rancher/rke2/data", ("bin",)),  # RKE2 links the bin directory
)
MAX_BUNDLED_VERSIONS = 8  # k3s keeps current and previous; a directory with more is read no further
_TYPE_NAMES = {bool: "a boolean", str: "a string", int: "an integer", float: "a number", dict: "a table",
               list: "an array"}


MAX_TOML_KEY_PARTS = 16  # the deepest real key has 7 ([plugins."io.containerd.grpc.v1.cri".containerd.runtimes...])
_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_- \t")


class TomlTooDeep(ValueError):
    """A TOML file this reader will not parse: a key of more than MAX_TOML_KEY_PARTS parts, or nesting past Python's
    recursion limit. tomllib's time and memory grow with the square of a dotted key's parts (a 200 KiB `a.a.a...=1`
    takes minutes and tens of GiB), so the file is left unjudged: whether the daemon loads it is not known."""


def _toml_key_parts(text: str) -> int:
    """The most parts of one dotted run outside comments: bare words and quoted strings joined by dots (a key, a
    table header, a key of an inline table; a float or a date counts 2). An upper bound for the guard above."""
    most, count, i, n = 0, 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == ".":
            count += 1
            most = max(most, count)
        elif c in "\"'":
            if text.startswith(c * 3, i):  # a multi-line string: to its closing delimiter
                end = text.find(c * 3, i + 3)
                while end != -1 and c == '"' and _escaped(text, end):
                    end = text.find(c * 3, end + 1)
                i, count = (n if end == -1 else end + 3), 0
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if c == '"' and text[j] == "\\" else 1
            i = j + 1 if j < n and text[j] == c else j
            continue
        elif c == "#":
            end = text.find("\n", i)
            i, count = (n if end == -1 else end), 0
            continue
        elif c not in _BARE_KEY:
            count = 0
        i += 1
    return most + 1


def _escaped(text: str, at: int) -> bool:
    k = at
    while k > 0 and text[k - 1] == "\\":
        k -= 1
    return (at - k) % 2 == 1


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 (pyproject: tomli)
        import tomli as tomllib
    parts = _toml_key_parts(text)
    if parts > MAX_TOML_KEY_PARTS:
        raise TomlTooDeep(f"a key of {parts} parts (more than {MAX_TOML_KEY_PARTS}): not read")
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except RecursionError:
        raise TomlTooDeep("arrays or tables nested too deeply: not read") from None
    return data


def _keys(table: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for k, v in table.items():
        out += _keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


def _type_name(value: Any) -> str:
    return next((n for t, n in _TYPE_NAMES.items() if type(value) is t), type(value).__name__)


def _parse(
    text: str, path: str, errors: list[str], tk: NvidiaToolkitFacts
) -> tuple[dict[str, Any], list[str]] | None:
    """The values of _KEYS the file sets (None for one of the wrong type: the toolkit cannot load the file then,
    and what it would do is unknown), and the keys it sets; None (with an error line) when it is not TOML. Either
    way the toolkit would refuse the file (toml.go loadConfigToml / configNoOverrides): tk.config_refused says why."""
    try:
        data = _toml_loads(text)
    except TomlTooDeep as exc:  # not judged: whether the toolkit loads it is not known
        errors.append(f"{path}: {exc}")
        return None
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        reason = str(exc).splitlines()[0][:160]
        errors.append(f"{path}: not valid TOML ({reason}); the toolkit refuses such a file too")
        tk.config_refused = f"not valid TOML: {reason}"
        return None
    values: dict[str, Any] = {}
    for name, (keys, kind) in _KEYS.items():
        node: Any = data
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if node is None:
            continue
        # an array of non-strings: go-toml cannot unmarshal it into []string either
        mixed = kind is list and type(node) is list and not all(type(v) is str for v in node)
        if type(node) is not kind or mixed:  # bool is not an int here, nor a string "false" a bool
            what = "an array of non-strings" if mixed else _type_name(node)
            wrong = f"{'.'.join(keys)} is {what}, not {'an array of strings' if kind is list else _TYPE_NAMES[kind]}"
            errors.append(f"{path}: {wrong}: not judged (the toolkit fails to load such a file)")
            tk.config_refused = tk.config_refused or wrong
            node = None
        values[name] = node
    return values, _keys(data)


def _ldconfig(ctx: CollectContext, tk: NvidiaToolkitFacts) -> None:
    """Whether the '@' (host) ldconfig exists in this root, and what toolkit >= 1.15 runs instead (cli.go normalize)."""
    value = tk.ldconfig
    if not value or not value.startswith("@") or not value[1:].startswith("/"):
        return
    named = value[1:]
    tk.ldconfig_exists = is_file(ctx, named)
    trimmed = named.removesuffix(".real")
    real = f"{trimmed}.real"
    tk.ldconfig_resolved = real if is_file(ctx, real) else trimmed
    tk.ldconfig_resolved_exists = tk.ldconfig_exists if tk.ldconfig_resolved == named else is_file(
        ctx, tk.ldconfig_resolved
    )


def _driver_root(ctx: CollectContext, tk: NvidiaToolkitFacts, errors: list[str]) -> None:
    """The driver root a non-default `root` names: a directory here, and the driver libraries its loader finds."""
    root = tk.driver_root
    if not root or posixpath.normpath(root) == "/" or not root.startswith("/"):
        return
    base = posixpath.normpath(root)
    tk.driver_root_exists = ctx.path(base).is_dir()
    if not tk.driver_root_exists:
        tk.driver_root_libs = []
        return
    found = [f"{base}{d}/{lib}" for lib in DRIVER_LIBS for d in DRIVER_LIB_DIRS if is_file(ctx, f"{base}{d}/{lib}")]
    cache_path = f"{base}/etc/ld.so.cache"
    fd = open_in_root(ctx, cache_path)
    if fd is not None:
        data = read_fd_recorded(fd, cache_path, MAX_LD_CACHE, "ld cache", errors)
        if data is None:  # unreadable: whether the libraries are there is not known
            tk.driver_root_libs = found or None
            return
        for lib in DRIVER_LIBS:
            found += [f"{base}{p}" for p in parse_ld_cache(data, lib) if is_file(ctx, f"{base}{p}")]
    tk.driver_root_libs = list(dict.fromkeys(found))


def _low_level_runtime(ctx: CollectContext, tk: NvidiaToolkitFacts) -> None:
    """The first of the wrapper's low-level runtime candidates found in this root, as findRuntime looks for it: a
    candidate with a '/' as that path, a name in the standard bin directories. Only where the wrapper is installed;
    a relative path (resolved against the engine's working directory) leaves it unjudged."""
    if tk.runtimes is None or not any(p.endswith("/nvidia-container-runtime") for p in tk.installed):
        return
    candidates = tk.runtimes[:MAX_RUNTIMES]
    if any("/" in c and not c.startswith("/") for c in candidates):
        return
    search = (*_bundled_bin_dirs(ctx), *RUNTIME_SEARCH_DIRS)
    for cand in candidates:
        paths = [cand] if cand.startswith("/") else [f"{d}/{cand}" for d in search] if cand else []
        hit = next((p for p in paths if _is_executable(ctx, p)), None)
        if hit is not None:
            tk.runtime_found = hit
            return
    # candidates past the cap were not looked for: unjudged rather than "none found"
    tk.runtime_found = "" if len(tk.runtimes) <= MAX_RUNTIMES else None


def _bundled_bin_dirs(ctx: CollectContext) -> list[str]:
    """The bin directories k3s or RKE2 put first on their containerd's PATH, as in-root paths (BUNDLED_BIN_DIRS): the
    running version's link when it is there (resolved inside the root, never out of it), else every version under
    the data directory; none on a host without them."""
    out: list[str] = []
    for link, link_subdirs, data, subdirs in BUNDLED_BIN_DIRS:
        if resolved_dir(ctx, link) is not None:
            out += [f"{link}/{sub}" if sub else link for sub in link_subdirs]
            continue
        versions = [n for n in list_dir(ctx, data) if n not in ("current", "previous") and not n.startswith(".")]
        for name in versions[:MAX_BUNDLED_VERSIONS]:
            out += [f"{data}/{name}/{sub}" for sub in subdirs if resolved_dir(ctx, f"{data}/{name}/{sub}") is not None]
    return out


def _is_executable(ctx: CollectContext, inroot: str) -> bool:
    """A regular file with an execute bit, as the toolkit's locator wants one (pkg/lookup/executable.go: a file whose
    mode has 0o111); a name with a NUL byte is no file (open_in_root refuses it)."""
    fd = open_in_root(ctx, inroot)
    if fd is None:
        return False
    try:
        return bool(os.fstat(fd).st_mode & 0o111)
    finally:
        os.close(fd)


def collect_nvidia_toolkit(ctx: CollectContext, facts: Facts) -> None:
    """facts.nvidia_toolkit: the toolkit's binaries and its config.toml's values, the defaults when it is installed
    without one; nothing at all when neither is here."""
    tk = facts.nvidia_toolkit
    tk.installed = [f"{d}/{b}" for d in BINARY_DIRS for b in BINARIES if is_file(ctx, f"{d}/{b}")]
    path = next((p for p in CONFIG_PATHS if os.path.lexists(ctx.entry(p))), None)
    if path is None:
        if tk.installed:
            tk.config, tk.config_state = CONFIG_PATHS[0], "absent"
            for name, value in _DEFAULTS.items():
                setattr(tk, name, list(value) if isinstance(value, list) else value)
            _low_level_runtime(ctx, tk)
        return
    tk.config = path
    text = read_config_text(ctx.root, path, facts.errors, MAX_CONFIG, "toolkit config")
    if text is None:
        tk.config_state = "invalid"
        return
    parsed = _parse(text, path, facts.errors, tk)
    if parsed is None:
        tk.config_state = "invalid"
        return
    values, keys = parsed
    tk.config_state, tk.set_keys = "read", keys[:200]
    for name in _KEYS:
        default = _DEFAULTS.get(name)
        setattr(tk, name, values[name] if name in values else list(default) if isinstance(default, list) else default)
    _ldconfig(ctx, tk)
    _low_level_runtime(ctx, tk)
    _driver_root(ctx, tk, facts.errors)


COLLECTORS.append(collect_nvidia_toolkit)
