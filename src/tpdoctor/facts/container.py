"""Which container runtime set up this root, correcting what /.dockerenv alone would say.

facts/system.py records what it sees (facts.container); these functions read that record with
the mounts beside it, so a collector and every rule agree on "host or container".
"""

from __future__ import annotations

from tpdoctor.model.facts import Facts, MountEntry

# Root filesystems that container runtimes build (an image's layers); a booted system's / is a disk.
CONTAINER_ROOT_FSTYPES = ("overlay", "aufs", "fuse-overlayfs")


def booted_root(mounts: list[MountEntry]) -> str | None:
    """Evidence that this root was booted (a host or a VM), not set up by a container runtime.

    / on a block device and /dev a devtmpfs. Docker, Podman and containerd (runc, crun) mount a
    fresh tmpfs on /dev (the OCI runtime-spec default mounts) and, with overlay2, give / an
    overlay; with a block-backed storage driver (devicemapper) / is a disk but /dev is still a
    tmpfs. Measured: the H200 device machine (a Firecracker VM whose image carries /.dockerenv)
    has `/dev/vda / ext4` and `devtmpfs /dev`; the containers of tests/containers have
    `overlay /` and `tmpfs /dev`, privileged included.
    """
    root = next((m for m in reversed(mounts) if m.target == "/"), None)
    dev = next((m for m in reversed(mounts) if m.target == "/dev"), None)
    if root is None or dev is None or dev.fstype != "devtmpfs":
        return None
    if root.fstype in CONTAINER_ROOT_FSTYPES or not root.source.startswith("/dev/"):
        return None
    return f"/ is {root.fstype} on {root.source} and /dev is devtmpfs (a booted host or VM)"


def container_runtime(facts: Facts) -> str:
    """facts.container.runtime, except that /.dockerenv alone on a booted root means a host.

    Snapshots taken before the collector learned this (tests/data/gpu/h200x1-host.json) say
    "docker" with only "/.dockerenv exists" as evidence; their mounts tell the truth.
    """
    c = facts.container
    if c.runtime == "docker" and c.evidence == ["/.dockerenv exists"] and booted_root(facts.mounts):
        return "none"
    return c.runtime
