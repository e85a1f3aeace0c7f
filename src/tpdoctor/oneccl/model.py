"""A model of how oneCCL picks its Level Zero IPC exchange mode and walks its device directory.

Mirrors uxlfoundation/oneCCL (research/failures.md §1):
- mode choice: src/comm/comm.cpp `ccl_comm::init_ipc_exchange_mode`, lines 273-308 @3afa1bb7
  (2021.14) and 272-294 @0eb5987a (2021.13); defaults env.cpp:306 (pidfd, ≥2021.14) and
  env.cpp:292 @2021.13 (drmfd).
- pidfd self-test: ze_fd_manager.cpp:65-96 `is_pidfd_supported` (mkstemp in /tmp, pidfd_open
  of itself, pidfd_getfd of its own fd).
- drmfd walk: ze_fd_manager.cpp:150-297 (`init_device_fds`, `fill_device_fds`, `find_bdf`).
Pure functions of Facts and CheckOptions; the rules in oneccl.py turn the result into findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tpdoctor.facts.caps import has_cap
from tpdoctor.model import CheckOptions
from tpdoctor.model.facts import DeviceNode, Facts
from tpdoctor.oneccl.loader import loaded_ccl, torch_pin

Version = tuple[int, ...]
MODERN: Version = (2021, 14)  # default pidfd, and the forced drmfd fallback
DIR_OVERRIDE: Version = (2021, 13, 1)  # CCL_DRMFD_DEV_RENDER_DIR_PATH / _SUFFIX exist
DEFAULT_DIR = "/dev/dri/by-path/"  # env.cpp:315
DEFAULT_SUFFIX = "-render"  # env.cpp:316
BDF_START_POS = 12  # ze_fd_manager.hpp: the BDF is the 12 characters before "-render"
PIDFD_KERNEL: Version = (5, 6)

_VERSION_IN_PATH = re.compile(r"ccl/(20\d\d\.\d+(?:\.\d+)?)")
_VERSION_ARG = re.compile(r"^20\d\d\.\d+(\.\d+)?$")
_ENV_PATHS = ("CCL_ROOT", "CCL_CONFIGURATION_PATH", "LD_LIBRARY_PATH", "LIBRARY_PATH", "CPATH", "PATH")


def parse_version(text: str) -> Version:
    if not _VERSION_ARG.match(text.strip()):
        raise ValueError(f"oneCCL version must look like 2021.14 or 2021.13.1, not {text!r}")
    return tuple(int(p) for p in text.strip().split("."))


def vstr(v: Version) -> str:
    return ".".join(str(p) for p in v)


@dataclass(frozen=True)
class OneCclVersion:
    """A oneCCL version, where it was read, and whether it was assumed."""

    version: Version
    source: str
    assumed: bool = False

    @property
    def modern(self) -> bool:
        return self.version >= MODERN

    @property
    def label(self) -> str:
        gen = "≥2021.14 behaviour" if self.modern else "≤2021.13 behaviour"
        how = "assumed" if self.assumed else f"from {self.source}"
        return f"{vstr(self.version)} ({gen}, {how})"


def _versions_in(text: str) -> list[Version]:
    found = [tuple(int(p) for p in m.split(".")) for m in _VERSION_IN_PATH.findall(text)]
    if "1ccl-wks" in text:
        found.append(MODERN)  # ipex-llm's internal oneCCL, 2025.0 basekit generation
    return found


def detect_version(facts: Facts, options: CheckOptions) -> OneCclVersion:
    """--oneccl-version; else the libccl the job loads (oneccl/loader.py: torch's RPATH,
    LD_LIBRARY_PATH, pip's dist-info or the /opt/intel path it resolves to); else the oneCCL
    that CCL_ROOT / LD_LIBRARY_PATH name; else torch's Requires-Dist pin; else an install."""
    if options.oneccl_version:
        return OneCclVersion(parse_version(options.oneccl_version), "--oneccl-version")
    loaded = loaded_ccl(facts)
    if loaded is not None and loaded.version and _VERSION_ARG.match(loaded.version):
        lib = loaded.library
        assert lib is not None  # a version comes from a library
        where = f"{lib.path} ({lib.version_source or lib.kind})" if lib.version_source else lib.path
        return OneCclVersion(parse_version(loaded.version), f"{where}, which {loaded.why}")
    for name in _ENV_PATHS:
        found = _versions_in(facts.env.get(name, ""))
        if found:
            return OneCclVersion(found[0], f"${name}")
    pin = torch_pin(facts)
    if pin and _VERSION_ARG.match(pin[0]):
        return OneCclVersion(parse_version(pin[0]), f"torch {pin[1]} Requires-Dist oneccl=={pin[0]}")
    found = [v for p in facts.oneccl.installs for v in _versions_in(p)]
    if found:
        return OneCclVersion(max(found), "installed at " + ", ".join(facts.oneccl.installs))
    return OneCclVersion(MODERN, "default", assumed=True)


def kernel_version(release: str | None) -> Version | None:
    m = re.match(r"(\d+)\.(\d+)", release or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass
class Support:
    """A tri-state verdict with its reasons (source, text) and whether a probe proved it."""

    ok: bool | None
    reasons: list[tuple[str, str]] = field(default_factory=list)
    proven: bool = False


def pidfd_self_test(facts: Facts) -> Support:
    """Predict is_pidfd_supported() (ze_fd_manager.cpp:65-96), or read the live probe's answer."""
    probe = facts.probes.pidfd_self_test if facts.probes else None
    if probe is not None and probe.step != "timeout":
        text = "passed" if probe.ok else f"failed at {probe.step}: {probe.errno or probe.detail}"
        return Support(probe.ok, [("live probe", f"oneCCL's pidfd self-test {text}")], proven=True)
    blocked: list[tuple[str, str]] = []
    unknown = False
    if facts.tmp_writable is False:
        blocked.append(("/tmp", "not writable: the self-test's mkstemp fails"))
    kv = kernel_version(facts.kernel.release)
    if kv is None:
        unknown = True
    elif kv < PIDFD_KERNEL:
        blocked.append(("/proc/sys/kernel/osrelease", f"{facts.kernel.release} < 5.6: no pidfd_getfd"))
    ptrace = has_cap(facts, "SYS_PTRACE")
    seccomp = facts.process.seccomp
    runtime = facts.container.runtime
    if seccomp == 2 and ptrace is False:
        if runtime in ("docker", "kubernetes"):
            blocked.append(
                (
                    "/proc/self/status",
                    f"Seccomp: 2 (filter) and CapEff lacks CAP_SYS_PTRACE in a {runtime} container: "
                    "the default Docker/containerd profile allows pidfd_getfd only with CAP_SYS_PTRACE",
                )
            )
        elif runtime != "podman":  # Podman's profile allows pidfd_getfd unconditionally
            unknown = True
    elif seccomp is None or ptrace is None:
        unknown = True
    if blocked:
        return Support(False, blocked)
    return Support(None if unknown else True)


def cross_rank_ptrace(facts: Facts) -> Support:
    """Will one rank's pidfd_getfd on a sibling pass Yama? (ze_fd_manager.cpp:388-409)."""
    probe = facts.probes.pidfd_sibling_test if facts.probes else None
    if probe is not None and probe.step != "timeout":
        text = "passed" if probe.ok else f"failed at {probe.step}: {probe.errno or probe.detail}"
        return Support(probe.ok, [("live probe", f"sibling pidfd_getfd test {text}")], proven=True)
    scope = facts.kernel.ptrace_scope
    src = "/proc/sys/kernel/yama/ptrace_scope"
    if scope is None:
        return Support(True if facts.kernel.yama_present is False else None)
    ptrace = has_cap(facts, "SYS_PTRACE")
    if scope == 0:
        return Support(True, [(src, "0: same-UID processes may attach")])
    if scope in (1, 2):
        why = "1: only descendants, and ranks are siblings" if scope == 1 else "2: admin-only attach"
        if ptrace:
            return Support(True, [(src, f"{why}; CAP_SYS_PTRACE is held")])
        return Support(None if ptrace is None else False, [(src, f"{why}; CAP_SYS_PTRACE is not held")])
    return Support(False, [(src, f"{scope}: no process may attach, not even with CAP_SYS_PTRACE")])


@dataclass
class ModePrediction:
    """The IPC exchange mode oneCCL will use here, and why."""

    version: OneCclVersion
    requested: str
    requested_source: str
    mode: str  # pidfd | drmfd | sockets | none
    pidfd: Support
    fallback: bool = False  # ≥2021.14 replaced the request by drmfd because pidfd is unsupported
    certain: bool = True


def predict_mode(facts: Facts, options: CheckOptions) -> ModePrediction:
    version = detect_version(facts, options)
    default = "pidfd" if version.modern else "drmfd"
    if options.ipc_exchange:
        requested, source = options.ipc_exchange, "--ipc-exchange"
    elif facts.env.get("CCL_ZE_IPC_EXCHANGE"):
        requested, source = facts.env["CCL_ZE_IPC_EXCHANGE"].strip().lower(), "CCL_ZE_IPC_EXCHANGE"
    else:
        requested, source = default, f"default of oneCCL {vstr(version.version)}"
    support = pidfd_self_test(facts)
    certain = support.ok is not None
    supported = support.ok is True
    if version.modern:
        # comm.cpp:273-308 @3afa1bb7: pidfd only if requested AND the self-test passes; drmfd if
        # requested OR the self-test fails (even over sockets); sockets only with pidfd working.
        if supported and requested == "pidfd":
            mode = "pidfd"
        elif requested == "drmfd" or not supported:
            mode = "drmfd"
        else:
            mode = requested
        fallback = mode == "drmfd" and requested != "drmfd"
        return ModePrediction(
            version, requested, source, mode, support, fallback, certain or mode == requested
        )
    # comm.cpp:272-294 @2021.13: each mode only when requested; pidfd without support has no
    # fd manager at all; sockets is honoured.
    if requested == "pidfd":
        mode = "pidfd" if supported else "none"
        return ModePrediction(version, requested, source, mode, support, certain=certain)
    return ModePrediction(version, requested, source, requested, support)


def parse_bdf(name: str) -> str | None:
    """find_bdf (ze_fd_manager.cpp:273-297): the 12 characters before the hard-coded "-render"."""
    pos = name.find("-render")
    if pos < BDF_START_POS:
        return None
    s = name[pos - BDF_START_POS : pos]
    m = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])", s)
    return s.lower() if m else None


