"""The environment variables tpdoctor knows, with their valid values (research/failures.md §4).

A spec is a small validator: `values` (case-insensitive set), `kind` ('int', 'bool', 'path/',
'regex', 'any') and the severity an invalid value earns (oneCCL refuses unknown enum values at
init, so those are blockers; most others are silently ignored).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from tpdoctor.model import SeverityName

PREFIXES = ("CCL_", "FI_", "ZE_", "ONEAPI_", "SYCL_", "NCCL_", "VLLM_")


@dataclass(frozen=True)
class EnvSpec:
    """What one environment variable accepts, and who reads it."""

    consumer: str
    kind: str = "any"  # any | bool | int | values | path/ | regex | ip
    values: tuple[str, ...] = ()
    pattern: str = ""
    minimum: int | None = None
    invalid_severity: SeverityName = "degraded"
    note: str = ""

    def problem(self, value: str) -> str | None:
        """Why `value` is invalid, or None when it is acceptable."""
        v = value.strip()
        if self.kind == "bool" and v not in ("0", "1"):
            return "expected 0 or 1"
        if self.kind == "int":
            if not re.fullmatch(r"-?\d{1,18}", v):
                return "expected an integer" if not re.fullmatch(r"-?\d+", v) else "an integer far too large"
            if self.minimum is not None and int(v) < self.minimum:
                return f"expected an integer >= {self.minimum}"
        if self.kind == "values" and v.lower() not in {x.lower() for x in self.values}:
            return f"expected one of {', '.join(self.values)}"
        if self.kind == "path/" and not v.endswith("/"):
            return "the path must end in '/' (oneCCL appends entry names without a separator)"
        if self.kind == "regex" and not re.fullmatch(self.pattern, v):
            return f"expected {self.note or self.pattern}"
        if self.kind == "ip":
            try:
                ipaddress.ip_address(v)
            except ValueError:
                return "expected an IP address"
        return None


_B = EnvSpec
_LIST_OF_CPUS = r"auto|(\d+(-\d+)?)([ ,]\d+(-\d+)?)*"
_ZE_MASK = r"\d+(\.\d+)?(,\d+(\.\d+)?)*"
_SELECTOR = r"!?[\w*]+:[\w*.,]+(;!?[\w*]+:[\w*.,]+)*"
_FI_PROVIDERS = ("shm", "tcp", "sockets", "verbs", "psm2", "psm3", "efa", "cxi", "udp", "opx", "rxm", "rxd")

KNOWN: dict[str, EnvSpec] = {
    # SYCL / DPC++ runtime
    "SYCL_CACHE_PERSISTENT": _B("SYCL runtime", "bool"),
    "SYCL_CACHE_DIR": _B("SYCL runtime"),
    "SYCL_PI_LEVEL_ZERO_USE_IMMEDIATE_COMMANDLISTS": _B("SYCL runtime", "values", ("0", "1", "2")),
    "SYCL_UR_USE_LEVEL_ZERO_V2": _B("SYCL runtime", "bool"),
    "SYCL_DEVICE_FILTER": _B("SYCL runtime (deprecated: use ONEAPI_DEVICE_SELECTOR)"),
    # oneCCL
    "CCL_WORKER_COUNT": _B("oneCCL", "int", minimum=1, invalid_severity="blocker"),
    "CCL_WORKER_AFFINITY": _B("oneCCL", "regex", pattern=_LIST_OF_CPUS, note="'auto' or a list of CPU ids"),
    "CCL_ATL_TRANSPORT": _B("oneCCL", "values", ("ofi", "mpi"), invalid_severity="blocker"),
    "CCL_ATL_SHM": _B("oneCCL", "bool"),
    "CCL_ZE_IPC_EXCHANGE": _B(
        "oneCCL", "values", ("pidfd", "drmfd", "sockets", "none"), invalid_severity="blocker"
    ),
    "CCL_DRMFD_DEV_RENDER_DIR_PATH": _B("oneCCL >= 2021.13.1", "path/", invalid_severity="blocker"),
    "CCL_DRMFD_DEV_RENDER_SUFFIX": _B("oneCCL >= 2021.13.1"),
    "CCL_SAME_STREAM": _B("torch-ccl", "bool"),
    "CCL_BLOCKING_WAIT": _B("torch-ccl", "bool"),
    "CCL_TOPO_FABRIC_VERTEX_CONNECTION_CHECK": _B("oneCCL", "bool"),
    "CCL_TOPO_P2P_ACCESS": _B("oneCCL", "bool"),
    "CCL_ZE_ENABLE": _B("oneCCL", "bool"),
    "CCL_LOCAL_RANK": _B("oneCCL", "int", minimum=0),
    "CCL_LOCAL_SIZE": _B("oneCCL", "int", minimum=1),
    "CCL_PROCESS_LAUNCHER": _B(
        "oneCCL", "values", ("hydra", "torchrun", "pmix", "none"), invalid_severity="blocker"
    ),
    "CCL_LOG_LEVEL": _B("oneCCL", "values", ("error", "warn", "info", "debug", "trace")),
    "CCL_KVS_IFACE": _B("oneCCL"),
    "CCL_KVS_CONNECTION_TIMEOUT": _B("oneCCL", "int", minimum=1),
    "CCL_DG2_ALLREDUCE": _B("oneCCL (ipex-llm)", "bool"),
    "CCL_ROOT": _B("oneCCL setvars.sh"),
    "CCL_CONFIGURATION": _B("oneCCL setvars.sh", "values", ("cpu", "cpu_gpu_dpcpp")),
    "CCL_CONFIGURATION_PATH": _B("oneCCL setvars.sh"),
    # oneCCL algorithm selection (oneCCL docs, "Collective Algorithms Selection"): CCL_<COLL>=<algo>[:range]
    "CCL_ALLREDUCE": _B("oneCCL"),
    "CCL_ALLGATHERV": _B("oneCCL"),
    "CCL_REDUCE_SCATTER": _B("oneCCL"),
    "CCL_ALLREDUCE_SCALEOUT": _B("oneCCL"),
    "CCL_REDUCE_SCATTER_MONOLITHIC_KERNEL": _B("oneCCL", "bool"),
    "CCL_ALLGATHERV_MONOLITHIC_PIPELINE_KERNEL": _B("oneCCL", "bool"),
    # libfabric
    "FI_PROVIDER": _B("libfabric", "regex", pattern=r"\^?[\w;,]+", note="provider names, e.g. shm or tcp"),
    "FI_PROVIDER_PATH": _B("libfabric"),
    "FI_TCP_IFACE": _B("libfabric"),
    "FI_SHM_DISABLE_CMA": _B("libfabric", "bool"),
    "FI_LOG_LEVEL": _B("libfabric", "values", ("warn", "trace", "info", "debug")),
    "FI_HMEM": _B("libfabric"),
    # Level Zero / oneAPI
    "ZE_AFFINITY_MASK": _B(
        "Level Zero", "regex", pattern=_ZE_MASK, note="device indices such as 0,1 or 0.0,1.1"
    ),
    "ZE_FLAT_DEVICE_HIERARCHY": _B("Level Zero", "values", ("FLAT", "COMPOSITE", "COMBINED")),
    "ZE_ENABLE_PCI_ID_DEVICE_ORDER": _B("Level Zero", "bool"),
    "ONEAPI_DEVICE_SELECTOR": _B(
        "SYCL runtime",
        "regex",
        pattern=_SELECTOR,
        note="backend:devices, e.g. level_zero:0,1 (a colon, not '/')",
    ),
    "ONEAPI_ROOT": _B("oneAPI setvars.sh"),
    # NCCL
    "NCCL_P2P_DISABLE": _B("NCCL", "bool"),
    "NCCL_P2P_LEVEL": _B(
        "NCCL", "regex", pattern=r"(?i)LOC|NVL|PIX|PXB|PHB|SYS|[0-5]", note="LOC, NVL, PIX, PXB, PHB or SYS"
    ),
    "NCCL_SHM_DISABLE": _B("NCCL", "bool"),
    "NCCL_IB_DISABLE": _B("NCCL", "bool"),
    "NCCL_CUMEM_ENABLE": _B("NCCL", "values", ("0", "1", "-2")),
    "NCCL_CUMEM_HOST_ENABLE": _B("NCCL", "values", ("0", "1", "-2")),
    "NCCL_NVLS_ENABLE": _B("NCCL", "values", ("0", "1", "2")),
    "NCCL_MNNVL_ENABLE": _B("NCCL", "values", ("0", "1", "2")),
    "NCCL_SOCKET_IFNAME": _B(
        "NCCL", "regex", pattern=r"\S+", note="an interface prefix list such as eth0 or ^docker"
    ),
    "NCCL_SOCKET_NTHREADS": _B("NCCL", "int", minimum=1),
    "NCCL_NSOCKS_PERTHREAD": _B("NCCL", "int", minimum=1),
    "NCCL_DEBUG": _B("NCCL", "values", ("VERSION", "WARN", "INFO", "ABORT", "TRACE")),
    "NCCL_DEBUG_SUBSYS": _B("NCCL"),
    "NCCL_DEBUG_FILE": _B("NCCL"),
    "NCCL_HOSTID": _B("NCCL"),
    "NCCL_IGNORE_DISABLED_P2P": _B("NCCL", "bool"),
    "NCCL_IB_HCA": _B("NCCL"),
    "NCCL_IB_GID_INDEX": _B("NCCL", "int", minimum=0),
    "NCCL_IB_TIMEOUT": _B("NCCL", "int", minimum=1),
    "NCCL_IB_RETRY_CNT": _B("NCCL", "int", minimum=0),
    "NCCL_NET": _B("NCCL"),
    "NCCL_NET_PLUGIN": _B("NCCL"),
    "NCCL_NET_GDR_LEVEL": _B("NCCL"),
    "NCCL_CROSS_NIC": _B("NCCL", "values", ("0", "1", "2")),
    "NCCL_ALGO": _B("NCCL"),
    "NCCL_PROTO": _B("NCCL"),
    "NCCL_BUFFSIZE": _B("NCCL", "int", minimum=1),
    "NCCL_MIN_NCHANNELS": _B("NCCL", "int", minimum=1),
    "NCCL_MAX_NCHANNELS": _B("NCCL", "int", minimum=1),
    "NCCL_MIN_CTAS": _B("NCCL >= 2.17 / RCCL", "int", minimum=1),
    "NCCL_MAX_CTAS": _B("NCCL >= 2.17 / RCCL", "int", minimum=1),
    "NCCL_NTHREADS": _B("NCCL", "values", ("64", "128", "256", "512")),
    "NCCL_LAUNCH_MODE": _B("NCCL", "values", ("PARALLEL", "GROUP")),
    "NCCL_TOPO_FILE": _B("NCCL"),
    "NCCL_TOPO_DUMP_FILE": _B("NCCL"),
    "NCCL_GRAPH_FILE": _B("NCCL"),
    "NCCL_COLLNET_ENABLE": _B("NCCL", "bool"),
    "NCCL_SHM_USE_CUDA_MEMCPY": _B("NCCL", "bool"),
    "NCCL_ASYNC_ERROR_HANDLING": _B("PyTorch (deprecated: TORCH_NCCL_ASYNC_ERROR_HANDLING)"),
    "NCCL_BLOCKING_WAIT": _B("PyTorch (deprecated: TORCH_NCCL_BLOCKING_WAIT)"),
    "NCCL_VERSION": _B("NVIDIA container images (informational)"),
    "NCCL_LIB_DIR": _B("build scripts"),
    # vLLM
    "VLLM_HOST_IP": _B("vLLM", "ip"),
    "VLLM_PORT": _B("vLLM", "int", minimum=1),
    "VLLM_WORKER_MULTIPROC_METHOD": _B("vLLM", "values", ("fork", "spawn")),
    "VLLM_CACHE_ROOT": _B("vLLM"),
    "VLLM_LOGGING_LEVEL": _B("vLLM", "values", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    "VLLM_CONFIGURE_LOGGING": _B("vLLM", "bool"),
    "VLLM_USE_V1": _B("vLLM", "bool"),
    "VLLM_SKIP_P2P_CHECK": _B("vLLM", "bool"),
    "VLLM_ATTENTION_BACKEND": _B("vLLM"),
    "VLLM_TARGET_DEVICE": _B("vLLM build", "values", ("cuda", "rocm", "xpu", "cpu", "neuron", "tpu", "hpu")),
    "VLLM_NCCL_SO_PATH": _B("vLLM"),
    "VLLM_RPC_TIMEOUT": _B("vLLM", "int", minimum=1),
    "VLLM_ENGINE_ITERATION_TIMEOUT_S": _B("vLLM", "int", minimum=1),
    "VLLM_ALLOW_LONG_MAX_MODEL_LEN": _B("vLLM", "bool"),
    "VLLM_USE_RAY_SPMD_WORKER": _B("vLLM", "bool"),
    "VLLM_USE_RAY_COMPILED_DAG": _B("vLLM", "bool"),
    "VLLM_API_KEY": _B("vLLM"),
    "VLLM_ENABLE_V1_MULTIPROCESSING": _B("vLLM", "bool"),
}

# The ipex-llm article's recommended set: what each does, and where it is wrong.
ARTICLE_SET: dict[str, tuple[str, str]] = {
    "SYCL_CACHE_PERSISTENT": (
        "1 persists JIT-compiled SYCL kernels to SYCL_CACHE_DIR (default ~/.cache/libsycl_cache), saving start-up time.",
        "wrong with a read-only root filesystem and no writable cache dir: writes fail silently and every start recompiles.",
    ),
    "CCL_WORKER_COUNT": (
        "2 starts two oneCCL progress workers per rank (oneCCL's docs advise 1 for GPU buffers).",
        "each worker is pinned to one of the host's last cores (CCL_WORKER_AFFINITY=auto); under a cpuset that excludes "
        "them worker start fails (oneccl.worker-affinity): set CCL_WORKER_AFFINITY to CPUs inside the cpuset.",
    ),
    "FI_PROVIDER": (
        "shm makes libfabric use shared memory plus process_vm_readv/writev (CMA) between ranks of one node.",
        "wrong across nodes (use tcp or verbs); needs a large /dev/shm; CMA is subject to ptrace rules "
        "(FI_SHM_DISABLE_CMA=1 avoids it); FI_PROVIDER_PATH must reach the provider if setvars.sh is not sourced.",
    ),
    "CCL_ATL_TRANSPORT": (
        "ofi makes oneCCL's transport layer use libfabric instead of MPI (what torchrun and vLLM need).",
        "rarely wrong; without it oneCCL switches to ofi by itself and logs a warning.",
    ),
    "CCL_ZE_IPC_EXCHANGE": (
        "sockets passes GPU IPC handles over AF_UNIX sockets in /tmp instead of pidfd or drmfd.",
        "oneCCL >= 2021.14 silently replaces it with drmfd when the pidfd self-test fails (oneCCL issue #213), which "
        "then needs /dev/dri/by-path; sockets cannot do send/recv, so pipeline parallel fails; needs a writable shared /tmp.",
    ),
}
ARTICLE_VALUES = {
    "SYCL_CACHE_PERSISTENT": "1",
    "CCL_WORKER_COUNT": "2",
    "FI_PROVIDER": "shm",
    "CCL_ATL_TRANSPORT": "ofi",
    "CCL_ZE_IPC_EXCHANGE": "sockets",
}
FI_PROVIDERS = _FI_PROVIDERS
