"""Misspelt NCCL_/CUDA_ variable names in a command the log quotes (issue 13, glearn20c).

NCCL reads only the names it declares: every `NCCL_PARAM(Name, "SUFFIX", default)` reads "NCCL_" + SUFFIX through
ncclLoadParam (src/include/param.h, src/misc/param.cc), and a few are read by name with ncclGetEnv/getenv. A name it
does not declare is never read, and nothing says so: `-e NCCL_SHM_DISBLAE=1` leaves SHM on (h2oai/h2ogpt#295). The CUDA
driver and runtime read the names of the CUDA C Programming Guide's "CUDA Environment Variables" appendix.

A name is called a typo only when it is one slip away from a real name: the same `_`-separated words but one, and that
one within two edits of the real word and not itself a word of the vocabulary (so a real variable this list lacks, e.g.
NCCL_RMA_ENABLE beside NCCL_GIN_ENABLE, is never flagged), or a trailing S dropped or added, or the same letters with
`_` moved (NCCL_P2PDISABLE). vLLM names are left to vLLM's own "Unknown vLLM environment variable" warning.
"""

from __future__ import annotations

import re

# NVIDIA/nccl src/ at v2.4.8-1, v2.8.4-1, v2.12.12-1, v2.18.5-1, v2.21.5-1, v2.23.4-1, v2.26.2-1, v2.27.7-1 and
# 5067397 (2026-06): every NCCL_PARAM name and every "NCCL_..." string; plus the NCCL_ names that PyTorch
# (ProcessGroupNCCL: NCCL_ASYNC_ERROR_HANDLING, NCCL_BLOCKING_WAIT, NCCL_DESYNC_DEBUG, NCCL_ENABLE_TIMING), the
# plugin loaders and build systems read, and the NCCL_VERSION of NVIDIA's images.
NCCL_NAMES = frozenset({
    "NCCL_AGG_ALLOC_MODE", "NCCL_AGG_CHANNEL_SIZE", "NCCL_ALGO", "NCCL_ALLGATHERV_ENABLE",
    "NCCL_ALLOC_P2P_NET_LL_BUFFERS", "NCCL_ASYNC_ERROR_HANDLING", "NCCL_BLOCKING_WAIT", "NCCL_BUFFSIZE",
    "NCCL_CGA_CLUSTER_SIZE", "NCCL_CHECK_MODE", "NCCL_CHECK_POINTERS", "NCCL_CHUNK_SIZE", "NCCL_COLLNET_ENABLE",
    "NCCL_COLLNET_NODE_THRESHOLD", "NCCL_COMM_BLOCKING", "NCCL_COMM_ID", "NCCL_COMM_PROPERTIES_INITIALIZER",
    "NCCL_COMM_SHRINK_SHARE_RESOURCES", "NCCL_COMM_SPLIT_SHARE_RESOURCES", "NCCL_CONF_FILE",
    "NCCL_CONNECT_ROUND_MAX_PEERS", "NCCL_CREATE_THREAD_CONTEXT", "NCCL_CROSS_NIC", "NCCL_CTA_POLICY",
    "NCCL_CUDA_PATH", "NCCL_CUMEM_ENABLE", "NCCL_CUMEM_HOST_ENABLE", "NCCL_DEBUG", "NCCL_DEBUG_FILE",
    "NCCL_DEBUG_SUBSYS", "NCCL_DEBUG_TIMESTAMP_FORMAT", "NCCL_DEBUG_TIMESTAMP_LEVELS", "NCCL_DESYNC_DEBUG",
    "NCCL_DEV_API_JIT", "NCCL_DEV_COMM_REQUIREMENTS_INITIALIZER", "NCCL_DISABLE_MEM_MANAGER", "NCCL_DMABUF_ENABLE",
    "NCCL_ELASTIC_BUFFER_REGISTER", "NCCL_ENABLE_TIMING", "NCCL_ENABLE_VERSION_CHECK", "NCCL_ENV_PLUGIN",
    "NCCL_GDAKI_USE_RELIABLE_DB", "NCCL_GDRCOPY_ENABLE", "NCCL_GDRCOPY_FIFO_ENABLE", "NCCL_GDRCOPY_FLUSH_ENABLE",
    "NCCL_GDRCOPY_SYNC_ENABLE", "NCCL_GDR_FLUSH_DISABLE", "NCCL_GIN_CONNECTION_RAIL", "NCCL_GIN_ENABLE",
    "NCCL_GIN_ERROR_QUERY_SEC", "NCCL_GIN_GDAKI_MAX_DEST_RD_ATOMIC", "NCCL_GIN_GDAKI_MAX_QP_RD_ATOMIC",
    "NCCL_GIN_GDAKI_NIC_HANDLER", "NCCL_GIN_GDAKI_QP_DEPTH", "NCCL_GIN_IB_TC", "NCCL_GIN_NCONNECTIONS",
    "NCCL_GIN_PLUGIN", "NCCL_GIN_PLUGIN_REF_COUNT", "NCCL_GIN_PROXY_QUEUE_SIZE", "NCCL_GIN_TYPE",
    "NCCL_GRAPH_DUMP_FILE", "NCCL_GRAPH_DUMP_FILE_RANK", "NCCL_GRAPH_FILE", "NCCL_GRAPH_HELPER_DISABLE",
    "NCCL_GRAPH_MIXING_SUPPORT", "NCCL_GRAPH_REGISTER", "NCCL_GRAPH_STREAM_ORDERING", "NCCL_GROUP_CUDA_STREAM",
    "NCCL_HOME", "NCCL_HOSTID", "NCCL_IBVERBS_LIB", "NCCL_IB_ADAPTIVE_ROUTING", "NCCL_IB_ADDR_FAMILY",
    "NCCL_IB_ADDR_RANGE", "NCCL_IB_AR_THRESHOLD", "NCCL_IB_DATA_DIRECT", "NCCL_IB_DEVICE_PCI_ORDER",
    "NCCL_IB_DISABLE", "NCCL_IB_ECE_ENABLE", "NCCL_IB_FIFO_TC", "NCCL_IB_GID_INDEX", "NCCL_IB_HCA",
    "NCCL_IB_MERGE_NICS", "NCCL_IB_MERGE_VFS", "NCCL_IB_MQP_RETRY_ALL", "NCCL_IB_MQP_RETRY_CNT",
    "NCCL_IB_MQP_RETRY_SLEEP_MSEC", "NCCL_IB_OOO_RQ", "NCCL_IB_PCI_RELAXED_ORDERING", "NCCL_IB_PKEY",
    "NCCL_IB_PREPOST_RECEIVE_WORK_REQUESTS", "NCCL_IB_QPS_PER_CONNECTION", "NCCL_IB_QUERY_PORT_SPEED",
    "NCCL_IB_RECEIVER_SIDE_MATCHING_SCHEME", "NCCL_IB_RESILIENCY_PORT_FAILOVER",
    "NCCL_IB_RESILIENCY_PORT_FAILOVER_MAX_ATTEMPTS", "NCCL_IB_RESILIENCY_PORT_FAILOVER_PROBE_DELAY",
    "NCCL_IB_RESILIENCY_PORT_RECOVERY", "NCCL_IB_RESILIENCY_PORT_RECOVERY_ACK_TIMEOUT",
    "NCCL_IB_RESILIENCY_PORT_RECOVERY_ALIVE_MSG_BATCH_INTERVAL",
    "NCCL_IB_RESILIENCY_PORT_RECOVERY_ALIVE_MSG_BATCH_SIZE",
    "NCCL_IB_RESILIENCY_PORT_RECOVERY_ALIVE_MSG_SEQUENCE_SIZE", "NCCL_IB_RESILIENCY_PORT_RECOVERY_ALIVE_MSG_TIMEOUT",
    "NCCL_IB_RESILIENCY_PORT_RECOVERY_ATTEMPTS_MAX", "NCCL_IB_RESILIENCY_PORT_RECOVERY_START_DELAY",
    "NCCL_IB_RETRY_CNT", "NCCL_IB_RETURN_ASYNC_EVENTS", "NCCL_IB_ROCE_VERSION_NUM",
    "NCCL_IB_ROUTABLE_FLID_GID_INDEX", "NCCL_IB_SL", "NCCL_IB_SPLIT_DATA_ON_QPS", "NCCL_IB_SUBNET_AWARE_ROUTING",
    "NCCL_IB_SUBNET_PREFIX_LEN", "NCCL_IB_TC", "NCCL_IB_TIMEOUT", "NCCL_IB_USE_INLINE", "NCCL_IB_WARN_RAIL_LOCAL",
    "NCCL_IGNORE_COLLNET_MISMATCH", "NCCL_IGNORE_CPU_AFFINITY", "NCCL_IGNORE_DISABLED_P2P",
    "NCCL_IGNORE_NET_MISMATCH", "NCCL_INCLUDE_DIR", "NCCL_IPC_USE_ABSTRACT_SOCKET", "NCCL_L1_SHARED_MEMORY_CARVEOUT",
    "NCCL_LAUNCH_MODE", "NCCL_LAUNCH_ORDER_IMPLICIT", "NCCL_LAUNCH_RACE_FATAL", "NCCL_LEGACY_CUDA_REGISTER",
    "NCCL_LIBRARY", "NCCL_LIB_DIR", "NCCL_LL128_BUFFSIZE", "NCCL_LL128_C2C", "NCCL_LL128_NTHREADS",
    "NCCL_LL_BUFFSIZE", "NCCL_LL_THRESHOLD", "NCCL_LOCAL_REGISTER", "NCCL_LSA_TEAM_SIZE", "NCCL_MAX_CTAS",
    "NCCL_MAX_NCHANNELS", "NCCL_MAX_NRINGS", "NCCL_MAX_P2P_NCHANNELS", "NCCL_MEM_SYNC_DOMAIN", "NCCL_MIN_CTAS",
    "NCCL_MIN_NCHANNELS", "NCCL_MIN_NRINGS", "NCCL_MIN_P2P_NCHANNELS", "NCCL_MLOPART_RDMA_ENABLE",
    "NCCL_MNNVL_CLIQUE_ID", "NCCL_MNNVL_CROSS_CLIQUE", "NCCL_MNNVL_ENABLE", "NCCL_MNNVL_RAIL_PER_HOST",
    "NCCL_MNNVL_SCATTER_NETS_ENABLE", "NCCL_MNNVL_UUID", "NCCL_MULTI_RANK_GPU_ENABLE", "NCCL_MULTI_SEGMENT_REGISTER",
    "NCCL_NCHANNELS_PER_NET_PEER", "NCCL_NET", "NCCL_NETDEVS_POLICY", "NCCL_NET_DISABLE_INTRA",
    "NCCL_NET_FORCE_FLUSH", "NCCL_NET_FORCE_MERGE", "NCCL_NET_GDR_C2C", "NCCL_NET_GDR_LEVEL", "NCCL_NET_GDR_MLOPART",
    "NCCL_NET_GDR_READ", "NCCL_NET_MERGE_LEVEL", "NCCL_NET_MERGE_POLICY", "NCCL_NET_OPTIONAL_RECV_COMPLETION",
    "NCCL_NET_OVERHEAD", "NCCL_NET_PLUGIN", "NCCL_NET_PLUGIN_REF_COUNT", "NCCL_NET_SHARED_BUFFERS",
    "NCCL_NET_SHARED_COMMS", "NCCL_NO_CACHE", "NCCL_NSOCKS_PERTHREAD", "NCCL_NTHREADS", "NCCL_NUM_RMA_CTX",
    "NCCL_NVB_DISABLE", "NCCL_NVB_PRECONNECT", "NCCL_NVLINK_UTIL_CENTRIC_SCHED_ENABLE",
    "NCCL_NVLSTREE_MAX_CHUNKSIZE", "NCCL_NVLS_CHUNKSIZE", "NCCL_NVLS_ENABLE", "NCCL_NVLS_NCHANNELS",
    "NCCL_NVTX_DISABLE", "NCCL_OOB_NET_ENABLE", "NCCL_OOB_NET_IFNAME", "NCCL_P2P_DIRECT_DISABLE", "NCCL_P2P_DISABLE",
    "NCCL_P2P_EPOCH_ENABLE", "NCCL_P2P_LEVEL", "NCCL_P2P_LL_THRESHOLD", "NCCL_P2P_MAX_PEERS",
    "NCCL_P2P_NET_CHUNKSIZE", "NCCL_P2P_NVL_CHUNKSIZE", "NCCL_P2P_PCI_CHUNKSIZE", "NCCL_P2P_PER_CHANNEL_NET_BW",
    "NCCL_P2P_PXN_LEVEL", "NCCL_P2P_READ_ENABLE", "NCCL_P2P_SCHEDULE_GROUP_SIZE", "NCCL_P2P_USE_CUDA_MEMCPY",
    "NCCL_PARAM_DUMP_ALL", "NCCL_PAT_ENABLE", "NCCL_PROFILER_PLUGIN", "NCCL_PROGRESS_APPENDOP_FREQ", "NCCL_PROTO",
    "NCCL_PROXY_APPEND_BATCH_SIZE", "NCCL_PROXY_CPUSET", "NCCL_PROXY_DUMP_SIGNAL", "NCCL_PROXY_PROFILE",
    "NCCL_PXN_C2C", "NCCL_PXN_DISABLE", "NCCL_RAS_ADDR", "NCCL_RAS_ENABLE", "NCCL_RAS_TIMEOUT_FACTOR",
    "NCCL_REPORT_CONNECT_PROGRESS", "NCCL_RINGS", "NCCL_RMA_DISABLE", "NCCL_RMA_PLUGIN", "NCCL_RMA_PLUGIN_REF_COUNT",
    "NCCL_RMA_PROXY_DUMP_SIGNAL", "NCCL_RMA_PROXY_QUEUE_SIZE", "NCCL_ROOT", "NCCL_ROOT_DIR", "NCCL_RUNTIME_CONNECT",
    "NCCL_SET_CPU_STACK_SIZE", "NCCL_SET_STACK_SIZE", "NCCL_SET_THREAD_NAME", "NCCL_SHADOW_MEMPOOL_MAX_SIZE",
    "NCCL_SHARED_BUFF_COUNT", "NCCL_SHM_DISABLE", "NCCL_SHM_LOCALITY", "NCCL_SHM_MEMCPY_MODE",
    "NCCL_SHM_USE_CUDA_MEMCPY", "NCCL_SINGLE_PROC_MEM_REG_ENABLE", "NCCL_SOCKET_FAMILY", "NCCL_SOCKET_IFNAME",
    "NCCL_SOCKET_INLINE", "NCCL_SOCKET_MAGIC", "NCCL_SOCKET_MIN_TASKSIZE", "NCCL_SOCKET_NTHREADS",
    "NCCL_SOCKET_POLL_TIMEOUT_MSEC", "NCCL_SOCKET_RCVBUF", "NCCL_SOCKET_RETRY_CNT", "NCCL_SOCKET_RETRY_SLEEP_MSEC",
    "NCCL_SOCKET_SNDBUF", "NCCL_SYM_CE_THRESHOLD", "NCCL_SYM_CTAS", "NCCL_SYM_GIN_KERNELS_ENABLE", "NCCL_SYM_KERNEL",
    "NCCL_SYM_NOWIN_ENABLE", "NCCL_SYM_REUSE_SYSMEM_HANDLES", "NCCL_SYM_RS_GIN_CHUNK_SIZE", "NCCL_SYM_TMA_ENABLE",
    "NCCL_THREAD_THRESHOLD", "NCCL_THREAD_THRESHOLDS", "NCCL_TOPO_DUMP_FILE", "NCCL_TOPO_DUMP_FILE_RANK",
    "NCCL_TOPO_FILE", "NCCL_TOPO_SPLIT_MLOPART", "NCCL_TREE_THRESHOLD", "NCCL_TUNER_PLUGIN", "NCCL_UID_STAGGER_RATE",
    "NCCL_UID_STAGGER_THRESHOLD", "NCCL_UNPACK_DOUBLE_NCHANNELS", "NCCL_USE_CMAKE", "NCCL_VERSION",
    "NCCL_WARN_ENABLE_DEBUG_INFO", "NCCL_WIN_ENABLE", "NCCL_WIN_STRIDE", "NCCL_WORK_ARGS_BYTES",
    "NCCL_WORK_FIFO_BYTES", "NCCL_WORK_FIFO_DEPTH",
})

