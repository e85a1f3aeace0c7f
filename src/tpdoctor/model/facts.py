"""Facts: everything `check` reads from a host or container, as data.

A snapshot (`check --snapshot`) is this model as JSON; `check --from-snapshot` rebuilds it and
gives the same findings. Every field may be unknown (None / empty): rules must say so rather
than guess. Paths are absolute paths *inside* the inspected root (e.g. "/dev/dri/renderD128").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from tpdoctor.model.datamodel import DataModel

# a local X display: ":0", ":1.0", "unix:0" (libxcb _xcb_parse_display: no host, or the host "unix", means the socket;
# the number is read with strtoul, so ":07" is display 7); ASCII digits, bounded
_LOCAL_DISPLAY = re.compile(r"^(?:unix)?:([0-9]{1,9})(?:\.[0-9]{1,9})?$")


def local_display_socket(display: str) -> str | None:
    """The socket name (`X<n>`, under /tmp/.X11-unix) a DISPLAY value names when it is a local display, else None
    (a TCP display such as `localhost:10.0`). The one reader for check's fact collector and its rule."""
    m = _LOCAL_DISPLAY.match(display.strip())
    return f"X{int(m.group(1))}" if m else None


SCHEMA_VERSION = 1

MAX_CPUS = 1 << 16
MAX_CPU_MODEL = 128  # /proc/cpuinfo "model name": "Intel(R) Xeon(R) Platinum 8480+" is 32; QEMU's "QEMU Virtual CPU version 2.5+"

NodeKind = Literal["char", "block", "symlink", "file", "dir", "fifo", "socket", "other"]


@dataclass(kw_only=True, repr=False, eq=False)
class DeviceNode(DataModel):
    """One entry under /dev: its kind, numbers, mode and owner, a symlink's target."""

    path: str
    kind: NodeKind
    major: int | None = None
    minor: int | None = None
    mode: int | None = None  # permission bits, e.g. 0o660
    uid: int | None = None
    gid: int | None = None
    target: str | None = None  # readlink() of a symlink
    resolved: str | None = None  # symlink resolved inside the root
    resolved_exists: bool | None = None


@dataclass(kw_only=True, repr=False, eq=False)
class DrmGpu(DataModel):
    """One DRM render node as sysfs describes it (/sys/class/drm/renderD*/device)."""

    render: str  # renderD128
    card: str | None = None  # card0, from /sys/class/drm/renderD128/device/drm
    bdf: str | None = None  # PCI address 0000:03:00.0
    vendor: str | None = None  # 0x8086 Intel, 0x1002 AMD, 0x10de NVIDIA
    device_id: str | None = None
    driver: str | None = None  # i915, xe, amdgpu, nvidia


@dataclass(kw_only=True, repr=False, eq=False)
class ProcessFacts(DataModel):
    """The inspecting process: ids, groups, capabilities, seccomp (/proc/self/status)."""

    uid: int | None = None
    gid: int | None = None
    groups: list[int] = field(default_factory=list)
    cap_eff: int | None = None
    cap_prm: int | None = None
    cap_bnd: int | None = None
    seccomp: int | None = None  # 0 none, 1 strict, 2 filter
    seccomp_filters: int | None = None
    no_new_privs: bool | None = None
    pid: int | None = None


@dataclass(kw_only=True, repr=False, eq=False)
class KernelFacts(DataModel):
    """Kernel release, Yama's ptrace_scope, and (with amdgpu loaded) whether the kernel has amdkfd."""

    release: str | None = None
    ptrace_scope: int | None = None  # Yama; None when Yama is absent
    yama_present: bool | None = None
    amdgpu_loaded: bool | None = None  # /sys/module/amdgpu exists (loaded, or built in)
    hsa_amd: str | None = None  # CONFIG_HSA_AMD of the running kernel: "y", "m" or "unset"; None: not read
    config_source: str | None = None  # where hsa_amd was read: /boot/config-<release> or /proc/config.gz
    # gnew41: `nomodeset` on the kernel command line (/proc/cmdline; in a container, the host's), and then the AMD/Intel
    # display-class PCI functions with no driver bound ("<bdf> <vendor>", /sys/bus/pci/devices): amdgpu, i915 and xe
    # refuse to load under it (drm_firmware_drivers_only())
    cmdline_nomodeset: bool | None = None
    gpus_without_driver: list[str] = field(default_factory=list)


