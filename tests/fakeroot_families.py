"""Builders for fake roots and Facts used by the family tests (NVIDIA, shm, security...).

Real character nodes are made with os.mknod (the tests run as root); proc files are plain files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tpdoctor.model.facts import DeviceNode

FULL_CAPS = "000001ffffffffff"
DOCKER_CAPS = "00000000a80425fb"  # Docker's default set: no SYS_PTRACE, IPC_LOCK, SYS_NICE


def write(root: Path, path: str, text: str) -> Path:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def mknod(root: Path, path: str, major: int, minor: int, mode: int = 0o666) -> None:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(p, stat.S_IFCHR | mode, os.makedev(major, minor))


def status(cap_eff: str = DOCKER_CAPS, seccomp: int = 2) -> str:
    return (
        f"Name:\tpython3\nCapInh:\t0000000000000000\nCapPrm:\t{cap_eff}\nCapEff:\t{cap_eff}\n"
        f"CapBnd:\t{cap_eff}\nNoNewPrivs:\t0\nSeccomp:\t{seccomp}\nSeccomp_filters:\t{1 if seccomp else 0}\n"
    )


def nvidia_root(
    root: Path,
    gpus: int = 2,
    *,
    uvm: bool = True,
    ctl: bool = True,
    shm: str = "size=65536k",
    seccomp: int = 2,
    cap_eff: str = DOCKER_CAPS,
) -> Path:
    """A container root like Docker's `--gpus 2`: nodes, proc/driver/nvidia, mounts, status."""
    for i in range(gpus):
        mknod(root, f"/dev/nvidia{i}", 195, i)
        write(
            root,
            f"/proc/driver/nvidia/gpus/0000:{0x18 + i:02x}:00.0/information",
            f"Model: \t\t NVIDIA H200\nIRQ: \t\t 0\nGPU UUID: \t GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd\n"
            f"Device Minor: \t {i}\nBus Type: \t PCIe\n",
        )
    if ctl:
        mknod(root, "/dev/nvidiactl", 195, 255)
    if uvm:
        mknod(root, "/dev/nvidia-uvm", 238, 0)
        mknod(root, "/dev/nvidia-uvm-tools", 238, 1)
    (root / "dev/shm").mkdir(parents=True, exist_ok=True)
    write(
        root,
        "/proc/driver/nvidia/version",
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159  Thu Oct 1\n",
    )
    write(
        root,
        "/proc/self/mounts",
        "overlay / overlay rw,relatime 0 0\n"
        "tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0\n"
        f"shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,{shm} 0 0\n",
    )
    write(root, "/proc/meminfo", "MemTotal:       1056462440 kB\n")
    write(root, "/proc/self/status", status(cap_eff, seccomp))
    write(
        root,
        "/proc/self/limits",
        "Limit  Soft Limit Hard Limit Units\nMax locked memory  8388608  8388608  bytes\n",
    )
    write(root, "/proc/self/uid_map", "         0          0 4294967295\n")
    write(root, "/proc/self/gid_map", "         0          0 4294967295\n")
    return root


def char(path: str, major: int, minor: int, gid: int = 0, mode: int = 0o666, uid: int = 0) -> DeviceNode:
    return DeviceNode(path=path, kind="char", major=major, minor=minor, gid=gid, mode=mode, uid=uid)


def nvidia_nodes(gpus: int = 2, first: int = 0) -> list[DeviceNode]:
    nodes = [char(f"/dev/nvidia{first + i}", 195, first + i) for i in range(gpus)]
    return [
        *nodes,
        char("/dev/nvidiactl", 195, 255),
        char("/dev/nvidia-uvm", 238, 0),
        char("/dev/null", 1, 3),
    ]
