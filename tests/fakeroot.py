"""A builder for fake system roots that `tpdoctor check --root` reads like a live / .

Real char nodes (os.mknod, needs root as in CI), real symlinks, plain files for sysfs and proc.
Other test modules reuse it: every method returns self so set-ups read as one chain.

    root = (FakeRoot(tmp_path).add_gpu(128, "0000:03:00.0").add_gpu(129, "0000:04:00.0")
            .docker_default().dockerenv())
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tpdoctor.model.facts import DeviceNode

DRM_MAJOR = 226
INTEL = "0x8086"
RENDER_GID = 992
# Docker's default capability set (CapEff 00000000a80425fb): has DAC_OVERRIDE (1); no IPC_LOCK (14),
# SYS_PTRACE (19), SYS_NICE (23). The one constant every test uses for "a default Docker container".
DOCKER_DEFAULT_CAPS = 0x00000000A80425FB
FULL_CAPS = (1 << 41) - 1  # CAP_CHOWN .. CAP_CHECKPOINT_RESTORE: a privileged container
CAP_SYS_PTRACE = 19


class FakeRoot:
    def __init__(self, base: Path) -> None:
        self.root = base / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "dev/shm").mkdir(parents=True, exist_ok=True)  # size: the shm mount below
        self.status: dict[str, str] = {
            "Name": "python3",
            "Pid": "1",
            "Uid": "0\t0\t0\t0",
            "Gid": "0\t0\t0\t0",
            "Groups": "",
            "CapPrm": "000001ffffffffff",
            "CapEff": "000001ffffffffff",
            "CapBnd": "000001ffffffffff",
            "NoNewPrivs": "0",
            "Seccomp": "0",
            "Seccomp_filters": "0",
            "Cpus_allowed_list": "0-7",
        }
        self.mounts: list[str] = [
            "overlay / overlay rw,relatime 0 0",
            "tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0",
            "shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0",
        ]
        self.env: dict[str, str] = {}
        self.write("proc/sys/kernel/osrelease", "6.8.0-49-generic\n")
        self.write("proc/self/cgroup", "0::/\n")
        self.write("sys/devices/system/cpu/online", "0-7\n")
        self.write("etc/group", "root:x:0:\nvideo:x:44:\nrender:x:992:\n")
        (self.root / "tmp").mkdir(exist_ok=True)
        os.chmod(self.root / "tmp", 0o1777)
        self.flush()

    # -- low level ---------------------------------------------------------------------------
    def path(self, inroot: str) -> Path:
        return self.root / inroot.lstrip("/")

    def write(self, inroot: str, text: str) -> FakeRoot:
        p = self.path(inroot)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return self

    def symlink(self, inroot: str, target: str) -> FakeRoot:
        p = self.path(inroot)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink() or p.exists():
            p.unlink()
        os.symlink(target, p)
        return self

    def mknod(self, inroot: str, major: int, minor: int, mode: int = 0o660, gid: int = 0) -> FakeRoot:
        p = self.path(inroot)
        p.parent.mkdir(parents=True, exist_ok=True)
        os.mknod(p, stat.S_IFCHR | mode, os.makedev(major, minor))
        os.chown(p, 0, gid)
        os.chmod(p, mode)
        return self

    def flush(self) -> FakeRoot:
        """Write the status, mounts and environ files from the builder's state."""
        self.write("proc/self/status", "".join(f"{k}:\t{v}\n" for k, v in self.status.items()))
        self.write("proc/self/mounts", "\n".join(self.mounts) + "\n")
        self.path("proc/self/environ").write_bytes(
            b"".join(f"{k}={v}\0".encode() for k, v in self.env.items())
        )
        return self

    # -- GPUs ------------------------------------------------------------------------------
    def add_sysfs_gpu(self, n: int, bdf: str, vendor: str = INTEL, device: str = "0x56a0") -> FakeRoot:
        """/sys/class/drm/renderD<n>/device -> ../../devices/pci0000:00/<bdf> (vendor, device files)."""
        pci = f"sys/devices/pci0000:00/{bdf}"
        self.write(f"{pci}/vendor", vendor + "\n").write(f"{pci}/device", device + "\n")
        self.path(f"{pci}/drm/card{n - 128}").mkdir(parents=True, exist_ok=True)
        self.symlink(f"{pci}/driver", "../../../bus/pci/drivers/i915")
        self.path(f"sys/class/drm/renderD{n}").mkdir(parents=True, exist_ok=True)
        return self.symlink(f"sys/class/drm/renderD{n}/device", f"../../../devices/pci0000:00/{bdf}")

    def add_render_node(self, n: int, gid: int = RENDER_GID, mode: int = 0o660) -> FakeRoot:
        return self.mknod(f"dev/dri/renderD{n}", DRM_MAJOR, n, mode, gid)

    def add_card_node(self, n: int, gid: int = 44) -> FakeRoot:
        return self.mknod(f"dev/dri/card{n}", DRM_MAJOR, n, 0o660, gid)

    def add_gpu(self, n: int, bdf: str, gid: int = RENDER_GID, node: bool = True) -> FakeRoot:
        """A GPU the host has (sysfs) and, unless node=False, passed into the container."""
        self.add_sysfs_gpu(n, bdf)
        if node:
            self.add_card_node(n - 128).add_render_node(n, gid)
        return self

    def add_bypath(self, bdf: str, n: int, directory: str = "dev/dri/by-path") -> FakeRoot:
        """pci-<bdf>-render -> ../renderD<n> (and the -card link), like udev makes them."""
        self.symlink(f"{directory}/pci-{bdf}-render", f"../renderD{n}")
        return self.symlink(f"{directory}/pci-{bdf}-card", f"../card{n - 128}")

    # -- process and system ------------------------------------------------------------------
    def set_status(
        self,
        *,
        capeff: int | None = None,
        seccomp: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        groups: list[int] | None = None,
        no_new_privs: bool | None = None,
        cpus_allowed: str | None = None,
    ) -> FakeRoot:
        if capeff is not None:
            self.status["CapEff"] = self.status["CapPrm"] = f"{capeff:016x}"
        if seccomp is not None:
            self.status["Seccomp"] = str(seccomp)
            self.status["Seccomp_filters"] = "1" if seccomp == 2 else "0"
        if uid is not None:
            self.status["Uid"] = "\t".join([str(uid)] * 4)
        if gid is not None:
            self.status["Gid"] = "\t".join([str(gid)] * 4)
        if groups is not None:
            self.status["Groups"] = " ".join(str(g) for g in groups)
        if no_new_privs is not None:
            self.status["NoNewPrivs"] = str(int(no_new_privs))
        if cpus_allowed is not None:
            self.status["Cpus_allowed_list"] = cpus_allowed
        return self.flush()

    def docker_default(self, sys_ptrace: bool = False) -> FakeRoot:
        """Docker's default seccomp filter and capability set (optionally plus SYS_PTRACE)."""
        caps = DOCKER_DEFAULT_CAPS | ((1 << CAP_SYS_PTRACE) if sys_ptrace else 0)
        self.write("proc/self/cgroup", "0::/\n")
        return self.set_status(capeff=caps, seccomp=2, no_new_privs=False)

    def set_ptrace_scope(self, n: int) -> FakeRoot:
        return self.write("proc/sys/kernel/yama/ptrace_scope", f"{n}\n")

    def set_kernel(self, release: str) -> FakeRoot:
        return self.write("proc/sys/kernel/osrelease", release + "\n")

    def set_mounts(self, lines: list[str]) -> FakeRoot:
        self.mounts = list(lines)
        return self.flush()

    def add_mount(self, line: str) -> FakeRoot:
        self.mounts.append(line)
        return self.flush()

    def readonly_root(self, tmpfs_on_tmp: bool = False) -> FakeRoot:
        self.mounts[0] = "overlay / overlay ro,relatime 0 0"
        if tmpfs_on_tmp:
            self.mounts.append("tmpfs /tmp tmpfs rw,nosuid,nodev 0 0")
        return self.flush()

    def set_cpus(self, online: str, allowed: str) -> FakeRoot:
        self.write("sys/devices/system/cpu/online", online + "\n")
        return self.set_status(cpus_allowed=allowed)

    def set_env(self, **env: str) -> FakeRoot:
        self.env.update(env)
        return self.flush()

    def dockerenv(self) -> FakeRoot:
        return self.write(".dockerenv", "")

    def containerenv(self) -> FakeRoot:
        return self.write("run/.containerenv", 'engine="podman-4.3.1"\n')

    def oneccl_install(self, inroot: str) -> FakeRoot:
        self.path(inroot).mkdir(parents=True, exist_ok=True)
        return self

    # -- NVIDIA ------------------------------------------------------------------------------
    def add_nvidia(self, gpus: int = 2, *, uvm: bool = True, ctl: bool = True) -> FakeRoot:
        """What Docker's `--gpus N` puts in a container: nodes and /proc/driver/nvidia."""
        for i in range(gpus):
            self.mknod(f"dev/nvidia{i}", 195, i, 0o666)
            self.write(
                f"proc/driver/nvidia/gpus/0000:{0x18 + i:02x}:00.0/information",
                f"Model: \t\t NVIDIA H200\nIRQ: \t\t 0\nGPU UUID: \t GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd\n"
                f"Device Minor: \t {i}\nBus Type: \t PCIe\n",
            )
        if ctl:
            self.mknod("dev/nvidiactl", 195, 255, 0o666)
        if uvm:
            self.mknod("dev/nvidia-uvm", 238, 0, 0o666).mknod("dev/nvidia-uvm-tools", 238, 1, 0o666)
        return self.write(
            "proc/driver/nvidia/version",
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159  Thu Oct 1\n",
        )

    def set_shm(self, options: str) -> FakeRoot:
        """The /dev/shm mount's options (`size=65536k` is Docker's 64 MiB default)."""
        self.mounts = [m for m in self.mounts if " /dev/shm " not in m]
        return self.add_mount(f"shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,{options} 0 0")