@dataclass(kw_only=True, repr=False, eq=False)
class ContainerFacts(DataModel):
    """Which container runtime this is, and the evidence for it."""

    runtime: str = "unknown"  # docker | podman | kubernetes | lxc | none | unknown
    evidence: list[str] = field(default_factory=list)
    cgroup_lines: list[str] = field(default_factory=list)
    cgroup_version: int | None = None
    device_rules: list[str] | None = None  # cgroup v1 devices.list, when readable


@dataclass(kw_only=True, repr=False, eq=False)
class MountEntry(DataModel):
    """One line of /proc/self/mounts."""

    source: str
    target: str
    fstype: str
    options: list[str] = field(default_factory=list)


class _Mounted(Protocol):
    @property
    def target(self) -> str: ...


M = TypeVar("M", bound=_Mounted)


def mount_holding(mounts: Iterable[M], path: str) -> M | None:
    """The mount that holds the absolute `path`: the longest target that is `path` or a parent of it, the last of
    equals (as the kernel and a container runtime stack them); a relative target holds nothing. One rule for
    /proc/self/mounts (facts.system.mount_for) and a deployment file's mounts (deploy.model.Service)."""
    best: M | None = None
    for m in mounts:
        t = m.target.rstrip("/") or "/"
        if not t.startswith("/"):
            continue
        if (path == t or path.startswith(t.rstrip("/") + "/")) and (
            best is None or len(t) >= len(best.target.rstrip("/") or "/")
        ):
            best = m
    return best


@dataclass(kw_only=True, repr=False, eq=False)
class ShmFacts(DataModel):
    """/dev/shm: present, size, free space, and whether the ranks can create files in it."""

    path: str = "/dev/shm"
    present: bool | None = None
    size_bytes: int | None = None
    free_bytes: int | None = None
    source: str | None = None  # mounts size= option, statvfs, or ipc host
    readonly_mount: bool | None = None  # the /dev/shm mount carries "ro"
    mode: int | None = None  # permission bits of /dev/shm (a healthy tmpfs is 0o1777)
    writable: bool | None = None  # live: access(W_OK|X_OK); --root: mode/owner against the process uid


@dataclass(kw_only=True, repr=False, eq=False)
class NamespaceFacts(DataModel):
    """Identities to compare two snapshots taken in two containers (check --compare)."""

    pid: str | None = None
    ipc: str | None = None
    net: str | None = None
    uts: str | None = None
    mnt: str | None = None
    user: str | None = None
    hostname: str | None = None
    boot_id: str | None = None
    shm_dev: int | None = None  # st_dev of /dev/shm


@dataclass(kw_only=True, repr=False, eq=False)
class CpuFacts(DataModel):
    """Online and allowed CPUs."""

    # bounded: rules build CPU sets from these (Linux's NR_CPUS is at most 8192)
    online: int | None = None  # sysconf(_SC_NPROCESSORS_ONLN): host CPUs, 0 to MAX_CPUS
    allowed: list[int] | None = None  # sched_getaffinity / cpuset, at most MAX_CPUS entries
    cpuset_source: str | None = None
    # gnew46: the vector extensions of an x86 CPU as /proc/cpuinfo's first "flags" line lists them (None: not read,
    # or not an x86 CPU); `hypervisor` is the flag a hypervisor sets in a guest's CPUID, `model` the "model name"
    avx: bool | None = None
    avx2: bool | None = None
    hypervisor: bool | None = None
    model: str | None = None  # at most MAX_CPU_MODEL characters

    def __post_init__(self) -> None:
        if self.model is not None and len(self.model) > MAX_CPU_MODEL:
            raise ValueError(f"cpu.model is longer than {MAX_CPU_MODEL} characters")
        # a snapshot is outside input: the validator (model/datamodel.py) runs this check too
        if self.online is not None and not 0 <= self.online <= MAX_CPUS:
            raise ValueError(f"cpu.online {self.online} is outside 0..{MAX_CPUS}")
        if self.allowed is not None and len(self.allowed) > MAX_CPUS:
            raise ValueError(f"cpu.allowed lists {len(self.allowed)} CPUs, more than {MAX_CPUS}")


