"""GPU and RDMA device nodes under /dev and the DRM render nodes sysfs describes.

Reads /dev/dri (recursively: by-path lives there), /dev/kfd, /dev/dxg (WSL2), /dev/nvidia* with the entries of
/dev/nvidia-caps and /dev/nvidia-caps-imex-channels, /dev/infiniband and its entries, the
directory CCL_DRMFD_DEV_RENDER_DIR_PATH names (oneCCL's drmfd walk reads it instead of
by-path), and /sys/class/drm/renderD*/device for each render node's PCI address, vendor and
driver.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.fsutil import SYSFS_ATTR_MAX, follow_path, host_path, numbered, read_text, resolve_in_root
from tpdoctor.limits import MAX_GPUS
from tpdoctor.model.facts import DeviceNode, DrmGpu, Facts, NodeKind

BDF_RE = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
MAX_NODES = 4096  # a runaway /dev must not make check slow


_KINDS: tuple[tuple[Callable[[int], bool], NodeKind], ...] = (
    (stat.S_ISCHR, "char"),
    (stat.S_ISBLK, "block"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "dir"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
)


def _kind(mode: int) -> NodeKind:
    return next((kind for test, kind in _KINDS if test(mode)), "other")


def describe_node(root: Path, inroot: str) -> DeviceNode | None:
    """One DeviceNode from lstat (symlinks are described, and resolved inside the root)."""
    hp = host_path(root, inroot)
    try:
        st = os.lstat(hp)
    except OSError:
        return None
    kind = _kind(st.st_mode)
    node = DeviceNode(path=inroot, kind=kind, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid)
    if kind in ("char", "block"):
        node.major, node.minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif kind == "symlink":
        node.target = os.readlink(hp)
        node.resolved = resolve_in_root(root, inroot)
        node.resolved_exists = node.resolved is not None and os.path.exists(host_path(root, node.resolved))
    return node


def _walk(root: Path, inroot: str, out: dict[str, DeviceNode], recursive: bool) -> None:
    try:
        entries = sorted(os.scandir(follow_path(root, inroot)), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if len(out) >= MAX_NODES:
            return
        path = f"{inroot.rstrip('/')}/{entry.name}"
        node = describe_node(root, path)
        if node is None:
            continue
        out.setdefault(path, node)
        if recursive and node.kind == "dir":
            _walk(root, path, out, recursive)


def collect_dev(ctx: CollectContext, facts: Facts) -> None:
    nodes: dict[str, DeviceNode] = {n.path: n for n in facts.dev}
    dri = describe_node(ctx.root, "/dev/dri")
    if dri is not None:
        nodes.setdefault("/dev/dri", dri)
        _walk(ctx.root, "/dev/dri", nodes, recursive=True)
    try:
        top = sorted(os.listdir(ctx.path("/dev")))
    except OSError:
        top = []
    for name in top:
        # dxg: the WSL2 paravirtual GPU (dxgkrnl), the only GPU node a WSL container has
        if name in ("kfd", "infiniband", "dxg") or name.startswith("nvidia"):
            node = describe_node(ctx.root, f"/dev/{name}")
            if node is not None:
                nodes.setdefault(node.path, node)
                if node.kind == "dir":  # nvidia-caps, nvidia-caps-imex-channels, infiniband
                    _walk(ctx.root, node.path, nodes, recursive=False)
    # oneCCL >= 2021.13.1 reads this directory instead of /dev/dri/by-path (env.cpp:698-699).
    override = ctx.env.get("CCL_DRMFD_DEV_RENDER_DIR_PATH")
    if override and override.startswith("/"):
        base = override.rstrip("/") or "/"
        node = describe_node(ctx.root, base)
        if node is not None:
            nodes.setdefault(base, node)
            _walk(ctx.root, base, nodes, recursive=False)
    facts.dev = sorted(nodes.values(), key=lambda n: n.path)


def _bdf_of(root: Path, device_link: str) -> str | None:
    resolved = resolve_in_root(root, device_link)
    for candidate in (resolved, _readlink(root, device_link)):
        if candidate:
            name = candidate.rstrip("/").rsplit("/", 1)[-1]
            if BDF_RE.match(name):
                return name.lower()
    return None


def _readlink(root: Path, inroot: str) -> str | None:
    try:
        return os.readlink(host_path(root, inroot))
    except OSError:
        return None


def _render_order(name: str) -> tuple[int, str]:
    n = numbered(name, "renderD")
    return (1 << 40 if n is None else n), name


def collect_drm(ctx: CollectContext, facts: Facts) -> None:
    try:
        names = sorted((n for n in os.listdir(ctx.path("/sys/class/drm")) if n.startswith("renderD")), key=_render_order)
    except OSError:
        return
    if len(names) > MAX_GPUS:
        # a hostile root's 100k renderD* entries took ~3 s per 10k (three reads and a readlink each): the first
        # MAX_GPUS in number order are read (gsafe42)
        facts.errors.append(f"/sys/class/drm: {len(names)} render nodes, over tpdoctor's limit of {MAX_GPUS}: "
                            f"read the first {MAX_GPUS}")
        names = names[:MAX_GPUS]
    for name in names:
        dev = f"/sys/class/drm/{name}/device"
        gpu = DrmGpu(render=name, bdf=_bdf_of(ctx.root, dev))
        vendor = read_text(ctx.root, f"{dev}/vendor", facts.errors, head=SYSFS_ATTR_MAX)  # a page (gsafe50)
        gpu.vendor = vendor.strip().lower() if vendor else None
        device_id = read_text(ctx.root, f"{dev}/device", facts.errors, head=SYSFS_ATTR_MAX)
        gpu.device_id = device_id.strip().lower() if device_id else None
        driver = _readlink(ctx.root, f"{dev}/driver")
        gpu.driver = driver.rstrip("/").rsplit("/", 1)[-1] if driver else None
        try:
            cards = sorted(c for c in os.listdir(ctx.path(f"{dev}/drm")) if c.startswith("card"))
        except OSError:
            cards = []
        gpu.card = cards[0] if cards else None
        facts.drm.append(gpu)


COLLECTORS.extend([collect_dev, collect_drm])
