"""Facts: everything `check` reads from a host or container, as data.

A snapshot (`check --snapshot`) is this model as JSON; `check --from-snapshot` rebuilds it and
gives the same findings. Every field may be unknown (None / empty): rules must say so rather
than guess. Paths are absolute paths *inside* the inspected root (e.g. "/dev/dri/renderD128").
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr

SCHEMA_VERSION = 1

NodeKind = Literal["char", "block", "symlink", "file", "dir", "fifo", "socket", "other"]


class DeviceNode(BaseModel):
    path: str
    kind: NodeKind
    major: int | None = None
    minor: int | None = None
    mode: int | None = Field(default=None, description="permission bits, e.g. 0o660")
    uid: int | None = None
    gid: int | None = None
    target: str | None = Field(default=None, description="readlink() of a symlink")
    resolved: str | None = Field(default=None, description="symlink resolved inside the root")
    resolved_exists: bool | None = None


class DrmGpu(BaseModel):
    """One DRM render node as sysfs describes it (/sys/class/drm/renderD*/device)."""

    render: str = Field(description="renderD128")
    card: str | None = Field(default=None, description="card0, from /sys/class/drm/renderD128/device/drm")
    bdf: str | None = Field(default=None, description="PCI address 0000:03:00.0")
    vendor: str | None = Field(default=None, description="0x8086 Intel, 0x1002 AMD, 0x10de NVIDIA")
    device_id: str | None = None
    driver: str | None = Field(default=None, description="i915, xe, amdgpu, nvidia")


class ProcessFacts(BaseModel):
    uid: int | None = None
    gid: int | None = None
    groups: list[int] = Field(default_factory=list)
    cap_eff: int | None = None
    cap_prm: int | None = None
    cap_bnd: int | None = None
    seccomp: int | None = Field(default=None, description="0 none, 1 strict, 2 filter")
    seccomp_filters: int | None = None
    no_new_privs: bool | None = None
    pid: int | None = None


class KernelFacts(BaseModel):
    release: str | None = None
    ptrace_scope: int | None = Field(default=None, description="Yama; None when Yama is absent")
    yama_present: bool | None = None


class ContainerFacts(BaseModel):
    runtime: str = Field(default="unknown", description="docker | podman | kubernetes | lxc | none | unknown")
    evidence: list[str] = Field(default_factory=list)
    cgroup_lines: list[str] = Field(default_factory=list)
    cgroup_version: int | None = None
    device_rules: list[str] | None = Field(default=None, description="cgroup v1 devices.list, when readable")


class MountEntry(BaseModel):
    source: str
    target: str
    fstype: str
    options: list[str] = Field(default_factory=list)


class ShmFacts(BaseModel):
    path: str = "/dev/shm"
    present: bool | None = None
    size_bytes: int | None = None
    free_bytes: int | None = None
    source: str | None = Field(default=None, description="mounts size= option, statvfs, or ipc host")


class NamespaceFacts(BaseModel):
    """Identities to compare two snapshots taken in two containers (check --compare)."""

    pid: str | None = None
    ipc: str | None = None
    net: str | None = None
    uts: str | None = None
    mnt: str | None = None
    user: str | None = None
    hostname: str | None = None
    boot_id: str | None = None
    shm_dev: int | None = Field(default=None, description="st_dev of /dev/shm")


class CpuFacts(BaseModel):
    # bounded: rules build CPU sets from these (Linux's NR_CPUS is at most 8192)
    online: int | None = Field(
        default=None, ge=0, le=1 << 16, description="sysconf(_SC_NPROCESSORS_ONLN): host CPUs"
    )
    allowed: list[int] | None = Field(
        default=None, max_length=1 << 16, description="sched_getaffinity / cpuset"
    )
    cpuset_source: str | None = None


class LimitFacts(BaseModel):
    memlock_soft: int | None = Field(default=None, description="bytes; -1 = unlimited")
    memlock_hard: int | None = None


class LsmFacts(BaseModel):
    selinux_enforce: int | None = None
    selinux_label: str | None = None
    apparmor_profile: str | None = None


class UsernsFacts(BaseModel):
    uid_map: list[str] = Field(default_factory=list)
    gid_map: list[str] = Field(default_factory=list)
    overflow_gid: int | None = 65534

    @property
    def is_initial(self) -> bool | None:
        if not self.uid_map:
            return None
        first = self.uid_map[0].split()
        return len(self.uid_map) == 1 and first[:2] == ["0", "0"] and first[2] == "4294967295"


class NvidiaGpu(BaseModel):
    index: int
    name: str | None = None
    uuid: str | None = None
    bdf: str | None = None
    minor: int | None = Field(default=None, description="/dev/nvidia<minor>")


class NvidiaFacts(BaseModel):
    driver_version: str | None = None
    cuda_version: str | None = None
    gpus: list[NvidiaGpu] = Field(default_factory=list)
    nvlinks: dict[str, int] = Field(default_factory=dict, description="'0-1' -> active NVLink count")
    nvlink_gbps_per_link: float | None = None
    p2p: dict[str, str] = Field(default_factory=dict, description="'0-1' -> OK | NS | CNS ... (topo -p2p r)")
    topo_matrix: str | None = None
    source: str | None = Field(default=None, description="nvml | nvidia-smi | proc")
    nvml_error: str | None = Field(default=None, description="why NVML could not be used, verbatim")


class ProbeResult(BaseModel):
    ok: bool
    step: str | None = Field(default=None, description="the step that failed")
    errno: str | None = Field(default=None, description="errno name, e.g. EPERM")
    detail: str | None = None


class LiveProbes(BaseModel):
    """Syscall probes run only on the live root; absent in --root mode."""

    opens: dict[str, str] = Field(default_factory=dict, description="node -> 'ok' or errno name")
    bypath_opendir: str | None = Field(default=None, description="'ok' or errno name")
    pidfd_self_test: ProbeResult | None = None
    pidfd_sibling_test: ProbeResult | None = None
    tmp_writable: bool | None = None


# glibc's trusted default directories (elf/dl-load.c), searched after ld.so.cache (not read here).
GLIBC_DEFAULT_DIRS = (
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
)


class CclLibrary(BaseModel):
    """One libccl.so.1 a loader could find, and the oneCCL version it is (facts/oneccl_install.py)."""

    path: str = Field(description="in-root path of the file the loader opens, e.g. /opt/venv/lib/libccl.so.1")
    resolved: str | None = Field(default=None, description="the file after symlinks, inside the root")
    kind: str = Field(description="pip | oneapi | ipex-llm | bindings | other")
    version: str | None = Field(default=None, description="2021.15.1, from the dist-info or the path")
    version_source: str | None = None


class CclLoader(BaseModel):
    """A shared object that loads libccl.so.1 (torch's libtorch_xpu.so, the bindings' .so)."""

    path: str
    what: str = Field(description="torch-xpu | bindings")
    needs_ccl: bool = Field(default=False, description="DT_NEEDED names libccl.so.1")
    rpath: list[str] = Field(default_factory=list, description="DT_RPATH, $ORIGIN expanded")
    runpath: list[str] = Field(default_factory=list, description="DT_RUNPATH, $ORIGIN expanded")


class PythonPackage(BaseModel):
    name: str = Field(description="oneccl, oneccl-devel, torch, oneccl-bind-pt, vllm")
    version: str
    prefix: str = Field(description="the Python environment prefix, e.g. /opt/venv")
    metadata: str = Field(description="in-root path of its dist-info METADATA")
    requires_oneccl: str | None = Field(default=None, description="torch: Requires-Dist oneccl==X")


class OneCclFacts(BaseModel):
    """Every way oneCCL is installed here, so the rules know which one the job loads and its
    generation (≤2021.13 vs ≥2021.14)."""

    installs: list[str] = Field(
        default_factory=list, description="in-root paths such as /opt/intel/oneapi/ccl/2021.14"
    )
    packages: list[PythonPackage] = Field(default_factory=list, description="pip dist-infos that matter")
    libraries: list[CclLibrary] = Field(default_factory=list, description="every libccl.so.1 seen")
    loaders: list[CclLoader] = Field(default_factory=list)
    searched: list[str] = Field(default_factory=list, description="directories looked in for libccl.so.1")
    ldconfig_dirs: list[str] = Field(
        default_factory=list, description="/etc/ld.so.conf (and its includes): what ld.so.cache is built from"
    )
    setvars: list[str] = Field(default_factory=list, description="setvars.sh / env/vars.sh scripts present")


class NetInterface(BaseModel):
    name: str = Field(description="eth0, ib0, lo")
    addresses: list[str] = Field(
        default_factory=list, description="IPv4 and IPv6 addresses, no prefix length"
    )
    operstate: str | None = Field(
        default=None, description="/sys/class/net/<name>/operstate: up, down, unknown"
    )


class NetworkFacts(BaseModel):
    """Network interfaces of this network namespace (what NCCL/Gloo/oneCCL can bind to)."""

    interfaces: list[NetInterface] = Field(default_factory=list)
    unassigned: list[str] = Field(
        default_factory=list, description="local addresses whose interface could not be told (no route)"
    )
    source: str | None = Field(default=None, description="'ip -o addr' | '/sys/class/net + /proc/net'")

    def names(self) -> list[str]:
        return [i.name for i in self.interfaces]

    def addresses(self) -> list[str]:
        return [a for i in self.interfaces for a in i.addresses] + self.unassigned


class Facts(BaseModel):
    schema_version: int = SCHEMA_VERSION
    label: str | None = Field(default=None, description="what this snapshot shows (built-in examples)")
    tool_version: str | None = None
    root: str = "/"
    live: bool = False
    collected_at: str | None = None
    dev: list[DeviceNode] = Field(default_factory=list)
    drm: list[DrmGpu] = Field(default_factory=list)
    process: ProcessFacts = Field(default_factory=ProcessFacts)
    kernel: KernelFacts = Field(default_factory=KernelFacts)
    container: ContainerFacts = Field(default_factory=ContainerFacts)
    mounts: list[MountEntry] = Field(default_factory=list)
    shm: ShmFacts = Field(default_factory=ShmFacts)
    namespaces: NamespaceFacts = Field(default_factory=NamespaceFacts)
    cpu: CpuFacts = Field(default_factory=CpuFacts)
    limits: LimitFacts = Field(default_factory=LimitFacts)
    lsm: LsmFacts = Field(default_factory=LsmFacts)
    userns: UsernsFacts = Field(default_factory=UsernsFacts)
    nvidia: NvidiaFacts = Field(default_factory=NvidiaFacts)
    groups: dict[str, int] = Field(default_factory=dict, description="/etc/group name -> gid")
    tmp_writable: bool | None = Field(default=None, description="access(/tmp, W_OK) or probe")
    tmp_readonly_mount: bool | None = None
    env: dict[str, str] = Field(default_factory=dict, description="secrets redacted")
    probes: LiveProbes | None = None
    oneccl: OneCclFacts = Field(default_factory=OneCclFacts)
    network: NetworkFacts = Field(default_factory=NetworkFacts)
    errors: list[str] = Field(default_factory=list, description="what could not be read, one line each")

    # path -> node, rebuilt when `dev` is replaced or grows: rules call node() once per device, and
    # a scan per call made a 20k-device snapshot quadratic (100 s)
    _dev_index: dict[str, DeviceNode] = PrivateAttr(default_factory=dict)
    _dev_key: tuple[int, int, int, int] = PrivateAttr(default=(0, -1, 0, 0))

    def node(self, path: str) -> DeviceNode | None:
        dev = self.dev
        key = (id(dev), len(dev), id(dev[0]) if dev else 0, id(dev[-1]) if dev else 0)
        if key != self._dev_key:
            index: dict[str, DeviceNode] = {}
            for n in dev:
                index.setdefault(n.path, n)  # the first entry wins, as the scan did
            self._dev_index, self._dev_key = index, key
        return self._dev_index.get(path)

    def nodes_under(self, prefix: str) -> list[DeviceNode]:
        return [n for n in self.dev if n.path.startswith(prefix)]