@dataclass(kw_only=True, repr=False, eq=False)
class LimitFacts(DataModel):
    """Resource limits (RLIMIT_MEMLOCK, RLIMIT_AS, RLIMIT_NPROC, the pids cgroup's pids.max) and the host RAM the
    address-space limit is compared with."""

    memlock_soft: int | None = None  # bytes; -1 = unlimited
    memlock_hard: int | None = None
    # RLIMIT_AS ('Max address space' in /proc/self/limits; ulimit -v, Slurm VSizeFactor, SGE h_vmem, PBS vmem)
    address_space_soft: int | None = None  # bytes; -1 = unlimited
    address_space_hard: int | None = None
    mem_total: int | None = None  # MemTotal of /proc/meminfo, bytes
    # RLIMIT_NPROC ('Max processes' in /proc/self/limits; ulimit -u, docker --ulimit nproc=): the real UID's tasks
    # host-wide, threads included; root (the init user namespace's uid 0) is exempt (kernel/fork.c copy_process)
    nproc_soft: int | None = None  # -1 = unlimited
    nproc_hard: int | None = None
    # the pids cgroup limit (docker/podman --pids-limit, compose pids_limit, kubelet podPidsLimit, systemd TasksMax):
    # the smallest finite pids.max of the process's cgroup and its ancestors (cgroup v2, or v1's pids hierarchy)
    pids_max: int | None = None  # -1 = max (no limit on the path)
    pids_current: int | None = None  # pids.current of the cgroup whose pids.max is pids_max (tasks already there)
    pids_source: str | None = None  # the pids.max file that sets it


@dataclass(kw_only=True, repr=False, eq=False)
class LsmFacts(DataModel):
    """SELinux and AppArmor state of the process."""

    selinux_enforce: int | None = None
    selinux_label: str | None = None
    apparmor_profile: str | None = None


@dataclass(kw_only=True, repr=False, eq=False)
class UsernsFacts(DataModel):
    """The user namespace's uid/gid maps."""

    uid_map: list[str] = field(default_factory=list)
    gid_map: list[str] = field(default_factory=list)
    overflow_gid: int | None = 65534

    @property
    def is_initial(self) -> bool | None:
        if not self.uid_map:
            return None
        first = self.uid_map[0].split()
        return len(self.uid_map) == 1 and first[:2] == ["0", "0"] and first[2] == "4294967295"


@dataclass(kw_only=True, repr=False, eq=False)
class NvidiaGpu(DataModel):
    """One NVIDIA GPU as NVML or nvidia-smi lists it."""

    index: int
    name: str | None = None
    uuid: str | None = None
    bdf: str | None = None
    minor: int | None = None  # /dev/nvidia<minor>


@dataclass(kw_only=True, repr=False, eq=False)
class DriverLibFacts(DataModel):
    """Where the CUDA driver library (libcuda.so.1) is in this root and where the dynamic loader looks
    for it (facts/driver_libs.py)."""

    found: list[str] = field(default_factory=list)  # in-root paths of every libcuda.so.1 seen
    ld_library_path: list[str] = field(default_factory=list)  # LD_LIBRARY_PATH's absolute directories
    ld_cache: list[str] = field(default_factory=list)  # what /etc/ld.so.cache lists for libcuda.so.1
    ld_cache_read: bool = False  # /etc/ld.so.cache was read (an absent cache lists nothing: also True)
    # directories of `found` that someone other than root may write (owner not root, or group/other
    # write): `run` never puts one on a root process's library path
    writable_by_others: list[str] = field(default_factory=list)


