"""Shared resources: /dev/shm size, RLIMIT_MEMLOCK / RLIMIT_AS / RLIMIT_NPROC, the pids cgroup limit, and namespace
identities.

/dev/shm: under --root the size comes from the tmpfs `size=` option in proc/self/mounts
(statvfs of a plain directory says nothing about a container's /dev/shm); live, statvfs.
Namespace identities (ns inodes, hostname, boot_id, st_dev of /dev/shm) let `check --compare`
tell whether two snapshots were taken in the same container.
"""

from __future__ import annotations

import os
import posixpath
import re
import resource

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.system import mount_for, parse_mounts
from tpdoctor.facts.textfiles import first_line, read_link, read_text
from tpdoctor.model import Facts
from tpdoctor.units import parse_small_int

NAMESPACES = ("pid", "ipc", "net", "uts", "mnt", "user")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}


def parse_tmpfs_size(value: str, mem_total: int | None = None) -> int | None:
    """tmpfs size= values: '65536k', '64m', '16g', '67108864', '50%' (of RAM, when known)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgtpe%]?)\s*", value.lower())
    if not m:
        return None
    n, unit = parse_small_int(m.group(1)), m.group(2)
    if n is None:  # past 18 digits (5000: int() raised, exit 1; gsafe45): no real size
        return None
    if unit == "%":
        return mem_total * n // 100 if mem_total else None
    return n * _UNITS[unit]


def parse_mem_total(text: str | None) -> int | None:
    m = re.search(r"^MemTotal:\s+(\d+)\s+kB", text or "", re.M)
    kib = parse_small_int(m.group(1)) if m else None
    return kib * 1024 if kib is not None else None


def parse_limit(limits_text: str | None, name: str) -> tuple[int | None, int | None]:
    """A row of proc/self/limits ('Max locked memory  8388608  8388608  bytes') -> (soft, hard); -1 = unlimited."""
    for line in (limits_text or "").splitlines():
        if line.startswith(name):
            cols = line[len(name) :].split()
            if len(cols) >= 2:
                return _limit(cols[0]), _limit(cols[1])
    return None, None


def parse_memlock(limits_text: str | None) -> tuple[int | None, int | None]:
    """proc/self/limits 'Max locked memory  8388608  8388608  bytes' -> (soft, hard); -1 = unlimited."""
    return parse_limit(limits_text, "Max locked memory")


def parse_address_space(limits_text: str | None) -> tuple[int | None, int | None]:
    """proc/self/limits 'Max address space  unlimited  unlimited  bytes' -> (soft, hard); -1 = unlimited."""
    return parse_limit(limits_text, "Max address space")


def parse_nproc(limits_text: str | None) -> tuple[int | None, int | None]:
    """proc/self/limits 'Max processes  63455  63455  processes' -> (soft, hard); -1 = unlimited."""
    return parse_limit(limits_text, "Max processes")


def parse_pids_value(text: str | None) -> int | None:
    """A pids.max / pids.current file: 'max' -> -1, a number -> it, anything else -> None."""
    v = (text or "").strip()
    if v == "max":
        return -1
    return parse_small_int(v)


def pids_cgroup_dirs(cgroup_lines: list[str]) -> list[str]:
    """The directories whose pids.max bound this process, own cgroup first, then each ancestor up to the mount's root.

    cgroup v2 ('0::/path'): /sys/fs/cgroup/<path>; v1 ('N:pids:/path'): /sys/fs/cgroup/pids/<path>. A container with
    a cgroup namespace sees '/' (its own cgroup is the mount's root); one without (cgroup v1 Docker) sees its path on
    the host while the mount shows its own cgroup at the root, so the root is always read last. Paths with '..' are
    dropped (outside input under --root)."""
    base, path = None, None
    for line in cgroup_lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            base, path = "/sys/fs/cgroup", parts[2]
        elif "pids" in parts[1].split(","):
            base, path = "/sys/fs/cgroup/pids", parts[2]
            break  # v1's pids hierarchy wins over a hybrid host's unified line
    if base is None or path is None or ".." in path.split("/"):
        return []
    path = posixpath.normpath("/" + path.strip().lstrip("/"))
    dirs: list[str] = []
    while True:
        dirs.append(base if path == "/" else base + path)
        if path == "/" or len(dirs) > 64:
            break
        path = posixpath.dirname(path)
    return dirs


def _collect_pids(ctx: CollectContext, facts: Facts) -> None:
    """The finite pids.max with the least room (max - current) on the path from this process's cgroup to the root (the
    kernel refuses a fork or a thread with EAGAIN once any of them is reached: kernel/cgroup/pids.c pids_try_charge),
    and pids.current there."""
    limits = facts.limits
    seen = False
    room: int | None = None  # the least room (max - current) of any ancestor: a full parent binds a roomy child
    for d in pids_cgroup_dirs(facts.container.cgroup_lines):
        value = parse_pids_value(read_text(ctx, f"{d}/pids.max", facts))
        if value is None:
            continue
        seen = True
        if value < 0:
            continue
        current = parse_pids_value(read_text(ctx, f"{d}/pids.current"))
        left = value - max(current or 0, 0)
        if room is None or left < room:
            room = left
            limits.pids_max = value
            limits.pids_source = f"{d}/pids.max"
            limits.pids_current = current
    if seen and limits.pids_max is None:
        limits.pids_max = -1


def _limit(v: str) -> int | None:
    if v == "unlimited":
        return -1
    return parse_small_int(v)


def _collect_shm_access(ctx: CollectContext, facts: Facts) -> None:
    """Can the ranks create files in /dev/shm? NCCL mkstemp()s /dev/shm/nccl-XXXXXX (NCCL
    src/os/linux.cc ncclOsShmOpen), torch shm_open()s /torch_* (ATen MapAllocator.cpp) and Python's
    multiprocessing sem_open()s /dev/shm/sem.*: each needs write and search permission on the
    directory, which a tmpfs gives everyone with mode 1777. A read-only mount, or a directory left
    0755, fails them with EROFS/EACCES (shm.not-writable).

    Under --root the directory is a copy (an exported rootfs, a fixture), whose mode says nothing
    about the container's tmpfs: only the mount's "ro" option counts there."""
    shm = facts.shm
    m = mount_for(facts, "/dev/shm")
    if m is not None and m.target.rstrip("/") == "/dev/shm":
        shm.readonly_mount = "ro" in m.options
    if shm.readonly_mount:
        shm.writable = False
    if not ctx.live:
        return
    try:
        shm.mode = ctx.path("/dev/shm").stat().st_mode & 0o7777
    except OSError:
        return
    if not shm.readonly_mount:
        shm.writable = os.access(ctx.path("/dev/shm"), os.W_OK | os.X_OK)


def _collect_shm(ctx: CollectContext, facts: Facts) -> None:
    shm = facts.shm
    shm.present = ctx.path("/dev/shm").is_dir()
    if shm.present:
        _collect_shm_access(ctx, facts)
    if ctx.live:
        try:
            st = os.statvfs(ctx.path("/dev/shm"))
        except OSError as exc:
            facts.errors.append(f"statvfs /dev/shm: {exc.strerror}")
            return
        shm.size_bytes = st.f_blocks * st.f_frsize
        shm.free_bytes = st.f_bavail * st.f_frsize
        shm.source = "statvfs"
        return
    mounts = facts.mounts
    if not mounts:
        text = read_text(ctx, "/proc/self/mounts", facts) or read_text(ctx, "/proc/mounts", facts)
        mounts = parse_mounts(text or "")
    entries = [m for m in mounts if m.target == "/dev/shm"]
    if not entries:
        shm.source = "no /dev/shm mount listed" if mounts else None
        return
    entry = entries[-1]  # the last mount on a path is the one processes see
    shm.present = True  # a mounted /dev/shm exists in the container even if the snapshot dir lacks it
    sizes = [o.split("=", 1)[1] for o in entry.options if o.startswith("size=")]
    mem_total = facts.limits.mem_total
    if sizes:
        shm.size_bytes = parse_tmpfs_size(sizes[-1], mem_total)
        shm.source = f"mounts size={sizes[-1]}"
    elif entry.fstype == "tmpfs" and mem_total:
        shm.size_bytes = mem_total // 2  # tmpfs default: half of RAM
        shm.source = "mounts (tmpfs default: half of RAM)"
    else:
        shm.source = f"mounts ({entry.fstype}, no size=)"


def _collect_memlock(ctx: CollectContext, facts: Facts) -> None:
    """RLIMIT_MEMLOCK, RLIMIT_AS and RLIMIT_NPROC (live: getrlimit; under --root: proc/self/limits)."""
    limits = facts.limits
    if ctx.live:
        inf = resource.RLIM_INFINITY
        soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        limits.memlock_soft = -1 if soft == inf else soft
        limits.memlock_hard = -1 if hard == inf else hard
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limits.address_space_soft = -1 if soft == inf else soft
        limits.address_space_hard = -1 if hard == inf else hard
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        limits.nproc_soft = -1 if soft == inf else soft
        limits.nproc_hard = -1 if hard == inf else hard
        return
    text = read_text(ctx, "/proc/self/limits", facts)
    limits.memlock_soft, limits.memlock_hard = parse_memlock(text)
    limits.address_space_soft, limits.address_space_hard = parse_address_space(text)
    limits.nproc_soft, limits.nproc_hard = parse_nproc(text)


def _collect_namespaces(ctx: CollectContext, facts: Facts) -> None:
    ns = facts.namespaces
    for name in NAMESPACES:
        setattr(ns, name, read_link(ctx, f"/proc/self/ns/{name}"))
    ns.hostname = first_line(read_text(ctx, "/proc/sys/kernel/hostname")) or first_line(
        read_text(ctx, "/etc/hostname")
    )
    ns.boot_id = first_line(read_text(ctx, "/proc/sys/kernel/random/boot_id"))
    if ctx.live:
        try:
            ns.shm_dev = os.stat(ctx.path("/dev/shm")).st_dev
        except OSError:
            ns.shm_dev = None


def collect_resources(ctx: CollectContext, facts: Facts) -> None:
    # MemTotal once: /dev/shm's percentage and default sizes and the address-space rule both use it
    facts.limits.mem_total = parse_mem_total(read_text(ctx, "/proc/meminfo"))
    _collect_shm(ctx, facts)
    _collect_memlock(ctx, facts)
    _collect_pids(ctx, facts)
    _collect_namespaces(ctx, facts)


COLLECTORS.append(collect_resources)
