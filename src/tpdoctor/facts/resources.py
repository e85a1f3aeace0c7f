"""Shared resources: /dev/shm size, RLIMIT_MEMLOCK / RLIMIT_AS, and namespace identities.

/dev/shm: under --root the size comes from the tmpfs `size=` option in proc/self/mounts
(statvfs of a plain directory says nothing about a container's /dev/shm); live, statvfs.
Namespace identities (ns inodes, hostname, boot_id, st_dev of /dev/shm) let `check --compare`
tell whether two snapshots were taken in the same container.
"""

from __future__ import annotations

import os
import re
import resource

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.system import mount_for, parse_mounts
from tpdoctor.facts.textfiles import first_line, read_link, read_text
from tpdoctor.model import Facts

NAMESPACES = ("pid", "ipc", "net", "uts", "mnt", "user")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}


def parse_tmpfs_size(value: str, mem_total: int | None = None) -> int | None:
    """tmpfs size= values: '65536k', '64m', '16g', '67108864', '50%' (of RAM, when known)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgtpe%]?)\s*", value.lower())
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2)
    if unit == "%":
        return mem_total * n // 100 if mem_total else None
    return n * _UNITS[unit]


def parse_mem_total(text: str | None) -> int | None:
    m = re.search(r"^MemTotal:\s+(\d+)\s+kB", text or "", re.M)
    return int(m.group(1)) * 1024 if m else None


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


def _limit(v: str) -> int | None:
    if v == "unlimited":
        return -1
    return int(v) if v.isdigit() else None


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
    """RLIMIT_MEMLOCK and RLIMIT_AS (live: getrlimit; under --root: proc/self/limits)."""
    limits = facts.limits
    if ctx.live:
        inf = resource.RLIM_INFINITY
        soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        limits.memlock_soft = -1 if soft == inf else soft
        limits.memlock_hard = -1 if hard == inf else hard
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limits.address_space_soft = -1 if soft == inf else soft
        limits.address_space_hard = -1 if hard == inf else hard
        return
    text = read_text(ctx, "/proc/self/limits", facts)
    limits.memlock_soft, limits.memlock_hard = parse_memlock(text)
    limits.address_space_soft, limits.address_space_hard = parse_address_space(text)


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
    _collect_namespaces(ctx, facts)


COLLECTORS.append(collect_resources)