@dataclass(kw_only=True, repr=False, eq=False)
class NvidiaFacts(DataModel):
    """The NVIDIA driver, GPUs, NVLinks and P2P matrix."""

    driver_version: str | None = None
    cuda_version: str | None = None
    gpus: list[NvidiaGpu] = field(default_factory=list)
    nvlinks: dict[str, int] = field(default_factory=dict)  # '0-1' -> active NVLink count
    nvlink_gbps_per_link: float | None = None
    p2p: dict[str, str] = field(default_factory=dict)  # '0-1' -> OK | NS | CNS ... (topo -p2p r)
    topo_matrix: str | None = None
    source: str | None = None  # nvml | nvidia-smi | proc
    nvml_error: str | None = None  # why NVML could not be used, verbatim
    libcuda: DriverLibFacts | None = None  # where libcuda.so.1 is, and whether the loader finds it


@dataclass(kw_only=True, repr=False, eq=False)
class ProbeResult(DataModel):
    """The result of one live syscall probe."""

    ok: bool
    step: str | None = None  # the step that failed
    errno: str | None = None  # errno name, e.g. EPERM
    detail: str | None = None


@dataclass(kw_only=True, repr=False, eq=False)
class LiveProbes(DataModel):
    """Syscall probes run only on the live root; absent in --root mode."""

    opens: dict[str, str] = field(default_factory=dict)  # node -> 'ok' or errno name
    bypath_opendir: str | None = None  # 'ok' or errno name
    pidfd_self_test: ProbeResult | None = None
    pidfd_sibling_test: ProbeResult | None = None
    tmp_writable: bool | None = None
    # clone3(NULL, 0)'s errno (syscall 435): EINVAL = allowed (the size is refused before anything is made), ENOSYS =
    # absent or refused with ENOSYS (glibc falls back to clone), EPERM = a seccomp profile refuses it with EPERM
    clone3: str | None = None
    glibc: str | None = None  # confstr(CS_GNU_LIBC_VERSION) of this process: 'glibc 2.35'


# glibc's trusted default directories (elf/dl-load.c), searched after ld.so.cache (not read here).
GLIBC_DEFAULT_DIRS = (
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
)


@dataclass(kw_only=True, repr=False, eq=False)
class CclLibrary(DataModel):
    """One libccl.so.1 a loader could find, and the oneCCL version it is (facts/oneccl_install.py)."""

    path: str  # in-root path of the file the loader opens, e.g. /opt/venv/lib/libccl.so.1
    resolved: str | None = None  # the file after symlinks, inside the root
    kind: str  # pip | oneapi | ipex-llm | bindings | other
    version: str | None = None  # 2021.15.1, from the dist-info or the path
    version_source: str | None = None


@dataclass(kw_only=True, repr=False, eq=False)
class CclLoader(DataModel):
    """A shared object that loads libccl.so.1 (torch's libtorch_xpu.so, the bindings' .so)."""

    path: str
    what: str  # torch-xpu | bindings
    needs_ccl: bool = False  # DT_NEEDED names libccl.so.1
    rpath: list[str] = field(default_factory=list)  # DT_RPATH, $ORIGIN expanded
    runpath: list[str] = field(default_factory=list)  # DT_RUNPATH, $ORIGIN expanded


@dataclass(kw_only=True, repr=False, eq=False)
class PythonPackage(DataModel):
    """One installed Python distribution that matters to oneCCL (its dist-info)."""

    name: str  # oneccl, oneccl-devel, torch, oneccl-bind-pt, vllm
    version: str
    prefix: str  # the Python environment prefix, e.g. /opt/venv
    metadata: str  # in-root path of its dist-info METADATA
    requires_oneccl: str | None = None  # torch: Requires-Dist oneccl==X