# CUDA C Programming Guide, "CUDA Environment Variables" (CUDA 11.x-12.x), plus the toolkit paths build systems read
# and the CUDA_VERSION / CUDA_PKG_VERSION of NVIDIA's images.
CUDA_NAMES = frozenset({
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "CUDA_MANAGED_FORCE_DEVICE_ALLOC", "CUDA_CACHE_DISABLE",
    "CUDA_CACHE_PATH", "CUDA_CACHE_MAXSIZE", "CUDA_FORCE_PTX_JIT", "CUDA_DISABLE_PTX_JIT", "CUDA_FORCE_JIT",
    "CUDA_DISABLE_JIT", "CUDA_LAUNCH_BLOCKING", "CUDA_DEVICE_MAX_CONNECTIONS", "CUDA_DEVICE_MAX_COPY_CONNECTIONS",
    "CUDA_AUTO_BOOST", "CUDA_SCALE_LAUNCH_QUEUES", "CUDA_GRAPHS_USE_NODE_PRIORITY", "CUDA_DEVICE_WAITS_ON_EXCEPTION",
    "CUDA_ENABLE_COREDUMP_ON_EXCEPTION", "CUDA_ENABLE_CPU_COREDUMP_ON_EXCEPTION", "CUDA_ENABLE_LIGHTWEIGHT_COREDUMP",
    "CUDA_ENABLE_USER_TRIGGERED_COREDUMP", "CUDA_COREDUMP_FILE", "CUDA_COREDUMP_PIPE", "CUDA_COREDUMP_SHOW_PROGRESS",
    "CUDA_COREDUMP_GENERATION_FLAGS", "CUDA_MODULE_LOADING", "CUDA_MODULE_DATA_LOADING", "CUDA_MPS_PIPE_DIRECTORY",
    "CUDA_MPS_LOG_DIRECTORY", "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT",
    "CUDA_MPS_CLIENT_PRIORITY", "CUDA_LOG_FILE", "CUDA_HOME", "CUDA_PATH", "CUDA_ROOT", "CUDA_TOOLKIT_ROOT_DIR",
    "CUDA_VERSION", "CUDA_PKG_VERSION", "CUDA_DRIVER_VERSION", "CUDA_ARCH_LIST", "CUDA_COMPAT_PATH",
})
# The CUDA names whose typo changes what a run does (which GPUs, in what order, how kernels launch and load).
_CUDA_TARGETS = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "CUDA_LAUNCH_BLOCKING", "CUDA_DEVICE_MAX_CONNECTIONS",
                 "CUDA_MODULE_LOADING")

