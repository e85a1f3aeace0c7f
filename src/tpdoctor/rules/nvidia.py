"""NVIDIA (CUDA + NCCL) rules. Sources: research/failures.md §3 #29-#36, §4 NCCL_*, §6 probe 10."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from tpdoctor.facts.caps import has_cap
from tpdoctor.model import CheckOptions, Confidence, Facts, Finding, SeverityName, driver_caps, make_finding
from tpdoctor.model.facts import GLIBC_DEFAULT_DIRS
from tpdoctor.model.fixes import fix_context
from tpdoctor.redact import clip
from tpdoctor.rules.gpus import (
    NVIDIA_GPU_NODE,
    dev_listed,
    env_flag,
    in_container,
    infer_backend,
    node_number,
    numa_syscalls_refused,
    nvidia_nodes,
    present,
    tp_size,
    visible_gpus,
)
from tpdoctor.rules.registry import fact_rule

CONTROL_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm")


def _is_cuda(facts: Facts, options: CheckOptions) -> bool:
    return infer_backend(facts, options) == "cuda"


def _expected_minors(facts: Facts) -> list[int]:
    """GPU minors the driver says this container has; else NVIDIA_VISIBLE_DEVICES' length."""
    minors = [g.minor for g in facts.nvidia.gpus if g.minor is not None]
    if minors:
        return sorted(set(minors))
    return []


def _nv_context(facts: Facts) -> dict[str, str]:
    nodes = [n.path for n in nvidia_nodes(facts)]
    count = max(len(nodes), len(facts.nvidia.gpus)) or None
    return fix_context(nvidia_nodes=nodes or None, gpu_count=count)