@dataclass(kw_only=True, repr=False, eq=False)
class OneCclFacts(DataModel):
    """Every way oneCCL is installed here, so the rules know which one the job loads and its
    generation (≤2021.13 vs ≥2021.14)."""

    installs: list[str] = field(default_factory=list)  # in-root paths such as /opt/intel/oneapi/ccl/2021.14
    packages: list[PythonPackage] = field(default_factory=list)  # pip dist-infos that matter
    libraries: list[CclLibrary] = field(default_factory=list)  # every libccl.so.1 seen
    loaders: list[CclLoader] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)  # directories looked in for libccl.so.1
    # /etc/ld.so.conf (and its includes): what ld.so.cache is built from
    ldconfig_dirs: list[str] = field(default_factory=list)
    setvars: list[str] = field(default_factory=list)  # setvars.sh / env/vars.sh scripts present


@dataclass(kw_only=True, repr=False, eq=False)
class NetInterface(DataModel):
    """One network interface and its addresses."""

    name: str  # eth0, ib0, lo
    addresses: list[str] = field(default_factory=list)  # IPv4 and IPv6 addresses, no prefix length
    operstate: str | None = None  # /sys/class/net/<name>/operstate: up, down, unknown


@dataclass(kw_only=True, repr=False, eq=False)
class NcclConfLine(DataModel):
    """One NAME=VALUE line of an NCCL configuration file, split as NCCL splits it (facts/nccl_conf.py)."""

    path: str  # in-root path of the file, e.g. /etc/nccl.conf
    line: int  # 1-based
    name: str  # everything before the first '=', spaces included: NCCL does not trim
    value: str  # everything after it (secrets redacted)
    applied: bool  # NCCL sets it: the environment or an earlier file did not already


@dataclass(kw_only=True, repr=False, eq=False)
class CdiSpec(DataModel):
    """One CDI spec file the engines read (facts/cdi.py), and the host files it names that are absent."""

    path: str  # in-root path, e.g. /etc/cdi/nvidia.yaml
    kind: str | None = None  # vendor.com/class, e.g. nvidia.com/gpu
    # hostPath of its mounts and device nodes, and its hooks' binaries, that the host does not have
    missing: list[str] = field(default_factory=list)


@dataclass(kw_only=True, repr=False, eq=False)
class NvidiaToolkitFacts(DataModel):
    """The NVIDIA Container Toolkit's /etc/nvidia-container-runtime/config.toml on this root (facts/nvidia_toolkit.py):
    the settings that decide whether a GPU container can be created. None = unknown (not read, or the wrong type)."""

    installed: list[str] = field(default_factory=list)  # toolkit binaries seen (nvidia-container-runtime, -hook, -cli)
    config: str | None = None  # the in-root path of the file
    # "read": the file's values (the toolkit's defaults for keys it leaves out); "absent": no file, the toolkit is
    # installed, so its defaults apply; "invalid": present but not readable as the toolkit's TOML (facts.errors says why)
    config_state: str | None = None
    # why the toolkit itself would refuse the file (not valid TOML, a key of the wrong type); None: it loads, or not known
    config_refused: str | None = None
    set_keys: list[str] = field(default_factory=list)  # the dotted keys the file sets, in file order
    accept_envvar_unprivileged: bool | None = None  # accept-nvidia-visible-devices-envvar-when-unprivileged
    accept_volume_mounts: bool | None = None  # accept-nvidia-visible-devices-as-volume-mounts
    mode: str | None = None  # nvidia-container-runtime.mode: auto | legacy | cdi | jit-cdi | csv
    skip_mode_detection: bool | None = None  # nvidia-container-runtime-hook.skip-mode-detection
    ldconfig: str | None = None  # nvidia-container-cli.ldconfig as written ('@' = a host path)
    allow_ldconfig_from_container: bool | None = None  # features.allow-ldconfig-from-container
    ldconfig_exists: bool | None = None  # the '@' path is a file in this root
    ldconfig_resolved: str | None = None  # what toolkit >= 1.15 runs instead: its .real sibling if present, else without .real
    ldconfig_resolved_exists: bool | None = None
    driver_root: str | None = None  # nvidia-container-cli.root ("" or "/": the host's own driver)
    driver_root_exists: bool | None = None  # a directory in this root
    # libnvidia-ml.so.1 / libcuda.so.1 under driver_root (its ld.so.cache, glibc's default directories); None: unknown
    driver_root_libs: list[str] | None = None
    # gnew37: nvidia-container-runtime.runtimes, the low-level runtimes the wrapper tries in order (default
    # ["docker-runc", "runc", "crun"]), and the first one found here as internal/oci findRuntime looks (a path as is,
    # a name on /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin); "" = none found; None = not judged
    # (the wrapper is not installed, or a candidate is a relative path)
    runtimes: list[str] | None = None
    runtime_found: str | None = None