def article_root(base: Path) -> FakeRoot:
    """The article's container: two Arc GPUs via `devices:`, Docker default seccomp, no by-path,
    /.dockerenv, kernel 6.x, ipex-llm's 2021.14-generation oneCCL and its start script's env.
    /dev/shm is 16 GiB, as ipex-llm's docker guide sets (--shm-size=16g), so the by-path story
    stands alone; the 64 MiB default is its own scenario (shm.too-small)."""
    fr = FakeRoot(base)
    fr.set_mounts([m.replace("size=65536k", "size=16777216k") if " /dev/shm " in m else m for m in fr.mounts])
    return (
        fr.add_gpu(128, "0000:03:00.0")
        .add_gpu(129, "0000:04:00.0")
        .docker_default()
        .set_ptrace_scope(1)
        .dockerenv()
        .add_mount("shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=16777216k 0 0")  # --shm-size=16g
        .oneccl_install("opt/intel/1ccl-wks")
        .set_env(
            CCL_ZE_IPC_EXCHANGE="sockets",
            CCL_WORKER_COUNT="2",
            FI_PROVIDER="shm",
            CCL_ATL_TRANSPORT="ofi",
            CCL_ATL_SHM="1",
            LD_LIBRARY_PATH="/opt/intel/1ccl-wks/lib:/opt/intel/oneapi/lib",
            HF_TOKEN="hf_secret_value",
        )
    )