@fact_rule("device.nvidia-node-missing")
def nvidia_nodes_present(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """NVIDIA device nodes a CUDA rank opens are in the container.

    **What it checks.** With the CUDA backend (chosen or inferred), that `/dev/nvidiactl`,
    `/dev/nvidia-uvm` and one `/dev/nvidia<minor>` per GPU the driver reports
    (`/proc/driver/nvidia/gpus/*/information` "Device Minor", or NVML) exist. With no
    NVIDIA node at all it reports the whole set (the container was started without `--gpus`).
    Nothing is said when the /dev listing was not collected.

    **Why it matters.** CUDA opens nvidiactl and nvidia-uvm before any GPU; without them
    `cudaGetDeviceCount` fails ("no CUDA-capable device") and NCCL never starts; a rank whose
    `/dev/nvidiaN` is missing fails alone and the others hang in init. As root with CAP_MKNOD and
    no device cgroup, libcuda recreates missing nodes (seen on the H200 hosts,
    research/gpu/README.md), so on a known bare host this is only a notice; inside a container
    the device cgroup refuses the recreated node.

    **How to fix.** Let the NVIDIA runtime map the nodes (`--gpus`, compose
    `deploy.resources.reservations.devices`, CDI `nvidia.com/gpu=…`, the k8s device plugin), or
    list each node with `--device`. Privileged mode is never needed.
    """
    if not _is_cuda(facts, options) or not dev_listed(facts):
        return
    gpu_nodes = nvidia_nodes(facts)
    missing = [p for p in CONTROL_NODES if not present(facts, p)]
    have = {node_number(NVIDIA_GPU_NODE, n.path) for n in gpu_nodes}
    missing += [f"/dev/nvidia{m}" for m in _expected_minors(facts) if m not in have]
    listed = [v for v in facts.env.get("NVIDIA_VISIBLE_DEVICES", "").split(",") if v.strip().isdigit()]
    if not facts.nvidia.gpus and len(listed) > len(gpu_nodes):
        missing.append(
            f"{len(listed) - len(gpu_nodes)} of the /dev/nvidiaN nodes NVIDIA_VISIBLE_DEVICES lists"
        )
    elif not gpu_nodes and not facts.nvidia.gpus:
        missing.append("/dev/nvidia<N> (no GPU node at all)")
    if not missing:
        return
    severity: SeverityName | None = None
    confidence: Confidence = "proves"
    note = ""
    if in_container(facts) is False and has_cap(facts, "MKNOD"):
        severity, confidence = "notice", "suggests"
        note = " On this host (root, CAP_MKNOD, no device cgroup) libcuda usually recreates them."
    evidence = [(p, "absent") for p in missing]
    evidence += [(n.path, f"present {n.major}:{n.minor}") for n in gpu_nodes]
    yield make_finding(
        "device.nvidia-node-missing",
        f"CUDA needs {', '.join(missing)}, not present in this root.{note}",
        evidence,
        context=_nv_context(facts),
        severity=severity,
        confidence=confidence,
    )


@fact_rule("runtime.nvidia-visible-devices-unset")
def nvidia_visible_devices_unset(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """A container that asks the NVIDIA runtime for driver capabilities also names its GPUs (gnew42).

    **What it checks.** In a container (not on a host) of a host with NVIDIA GPUs (/proc/driver/nvidia/gpus, which
    the container reads without having them) or for a CUDA job (`--backend cuda`), with no NVIDIA node in it (no
    /dev/nvidiactl, no /dev/nvidia<N>): `NVIDIA_DRIVER_CAPABILITIES` set (the image or the command wrote it for the
    NVIDIA runtime) while `NVIDIA_VISIBLE_DEVICES` is not set at all. A legacy CUDA image (`CUDA_VERSION` set,
    `NVIDIA_REQUIRE_CUDA` not) says nothing: the runtime defaults to all GPUs there.

    **Why it matters.** The NVIDIA runtime's hook injects only the GPUs NVIDIA_VISIBLE_DEVICES names
    (nvidia-container-toolkit internal/config/image/cuda_image.go `devicesFromEnvvars`: unset in a non-legacy image
    means "void", no GPU container); current nvidia/cuda images set it to `all` in their ENV, third-party images
    (Emby, Plex, Jellyfin, PhotoPrism, a plain ubuntu) do not. Started with `--runtime=nvidia` or compose
    `runtime: nvidia` alone, such a container runs as under runc: no /dev/nvidia*, no libcuda or libnvcuvid, no
    nvidia-smi, whatever NVIDIA_DRIVER_CAPABILITIES says (NVIDIA/nvidia-docker#766, Jip-Hop/jailmaker#127).
    `--gpus` and compose device reservations set the variable themselves.

    **How to fix.** Add `-e NVIDIA_VISIBLE_DEVICES=all` (or the GPU indices/UUIDs) to the container's own
    environment (compose `environment:`, not the `.env` file), or request the GPUs with `--gpus all` / a compose
    device reservation / a nvidia.com/gpu resource.
    """
    env = facts.env
    if in_container(facts) is not True:
        return
    if "NVIDIA_VISIBLE_DEVICES" in env or "NVIDIA_DRIVER_CAPABILITIES" not in env:
        return
    if env.get("CUDA_VERSION") and not env.get("NVIDIA_REQUIRE_CUDA"):
        return  # a legacy CUDA image: the runtime would have given it every GPU
    if nvidia_nodes(facts) or present(facts, "/dev/nvidiactl"):
        return
    # the host's NVIDIA GPUs (/proc/driver/nvidia/gpus, which a container without them still reads) or a CUDA job
    if not facts.nvidia.gpus and options.backend != "cuda":
        return
    caps = clip(env["NVIDIA_DRIVER_CAPABILITIES"], 60)
    yield make_finding(
        "runtime.nvidia-visible-devices-unset",
        f"NVIDIA_DRIVER_CAPABILITIES={caps} asks the NVIDIA runtime for driver libraries, but NVIDIA_VISIBLE_DEVICES is "
        "not set and no NVIDIA device is here: the runtime injects only the GPUs that variable names, and this image "
        "does not set it (CUDA images do), so --runtime=nvidia or compose `runtime: nvidia` alone gives no GPU. Add "
        "NVIDIA_VISIBLE_DEVICES=all to the container's environment, or request the GPUs with --gpus all.",
        [("env", f"NVIDIA_DRIVER_CAPABILITIES={caps}"), ("env", "NVIDIA_VISIBLE_DEVICES: not set"),
         ("/dev", "no /dev/nvidiactl or /dev/nvidia<N>")],
        confidence="suggests",
    )


@fact_rule("cuda.visible-devices-mismatch")
def cuda_visible_devices(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """CUDA_VISIBLE_DEVICES names GPUs that exist inside the container.

    **What it checks.** Each entry of `CUDA_VISIBLE_DEVICES` against the GPUs the container
    has (its `/dev/nvidiaN` nodes, else the driver's list): an index must be below that count
    (inside a container GPUs are renumbered from 0), a `GPU-…` UUID must match one present.

    **Why it matters.** Host indices reused inside a container that exposes a subset give
    `CUDA error: invalid device ordinal` or `No CUDA GPUs are available` (failures.md #36;
    sglang#4657). CUDA stops at the first invalid entry, so `2,3` on a two-GPU container
    leaves zero GPUs.

    **How to fix.** Choose GPUs at the runtime layer only (`--gpus '"device=2,3"'`,
    `NVIDIA_VISIBLE_DEVICES`, compose `device_ids`, CDI) and leave `CUDA_VISIBLE_DEVICES`
    unset, or set it to `0..n-1`.
    """
    if not _is_cuda(facts, options) or "CUDA_VISIBLE_DEVICES" not in facts.env:
        return
    vis = visible_gpus(facts, "cuda")
    if not vis.invalid:
        return
    value = facts.env["CUDA_VISIBLE_DEVICES"]
    yield make_finding(
        "cuda.visible-devices-mismatch",
        f"CUDA_VISIBLE_DEVICES={value} but the container has {vis.base} GPU(s) ({vis.base_source}), "
        f"numbered 0..{(vis.base or 1) - 1}: {', '.join(vis.invalid)} does not exist here, so CUDA sees "
        f"{vis.count} GPU(s).",
        [("CUDA_VISIBLE_DEVICES", value), (vis.base_source, f"{vis.base} GPU(s)")],
        context=fix_context(gpu_count=vis.base or None),
    )


def _visible_pairs(facts: Facts, options: CheckOptions) -> dict[str, str]:
    tp = tp_size(facts, options, "cuda")
    limit = tp if tp is not None and tp > 1 else None
    out = {}
    for pair, status in facts.nvidia.p2p.items():
        i, _, j = pair.partition("-")
        if limit is None or (int(i) < limit and int(j) < limit):
            out[pair] = status
    return out


@fact_rule("nccl.p2p-unsupported", "vllm.custom-allreduce-p2p")
def p2p_capability(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """GPU peer-to-peer works between the tensor-parallel GPUs.

    **What it checks.** The P2P read capability between each pair of the first `--tp` GPUs,
    from NVML (`nvmlDeviceGetP2PStatus`) or `nvidia-smi topo -p2p r`. A pair other than `OK`
    (`CNS` chipset, `GNS` GPU, `TNS` topology, `NS` not supported) with `NCCL_P2P_DISABLE`
    unset is `nccl.p2p-unsupported`; vLLM's custom all-reduce is then disabled or crashes
    (`vllm.custom-allreduce-p2p`) even when NCCL is told.

    **Why it matters.** NCCL fails with `failed to open CUDA IPC handle : 217 peer access is
    not supported between these two devices` (failures.md #29; vllm#406), custom all-reduce
    with `custom_all_reduce.cuh … peer access is not supported` (#31).

    **How to fix.** Set `NCCL_P2P_DISABLE=1` in the environment of every rank (and Ray
    worker), start vLLM with `--disable-custom-all-reduce`; on the host, fix PCI ACS / IOMMU
    settings so P2P works.
    """
    if not _is_cuda(facts, options):
        return
    bad = {p: s for p, s in _visible_pairs(facts, options).items() if s.upper() != "OK"}
    if not bad:
        return
    evidence = [(f"p2p GPU{p.replace('-', '-GPU')}", s) for p, s in sorted(bad.items())]
    if not env_flag(facts, "NCCL_P2P_DISABLE"):
        yield make_finding(
            "nccl.p2p-unsupported",
            f"P2P is not available between {len(bad)} GPU pair(s) and NCCL_P2P_DISABLE is not set.",
            evidence,
            related=["vllm.custom-allreduce-p2p"],
        )
    yield make_finding(
        "vllm.custom-allreduce-p2p",
        "vLLM's custom all-reduce needs P2P between every pair; it will be disabled (or fail) here.",
        evidence,
    )


@fact_rule("nccl.p2p-disabled")
def p2p_disabled_needlessly(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """NCCL_P2P_DISABLE=1 on GPUs that do have P2P.

    **What it checks.** `NCCL_P2P_DISABLE=1` (or `NCCL_P2P_LEVEL=LOC`) while the driver
    reports P2P `OK` or NVLinks between the GPUs.

    **Why it matters.** NCCL then moves data through host memory (`/dev/shm`): on 2×H200 with
    NVLink the all-reduce busbw at 64 MiB fell from 270 to 27.8 GB/s (research/gpu/README.md):
    a silent 10× slowdown. The variable is often copied from guides written for consumer GPUs.

    **How to fix.** Remove `NCCL_P2P_DISABLE` (and `NCCL_P2P_LEVEL=LOC`) on hosts with working P2P.
    """
    if not _is_cuda(facts, options):
        return
    level_loc = facts.env.get("NCCL_P2P_LEVEL", "").upper() == "LOC"
    if not (env_flag(facts, "NCCL_P2P_DISABLE") or level_loc):
        return
    pairs = _visible_pairs(facts, options)
    ok = sorted(p for p, s in pairs.items() if s.upper() == "OK")
    if not ok and not facts.nvidia.nvlinks:
        return
    evidence: list[tuple[str, str]] = [
        (k, facts.env[k]) for k in ("NCCL_P2P_DISABLE", "NCCL_P2P_LEVEL") if k in facts.env
    ]
    evidence += [(f"p2p GPU{p.replace('-', '-GPU')}", "OK") for p in ok]
    evidence += [
        (f"nvlink GPU{p.replace('-', '-GPU')}", f"{n} links") for p, n in sorted(facts.nvidia.nvlinks.items())
    ]
    yield make_finding(
        "nccl.p2p-disabled",
        "P2P is disabled by the environment although the GPUs support it; NCCL will go through host memory.",
        evidence,
    )


@fact_rule("nccl.imex-channel-missing")
def imex_channels(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """IMEX channel nodes exist when multi-node NVLink is requested.

    **What it checks.** When `NCCL_MNNVL_ENABLE=1` or `NVIDIA_IMEX_CHANNELS` asks for
    multi-node NVLink (GB200 NVL72 and similar), that at least one
    `/dev/nvidia-caps-imex-channels/channel<N>` node is present.

    **Why it matters.** Cross-node cuMem imports need an IMEX channel; without the node NCCL's
    MNNVL init fails, and vLLM (`vllm/env_override.py`) turns `NCCL_CUMEM_ENABLE` off when the
    directory is missing (failures.md #34, §4).

    **How to fix.** Request the channel from the runtime: NVIDIA toolkit
    `NVIDIA_IMEX_CHANNELS=0` (or CDI `nvidia.com/imex-channel=0`), or map
    `/dev/nvidia-caps-imex-channels/channel0` with `--device`; on Kubernetes, the NVIDIA DRA
    driver's ComputeDomain.
    """
    if not _is_cuda(facts, options) or not dev_listed(facts):
        return
    wanted = env_flag(facts, "NCCL_MNNVL_ENABLE") or facts.env.get(
        "NVIDIA_IMEX_CHANNELS", "none"
    ).lower() not in (
        "",
        "none",
        "void",
    )
    if not wanted:
        return
    channels = [n for n in facts.nodes_under("/dev/nvidia-caps-imex-channels/") if n.kind == "char"]
    if channels:
        return
    ev: list[tuple[str, str]] = [
        (k, facts.env[k]) for k in ("NCCL_MNNVL_ENABLE", "NVIDIA_IMEX_CHANNELS") if k in facts.env
    ]
    ev.append(("/dev/nvidia-caps-imex-channels", "no channel node"))
    yield make_finding(
        "nccl.imex-channel-missing", "Multi-node NVLink is requested but no IMEX channel node is present.", ev
    )


def _expandable_segments(facts: Facts) -> str | None:
    for var in ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF"):
        value = facts.env.get(var, "")
        if "expandable_segments:true" in value.replace(" ", "").lower():
            return var
    return None


@fact_rule("cuda.ipc-pidfd-denied")
def cuda_ipc_pidfd(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """PyTorch expandable segments can share memory across ranks (pidfd_getfd allowed).

    **What it checks.** With `expandable_segments:True` in `PYTORCH_CUDA_ALLOC_CONF` (or
    `PYTORCH_ALLOC_CONF`) and more than one rank: a live sibling pidfd probe that failed, or
    Yama `ptrace_scope` 3, or seccomp filtering / `ptrace_scope` 1-2 without CAP_SYS_PTRACE.

    **Why it matters.** CUDA VMM (cuMem) handles are POSIX fds that PyTorch duplicates from the
    peer with `pidfd_getfd`, which needs ptrace permission over a *sibling* process: `RuntimeError:
    pidfd_getfd: Operation not permitted` (failures.md #33; pytorch `CUDACachingAllocator.cpp`
    `ExpandableSegment::fromShared`, PR #130890). Docker's and containerd's default seccomp
    allow `pidfd_getfd` only with CAP_SYS_PTRACE.

    **How to fix.** `cap_add: [SYS_PTRACE]` keeping the default seccomp profile (never with
    `pid: host`), or turn expandable segments off for processes that share tensors.
    """
    if not _is_cuda(facts, options):
        return
    var = _expandable_segments(facts)
    tp = tp_size(facts, options, "cuda")
    if var is None or (tp is not None and tp < 2):
        return
    evidence: list[tuple[str, str]] = [(var, facts.env[var])]
    probe = facts.probes.pidfd_sibling_test if facts.probes else None
    reason = None
    confidence: Confidence = "suggests"
    if probe is not None:
        if probe.ok:
            return
        reason, confidence = f"the sibling pidfd_getfd probe failed ({probe.errno or probe.detail})", "proves"
        evidence.append(("probe pidfd_sibling_test", f"{probe.step}: {probe.errno}"))
    else:
        scope = facts.kernel.ptrace_scope
        ptrace = has_cap(facts, "SYS_PTRACE")
        if scope == 3:
            reason, confidence = "Yama ptrace_scope is 3 (no ptrace at all)", "proves"
        elif ptrace is False and scope in (1, 2):
            reason = f"Yama ptrace_scope={scope} and no CAP_SYS_PTRACE (ranks are siblings)"
            confidence = "proves"
        elif ptrace is False and facts.process.seccomp == 2:
            reason = "seccomp filtering without CAP_SYS_PTRACE (Docker/containerd default profile refuses pidfd_getfd)"
        if scope is not None:
            evidence.append(("/proc/sys/kernel/yama/ptrace_scope", str(scope)))
        if facts.process.cap_eff is not None:
            evidence.append(
                (
                    "/proc/self/status CapEff",
                    f"{facts.process.cap_eff:016x} (SYS_PTRACE={'yes' if ptrace else 'no'})",
                )
            )
    if reason is None:
        return
    yield make_finding(
        "cuda.ipc-pidfd-denied",
        f"Expandable segments share memory with pidfd_getfd, which is refused here: {reason}.",
        evidence,
        confidence=confidence,
    )


@fact_rule("nccl.cumem-host-fallback")
def cumem_host_fallback(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """NCCL's cuMem host allocations will fall back to /dev/shm.

    **What it checks.** Seccomp filtering without CAP_SYS_NICE while `NCCL_CUMEM_HOST_ENABLE`
    is not 0.

    **Why it matters.** NCCL ≥ 2.23 probes NUMA with `get_mempolicy`, which Docker's default
    seccomp refuses without CAP_SYS_NICE; it then logs `cuMem host allocations do not appear to
    be working; falling back to a /dev/shm/ based implementation` (NCCL
    `src/misc/cudawrap.cc:70-95`; failures.md #32). Harmless when /dev/shm is large enough.

    **How to fix.** Size /dev/shm (preferred), or `cap_add: [SYS_NICE]`, or
    `NCCL_CUMEM_HOST_ENABLE=0` on every rank. The other NUMA users (vLLM's CPU thread binding,
    oneCCL's membind) are `seccomp.numa-syscalls-denied`; both rules use one predicate
    (`rules.gpus.numa_syscalls_refused`).
    """
    if not _is_cuda(facts, options) or facts.env.get("NCCL_CUMEM_HOST_ENABLE", "").strip() == "0":
        return
    if numa_syscalls_refused(facts) is False:
        return
    yield make_finding(
        "nccl.cumem-host-fallback",
        "Seccomp filtering without CAP_SYS_NICE: NCCL's cuMem host allocations will use /dev/shm instead.",
        [("/proc/self/status", "Seccomp: 2, CAP_SYS_NICE absent")],
        related=["shm.too-small", "seccomp.numa-syscalls-denied"],
        confidence="suggests",
    )


@fact_rule("device.nvml-cgroup-lost")
def nvml_unknown_error(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """NVML fails with 'Unknown Error' while the NVIDIA nodes are present.

    **What it checks.** Live only: `nvmlInit` failed with "Unknown Error" although
    `/dev/nvidiactl` and GPU nodes exist.

    **Why it matters.** This is the signature of device cgroup rules lost after a host
    `systemctl daemon-reload` (runc + systemd cgroup driver): the nodes are there, every open is
    refused, and the container needs a restart.

    **How to fix.** Restart the container; on the host, let the NVIDIA toolkit create
    `/dev/char` symlinks (`nvidia-ctk system create-dev-char-symlinks`) or use the cgroupfs
    driver / CDI so rules survive a reload.
    """
    error = facts.nvidia.nvml_error or ""
    if not facts.live or "unknown error" not in error.lower() or not present(facts, "/dev/nvidiactl"):
        return
    yield make_finding(
        "device.nvml-cgroup-lost",
        "NVML cannot open the GPUs although their nodes are present: the device cgroup rules were lost.",
        [("nvmlInit", error)],
    )


# libnvidia-container bind-mounts each injected driver file on its own (src/nvc_mount.c mount_files),
# and so does a CDI spec: /proc/self/mounts then lists libcuda.so.<driver> when compute was injected.
# the library that shows each serving capability was injected
_MARKER_MOUNT = {
    "compute": re.compile(r"/libcuda\.so(\.\d+)*$"),
    "utility": re.compile(r"/libnvidia-ml\.so(\.\d+)*$"),
}
_DRIVER_LIB_MOUNT = re.compile(r"/lib(nvidia-[\w-]+|cuda|nvcuvid|GLX_nvidia|EGL_nvidia)\.so(\.\d+)*$")


@fact_rule("nvidia.driver-capabilities-missing")
def driver_capabilities(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The container asked the NVIDIA runtime for the driver libraries CUDA serving needs.

    **What it checks.** Inside a container with the CUDA backend: `NVIDIA_DRIVER_CAPABILITIES`,
    when set, includes `compute` (libcuda) and `utility` (nvidia-smi, NVML), or is `all`. The
    container's mounts decide how sure it is: libnvidia-container and CDI bind-mount each driver
    library, so driver libraries mounted without `libcuda.so.*` prove that compute was left out;
    a mounted `libcuda.so.*` means it was injected anyway (CDI ignores the variable), and nothing
    is reported. An empty value is the toolkit's default (`utility,compute` since v1.4.0).

    **Why it matters.** The legacy runtime hook passes one `--compute`/`--utility`/`--video`/...
    flag per listed capability to `nvidia-container-cli`, which mounts only those libraries
    (libnvidia-container src/nvc_info.c). Without compute, `libcuda.so.1: cannot open shared
    object file`, torch's "Found no NVIDIA driver on your system" and CUDA error 35 "CUDA driver
    version is insufficient" follow although the driver is fine; without utility, nvidia-smi and
    NVML are absent: vLLM detects its CUDA platform through NVML (vllm/platforms/__init__.py
    cuda_platform_plugin) and NCCL reads the topology through it, so both are blockers. The CUDA base images set
    `compute,utility`; a compose file or `-e` that sets `utility` or `video` alone replaces it.

    **How to fix.** Set `NVIDIA_DRIVER_CAPABILITIES=compute,utility` (plus `video` or `graphics`
    if the workload encodes or renders), or `all`, where the container is created; or inject the
    GPUs through CDI.
    """
    value = facts.env.get(driver_caps.VARIABLE)
    if value is None or not _is_cuda(facts, options) or in_container(facts) is False:
        return
    missing = driver_caps.missing_for_serving(value)
    if not missing:
        return
    mounted = [m.target for m in facts.mounts if _DRIVER_LIB_MOUNT.search(m.target)]
    # a capability whose library is mounted anyway was injected (CDI ignores the variable)
    missing = [c for c in missing if not any(_MARKER_MOUNT[c].search(t) for t in mounted)]
    if not missing:
        return
    proven = bool(mounted)  # the hook ran (driver files are mounted) and left these out
    evidence: list[tuple[str, str]] = [(driver_caps.VARIABLE, value)]
    if mounted:
        evidence.append(("/proc/self/mounts", f"{len(mounted)} driver libraries mounted, e.g. {mounted[0]}"))
    what = driver_caps.libraries_of(missing)
    yield make_finding(
        "nvidia.driver-capabilities-missing",
        f"{driver_caps.VARIABLE}={value or '(empty)'} leaves out {', '.join(missing)}, so the NVIDIA runtime does "
        f"not inject {what}."
        + (" The driver libraries mounted here do not include them." if proven else ""),
        evidence,
        confidence="proves" if proven else "suggests",
    )


@fact_rule("nvidia.driver-libs-off-library-path")
def driver_libs_on_loader_path(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The CUDA driver library in the container is where the dynamic loader looks for it.

    **What it checks.** Inside a container with the CUDA backend: some `libcuda.so.1` is in the
    root (the loader's directories, or where runtimes mount the driver off them:
    `/usr/local/nvidia/lib64`, `/usr/lib/wsl/lib`, ...), yet none is in an `LD_LIBRARY_PATH`
    directory, listed by `/etc/ld.so.cache`, or in glibc's default directories
    (facts/driver_libs.py reads the cache as glibc's dl-cache.h lays it out).

    **Why it matters.** CUDA and NVML are loaded by name (`dlopen("libcuda.so.1")`), so a driver
    that is present but off the search path is the same as no driver: torch finds no GPU, vLLM
    reports "No platform detected" or cannot infer the device type, Triton fails to link
    `-l:libcuda.so.1`. GKE's device plugin mounts the host driver at `/usr/local/nvidia/lib64`
    without the toolkit's ldconfig hook and relies on the image's `LD_LIBRARY_PATH`; CUDA
    12.9-based images (vLLM >= 0.9) stopped setting it
    (GoogleCloudPlatform/container-engine-accelerators#492, vllm-project/vllm#19814).

    **How to fix.** Put the directory on `LD_LIBRARY_PATH` where the container is defined
    (keeping the image's other directories), or register it with ldconfig in the image.
    """
    lib = facts.nvidia.libcuda
    if lib is None or not lib.found or not _is_cuda(facts, options) or in_container(facts) is not True:
        return
    searched = {*lib.ld_library_path, *GLIBC_DEFAULT_DIRS}
    cached = set(lib.ld_cache)
    if any(posixpath.dirname(p) in searched or p in cached for p in lib.found):
        return
    where = posixpath.dirname(lib.found[0])
    cache = (", ".join(lib.ld_cache) or "lists no libcuda.so.1") if lib.ld_cache_read else "could not be read"
    evidence = [
        (lib.found[0], "libcuda.so.1 is here"),
        ("LD_LIBRARY_PATH", ":".join(lib.ld_library_path) or "(unset)"),
        ("/etc/ld.so.cache", cache),
    ]
    yield make_finding(
        "nvidia.driver-libs-off-library-path",
        f"libcuda.so.1 is in this container at {where}, but that directory is neither on LD_LIBRARY_PATH nor in "
        "the ld cache: CUDA and NVML will not load, and the GPUs look absent.",
        evidence,
        confidence="proves" if lib.ld_cache_read else "suggests",
        context=fix_context(extra={"driver_lib_dir": where}),
    )


# a file `nvidia-ctk cdi generate` names by the driver's version: a versioned NVIDIA user-space library
# (pkg/nvcdi driver-nvml.go) or GSP firmware under /lib/firmware/nvidia/<version>/ (the same forms as
# the explain signatures cdi.spec-driver-files-stale*)
_VERSIONED_DRIVER_FILE = re.compile(
    r"/(?:lib(?:cuda|nvidia-[a-z0-9_-]+|nvcuvid|nvoptix|cudadebugger|EGL_nvidia|GLX_nvidia|GLESv2_nvidia|"
    r"GLESv1_CM_nvidia)\.so\.\d+\.\d+(?:\.\d+)?|firmware/nvidia/\d+\.\d+(?:\.\d+)?/[^/]+)$"
)


@fact_rule("runtime.cdi-spec-stale")
def cdi_spec_names_present_driver(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The host's CDI specs name driver files the host has.

    **What it checks.** Each spec in /etc/cdi and /var/run/cdi (`*.yaml`, `*.json`, read as the
    engines read them: facts/cdi.py): the host paths of its mounts, device nodes and hooks, and
    whether each exists. A versioned NVIDIA library (`libcuda.so.550.54.15`,
    `libEGL_nvidia.so.550.135`) or firmware file that is gone is this finding. Nothing is said
    inside a container (the specs are the host's) or when no spec is there.

    **Why it matters.** `nvidia-ctk cdi generate` writes the driver's files by their versioned
    names; a driver upgrade replaces them, and until the spec is regenerated every container that
    asks for the GPU through CDI (`podman --device nvidia.com/gpu=all`, `docker --device
    nvidia.com/gpu=0`, a CDI-enabled device plugin) fails to start: runc's `error mounting
    "...libcuda.so.<old>" to rootfs at`, crun's ``cannot stat `...so.<old>` ``.

    **How to fix.** Regenerate the spec where it lies (`nvidia-ctk cdi generate --output=<that
    file>`), or enable toolkit 1.18's nvidia-cdi-refresh units, which regenerate
    /var/run/cdi/nvidia.yaml after each driver change, and remove a hand-made copy.
    """
    if in_container(facts) is True:
        return
    for spec in facts.cdi_specs:
        gone = [p for p in spec.missing if _VERSIONED_DRIVER_FILE.search(p)]
        if not gone:
            continue
        more = f" and {len(gone) - 3} more" if len(gone) > 3 else ""
        yield make_finding(
            "runtime.cdi-spec-stale",
            f"The CDI spec {spec.path} ({spec.kind or 'no kind'}) names driver files this host no longer has "
            f"({', '.join(gone[:3])}{more}): it was generated for a driver an upgrade replaced, and a container "
            "given the GPU through it will not start.",
            [(spec.path, f"names {p}, which does not exist") for p in gone[:3]],
            # whether the GPUs go through CDI (podman, --device nvidia.com/gpu=, a CDI device plugin) or the
            # legacy hook, which reads no spec, is the launch's choice
            confidence="suggests",
        )