@dataclass(kw_only=True, repr=False, eq=False)
class EngineRuntime(DataModel):
    """One runtime a container engine's configuration registers (daemon.json `runtimes`, containerd's CRI runtimes)."""

    name: str
    path: str | None = None  # daemon.json runtimes.<name>.path / containerd options.BinaryName, as written (redacted)
    runtime_type: str | None = None  # daemon.json runtimeType / containerd runtime_type
    resolved: str | None = None  # the in-root file the path names (a name without '/': the first hit on ENGINE_PATH)
    exists: bool | None = None  # that file is here; None: not judged (no path, a relative path)
    systemd_cgroup: bool | None = None  # containerd options.SystemdCgroup as written; None: not set


@dataclass(kw_only=True, repr=False, eq=False)
class DisplayFacts(DataModel):
    """gnew41: what an X11 client started here would find (facts/process.py collect_display), read only when DISPLAY
    is set: the X server's socket directory /tmp/.X11-unix and its entries, and whether the cookie file XAUTHORITY
    names exists. None = not looked at."""

    x11_socket_dir: bool | None = None  # /tmp/.X11-unix is a directory here
    x11_sockets: list[str] = field(default_factory=list)  # its X<n> entries (X0, X1, ...), sorted
    # the abstract sockets of this network namespace (/proc/net/unix '@/tmp/.X11-unix/X<n>'): an X server listens on
    # them too, and a container that shares the host's network namespace reaches them without the directory
    x11_abstract: list[str] = field(default_factory=list)
    xauthority_exists: bool | None = None  # the file XAUTHORITY names exists (None: XAUTHORITY unset)


