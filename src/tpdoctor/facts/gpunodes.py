"""GPU-family device nodes (/dev/nvidia*, /dev/kfd, /dev/infiniband) as DeviceNode facts.

The /dev collector of the check foundation lists every node; this one only adds the GPU
family nodes it has not listed, so NVIDIA/ROCm/RDMA rules work whichever runs first.
"""

from __future__ import annotations

import os
import stat

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.model import Facts
from tpdoctor.model.facts import DeviceNode, NodeKind

# In-root globs of the nodes the NVIDIA, ROCm and RDMA rules look at.
PATTERNS = (
    "/dev/nvidia*",
    "/dev/nvidia-caps/*",
    "/dev/nvidia-caps-imex-channels/*",
    "/dev/kfd",
    "/dev/infiniband",
    "/dev/infiniband/*",
)


def _kind(mode: int) -> NodeKind:
    if stat.S_ISCHR(mode):
        return "char"
    if stat.S_ISBLK(mode):
        return "block"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "other"


def device_node(ctx: CollectContext, inroot: str) -> DeviceNode | None:
    """lstat one in-root path into a DeviceNode (None when it does not exist)."""
    try:
        st = os.lstat(ctx.path(inroot))
    except OSError:
        return None
    kind = _kind(st.st_mode)
    node = DeviceNode(
        path=inroot,
        kind=kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
    )
    if kind in ("char", "block"):
        node.major, node.minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    if kind == "symlink":
        node.target = os.readlink(ctx.path(inroot))
    return node


def collect_gpu_nodes(ctx: CollectContext, facts: Facts) -> None:
    known = {n.path for n in facts.dev}
    for pattern in PATTERNS:
        for host_path in sorted(ctx.root.glob(pattern.lstrip("/"))):
            inroot = "/" + str(host_path.relative_to(ctx.root))
            if inroot in known:
                continue
            node = device_node(ctx, inroot)
            if node is not None:
                facts.dev.append(node)
                known.add(inroot)


COLLECTORS.append(collect_gpu_nodes)