_TABLES: dict[str, tuple[frozenset[str], tuple[str, ...], str]] = {
    "NCCL_": (NCCL_NAMES, tuple(sorted(NCCL_NAMES)), "NCCL"),
    "CUDA_": (CUDA_NAMES, _CUDA_TARGETS, "the CUDA driver and runtime"),
}
_VOCAB = {p: frozenset(w for n in t[0] for w in n.split("_")[1:]) for p, t in _TABLES.items()}

# A variable set for the process the log shows: docker/podman run -e/--env, export, a Dockerfile ENV, a compose or
# Kubernetes env entry (`- NAME=…`, `name: NAME`), env NAME=… .
ASSIGNED = re.compile(
    r"(?:(?<![\w-])(?:-e|--env)[= ]\s*|\bexport\s+|^\s*ENV\s+|\benv\s+|\bname:\s*|^(?:\s*-\s+)?(?=(?:NCCL|CUDA)_\w+=))[\"']?"
    r"((?:NCCL|CUDA)_[A-Z][A-Z0-9_]*[A-Z0-9])(?![\w-])"
)


def _osa(a: str, b: str) -> int:
    """Edit distance with adjacent transpositions (optimal string alignment)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _one_slip(name: str, real: str, vocab: frozenset[str]) -> bool:
    if name.replace("_", "") == real.replace("_", ""):
        return True
    words, real_words = name.split("_"), real.split("_")
    if len(words) != len(real_words):
        return False
    diff = [(w, r) for w, r in zip(words, real_words, strict=True) if w != r]
    if len(diff) != 1:
        return False
    w, r = diff[0]
    if w.rstrip("S") == r.rstrip("S") and abs(len(w) - len(r)) == 1:
        return True
    # two slips only in a long word: FOO is not a slip of ROOT; a word longer or shorter by more is none (and its
    # distance is not computed: a 1000-letter word against every real name took 2 s of explain, gsafe52)
    slips = 2 if len(r) >= 6 else 1
    return w not in vocab and len(r) >= 4 and abs(len(w) - len(r)) <= slips and _osa(w, r) <= slips


def misspelt(name: str) -> tuple[str, str] | None:
    """(the real name, who reads it) when `name` is an unread NCCL_/CUDA_ name one slip away from a real one."""
    for prefix, (known, targets, consumer) in _TABLES.items():
        if not name.startswith(prefix) or name in known:
            continue
        hits = [real for real in targets if _one_slip(name, real, _VOCAB[prefix])]
        return (hits[0], consumer) if len(hits) == 1 else None
    return None


def typos_in(text: str) -> list[tuple[str, str, str]]:
    """(name, real name, consumer) for each misspelt variable the text sets."""
    out: list[tuple[str, str, str]] = []
    for m in ASSIGNED.finditer(text):
        hit = misspelt(m.group(1))
        if hit and all(m.group(1) != o[0] for o in out):
            out.append((m.group(1), *hit))
    return out