@dataclass(kw_only=True, repr=False, eq=False)
class EngineConfigFacts(DataModel):
    """The container engines' daemon configuration on this root (facts/engine_config.py): Docker's daemon.json,
    containerd's config.toml (with its imports) and the kubelet's cgroupDriver. Only the keys the rules read are
    kept (daemon.json may hold credentials: registry mirrors, proxies); None = unknown or not set."""

    dockerd: list[str] = field(default_factory=list)  # dockerd binaries seen
    docker_config: str | None = None  # /etc/docker/daemon.json
    # "read"; "absent" (dockerd here, no file: the defaults); "invalid": present but not read (facts.errors says why)
    docker_state: str | None = None
    docker_refused: str | None = None  # why dockerd refuses the file (not JSON, a key of the wrong type, ...)
    docker_keys: list[str] = field(default_factory=list)  # the keys dockerd checks (nested ones flattened), file order
    docker_default_runtime: str | None = None
    docker_runtimes: list[EngineRuntime] = field(default_factory=list)
    docker_features_cdi: bool | None = None  # features.cdi; None: not set
    docker_cdi_spec_dirs: list[str] | None = None
    docker_default_shm_size: int | None = None  # default-shm-size in bytes; None: not set (Docker: 64 MiB)
    docker_memlock_soft: int | None = None  # default-ulimits.memlock (-1: unlimited); None: not set
    docker_memlock_hard: int | None = None
    # gnew40: Docker installed as a snap (/snap/docker or /var/snap/docker here): its dockerd reads the snap's own
    # daemon.json (docker-snap bin/dockerd-wrapper --config-file=$SNAP_DATA/config/daemon.json), never docker_config
    docker_snap: str | None = None  # /var/snap/docker/current/config/daemon.json when the snap is installed
    docker_snap_dir: str | None = None  # the snap's directory found here (/snap/docker, else /var/snap/docker)
    docker_snap_state: str | None = None  # read | absent | invalid, as docker_state
    docker_snap_runtimes: list[str] = field(default_factory=list)  # the runtimes that file registers (names)
    containerd: list[str] = field(default_factory=list)  # containerd binaries seen
    containerd_config: str | None = None  # /etc/containerd/config.toml
    containerd_state: str | None = None  # read | absent | invalid, as docker_state
    containerd_refused: str | None = None  # why containerd refuses the file (not TOML, version 2 with a bare plugin id)
    containerd_imports: list[str] = field(default_factory=list)  # imported files read, in containerd's order
    containerd_version: int | None = None  # the file's `version` (1 when it has none)
    containerd_release: int | None = None  # the binary's major release (1 or 2, its Go build info); None: not read
    containerd_disabled_plugins: list[str] = field(default_factory=list)
    containerd_cri_table: str | None = None  # the plugin table holding the CRI runtime settings that were read
    containerd_enable_cdi: bool | None = None  # enable_cdi; None: not set (false before containerd 2.0, true from it)
    containerd_default_runtime: str | None = None  # containerd.default_runtime_name; None: not set (runc)
    containerd_runtimes: list[EngineRuntime] = field(default_factory=list)
    kubelet: list[str] = field(default_factory=list)  # kubelet binaries seen
    kubelet_config: str | None = None  # /var/lib/kubelet/config.yaml when present
    kubelet_cgroup_driver: str | None = None  # its top-level cgroupDriver; None: not set
    # the kubelet plugins registered here (/var/lib/kubelet/plugins_registry/<name>-reg.sock: DRA and CSI drivers)
    kubelet_plugins: list[str] = field(default_factory=list)


@dataclass(kw_only=True, repr=False, eq=False)
class NetworkFacts(DataModel):
    """Network interfaces of this network namespace (what NCCL/Gloo/oneCCL can bind to)."""

    interfaces: list[NetInterface] = field(default_factory=list)
    # local addresses whose interface could not be told (no route)
    unassigned: list[str] = field(default_factory=list)
    source: str | None = None  # 'ip -o addr' | '/sys/class/net + /proc/net'

    def names(self) -> list[str]:
        return [i.name for i in self.interfaces]

    def addresses(self) -> list[str]:
        return [a for i in self.interfaces for a in i.addresses] + self.unassigned


@dataclass(kw_only=True, repr=False, eq=False)
class JitCacheDir(DataModel):
    """gnew47: one JIT cache directory that exists where the job's compiler will write (facts/jit_cache.py): a path a
    variable names (TORCH_EXTENSIONS_DIR, TRITON_CACHE_DIR, TRITON_HOME, TORCHINDUCTOR_CACHE_DIR), TorchInductor's default
    <temp dir>/torchinductor_<user>, or a default under the temp dir that an installed old release uses
    (<temp dir>/torch_extensions for torch before 1.6, /tmp/triton for Triton 1.x)."""

    path: str  # in-root absolute path
    what: str  # which library picks it, and how
    explicit: bool = False  # a variable names it
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None  # permission bits
    # live: access(W_OK|X_OK) as this process; --root: the mode bits against the process's uid, gid and groups
    writable: bool | None = None