def nvidia_root(
    base: Path,
    gpus: int = 2,
    *,
    uvm: bool = True,
    ctl: bool = True,
    shm: str = "size=65536k",
    seccomp: int = 2,
    cap_eff: int = DOCKER_DEFAULT_CAPS,
) -> Path:
    """A container root like Docker's `--gpus 2` (default seccomp and capabilities); its path."""
    fr = FakeRoot(base).add_nvidia(gpus, uvm=uvm, ctl=ctl).set_shm(shm).dockerenv()
    fr.set_status(capeff=cap_eff, seccomp=seccomp)
    fr.write("proc/meminfo", "MemTotal:       1056462440 kB\n")
    fr.write(
        "proc/self/limits", "Limit  Soft Limit Hard Limit Units\nMax locked memory  8388608  8388608  bytes\n"
    )
    fr.write("proc/self/uid_map", "         0          0 4294967295\n")
    fr.write("proc/self/gid_map", "         0          0 4294967295\n")
    return fr.root


def write(root: Path, path: str, text: str) -> Path:
    """A plain file under `root` (for roots built by nvidia_root)."""
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def mknod(root: Path, path: str, major: int, minor: int, mode: int = 0o666) -> None:
    """A real character node under `root` (the tests run as root)."""
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(p, stat.S_IFCHR | mode, os.makedev(major, minor))


# -- Facts built directly (no root) -------------------------------------------------------------
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