@dataclass
class DrmfdEntry:
    """One entry of the directory oneCCL's drmfd mode walks."""

    name: str
    path: str  # as oneCCL builds it: dir + name, no separator added
    entry: DeviceNode
    target: DeviceNode | None  # the char node the open reaches, None when it dangles
    bdf: str | None


@dataclass
class DrmfdWalk:
    """oneCCL's drmfd walk of /dev/dri/by-path (or its fallback) as it would run here."""

    directory: str
    source: str
    suffix: str
    exists: bool | None
    entries: list[DrmfdEntry] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def slash_ok(self) -> bool:
        return self.directory.endswith("/")


def drmfd_walk(facts: Facts, version: OneCclVersion) -> DrmfdWalk:
    """What init_device_fds/fill_device_fds (ze_fd_manager.cpp:150-229) will find and open."""
    directory, source, suffix = DEFAULT_DIR, "default /dev/dri/by-path/ (env.cpp:315)", DEFAULT_SUFFIX
    if version.version >= DIR_OVERRIDE:
        if facts.env.get("CCL_DRMFD_DEV_RENDER_DIR_PATH"):
            directory, source = facts.env["CCL_DRMFD_DEV_RENDER_DIR_PATH"], "CCL_DRMFD_DEV_RENDER_DIR_PATH"
        suffix = facts.env.get("CCL_DRMFD_DEV_RENDER_SUFFIX") or suffix
    base = directory.rstrip("/") or "/"
    node = facts.node(base)
    exists: bool | None = node is not None and (
        node.kind == "dir" or (node.kind == "symlink" and bool(node.resolved_exists))
    )
    if facts.probes and facts.probes.bypath_opendir:
        exists = facts.probes.bypath_opendir == "ok"
    walk = DrmfdWalk(directory, source, suffix, exists)
    for n in facts.dev:
        parent, _, name = n.path.rpartition("/")
        if parent != base:
            continue
        # ze_fd_manager.cpp:164: skip dot entries and names without the suffix
        if name.startswith(".") or suffix not in name:
            walk.ignored.append(name)
            continue
        target: DeviceNode | None = n if n.kind == "char" else None
        if n.kind == "symlink" and n.resolved_exists and n.resolved:
            target = facts.node(n.resolved)
            target = target if target is not None and target.kind == "char" else None
        walk.entries.append(DrmfdEntry(name, directory + name, n, target, parse_bdf(name)))
    return walk