@dataclass(kw_only=True, repr=False, eq=False)
class Facts(DataModel):
    """Everything check read from one root (a snapshot is this as JSON)."""

    schema_version: int = SCHEMA_VERSION
    label: str | None = None  # what this snapshot shows (built-in examples)
    tool_version: str | None = None
    root: str = "/"
    live: bool = False
    collected_at: str | None = None
    dev: list[DeviceNode] = field(default_factory=list)
    drm: list[DrmGpu] = field(default_factory=list)
    process: ProcessFacts = field(default_factory=ProcessFacts)
    kernel: KernelFacts = field(default_factory=KernelFacts)
    container: ContainerFacts = field(default_factory=ContainerFacts)
    mounts: list[MountEntry] = field(default_factory=list)
    shm: ShmFacts = field(default_factory=ShmFacts)
    namespaces: NamespaceFacts = field(default_factory=NamespaceFacts)
    cpu: CpuFacts = field(default_factory=CpuFacts)
    limits: LimitFacts = field(default_factory=LimitFacts)
    lsm: LsmFacts = field(default_factory=LsmFacts)
    userns: UsernsFacts = field(default_factory=UsernsFacts)
    nvidia: NvidiaFacts = field(default_factory=NvidiaFacts)
    groups: dict[str, int] = field(default_factory=dict)  # /etc/group name -> gid
    tmp_writable: bool | None = None  # access(/tmp, W_OK|X_OK), --root its mode bits (process.may_create_in), or probe
    tmp_readonly_mount: bool | None = None
    env: dict[str, str] = field(default_factory=dict)  # secrets redacted
    display: DisplayFacts = field(default_factory=DisplayFacts)  # gnew41: the X11 socket and cookie DISPLAY needs
    # NCCL_CONF_FILE or ~/.nccl.conf, then /etc/nccl.conf: every line NCCL would read; the applied ones are
    # also in `env`, as NCCL puts them there (setenv without overwrite) before it reads any variable
    nccl_conf: list[NcclConfLine] = field(default_factory=list)
    # the CDI specs in /etc/cdi and /var/run/cdi (what --device nvidia.com/gpu=... resolves through)
    cdi_specs: list[CdiSpec] = field(default_factory=list)
    # the NVIDIA Container Toolkit's config.toml (what the runtime and hook do when a GPU container is created)
    nvidia_toolkit: NvidiaToolkitFacts = field(default_factory=NvidiaToolkitFacts)
    # Docker's daemon.json, containerd's config.toml and the kubelet's cgroup driver (what the engines do on a host)
    engines: EngineConfigFacts = field(default_factory=EngineConfigFacts)
    probes: LiveProbes | None = None
    oneccl: OneCclFacts = field(default_factory=OneCclFacts)
    network: NetworkFacts = field(default_factory=NetworkFacts)
    # gnew47: the JIT cache directories that exist where the job's compilers will write, with their owners
    jit_caches: list[JitCacheDir] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what could not be read, one line each

    # path -> node, rebuilt when `dev` is replaced or grows: rules call node() once per device, and
    # a scan per call made a 20k-device snapshot quadratic (100 s). Kept in the instance __dict__,
    # not a field: it is no part of the data (equality, JSON, copies).
    def node(self, path: str) -> DeviceNode | None:
        dev = self.dev
        first, last = (dev[0], dev[-1]) if dev else (None, None)
        cached = self.__dict__.get("_dev_index")
        if (
            cached is None
            or cached[0] is not dev
            or cached[1] != len(dev)
            or cached[2] is not first
            or cached[3] is not last
        ):
            index: dict[str, DeviceNode] = {}
            for n in dev:
                index.setdefault(n.path, n)  # the first entry wins, as the scan did
            cached = self.__dict__["_dev_index"] = (dev, len(dev), first, last, index)
        found: DeviceNode | None = cached[4].get(path)
        return found

    def nodes_under(self, prefix: str) -> list[DeviceNode]:
        return [n for n in self.dev if n.path.startswith(prefix)]
