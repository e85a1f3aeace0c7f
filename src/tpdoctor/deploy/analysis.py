"""Shared reading of a Service: which GPU backend, how many GPUs it sees, the TP size it asks
for, and what host facts say about render nodes and groups. Rules and the fixer both use it."""

from __future__ import annotations

import re

from tpdoctor.deploy.model import Backend, Service
from tpdoctor.limits import MAX_PARALLEL, parse_count
from tpdoctor.model.facts import Facts

DRM_MAJOR = 226
RENDER_RE = re.compile(r"^/dev/dri/renderD\d+$")
CARD_RE = re.compile(r"^/dev/dri/card\d+$")
XPU_IMAGES = ("ipex-llm", "xpu", "intel-gpu", "oneapi", "intel/", "intelanalytics")
ROCM_IMAGES = ("rocm", "amd")
CUDA_IMAGES = ("vllm/vllm-openai", "sglang", "nvidia", "cuda", "tensorrt", "tgi", "text-generation-inference")


def backend(svc: Service) -> Backend:
    image = (svc.image or "").lower()
    hosts = [d.host for d in svc.devices]
    vendors = {g.vendor for g in svc.gpus}
    if "/dev/kfd" in hosts or "amd" in vendors or any(k in image for k in ROCM_IMAGES):
        return "rocm"
    if "nvidia" in vendors or any(h.startswith("/dev/nvidia") for h in hosts) or svc.runtime == "nvidia":
        return "cuda"
    if "intel" in vendors or any(k in image for k in XPU_IMAGES):
        return "xpu"
    if any(k.startswith(("ONEAPI_", "CCL_", "ZE_", "SYCL_")) for k in svc.env):
        return "xpu"
    if any(k in image for k in CUDA_IMAGES):
        return "cuda"
    if any(h.startswith("/dev/dri") for h in hosts):
        return "xpu"  # DRM nodes without /dev/kfd: Intel (or a media workload)
    return "none"


# Every spelling the serving engines accept (value as the next word or after `=`):
# vLLM vllm/engine/arg_utils.py: --tensor-parallel-size/-tp, --pipeline-parallel-size/-pp;
# SGLang python/sglang/srt/server_args.py: --tp-size/--tp, --pp-size, --nnodes, --dist-init-addr;
# TGI launcher/src/main.rs: `#[clap(long, env)] num_shard` -> --num-shard / NUM_SHARD.
_TP = re.compile(
    r"^(?:--tensor-parallel-size|--tensor_parallel_size|-tp|--tp|--tp-size|--tp_size|--num-shard|--num_shard)"
    r"(?:=(.+))?$"
)
_PP = re.compile(
    r"^(?:--pipeline-parallel-size|--pipeline_parallel_size|-pp|--pp|--pp-size|--pp_size)(?:=(.+))?$"
)
_NNODES = re.compile(r"^(?:--nnodes|--num-nodes|--nproc-per-node-unused)(?:=(.+))?$")
# Environment variables the images read (ipex-llm serving start scripts, TGI's clap env).
TP_ENV = ("TENSOR_PARALLEL_SIZE", "TP_SIZE", "NUM_SHARD")
PP_ENV = ("PIPELINE_PARALLEL_SIZE", "PP_SIZE")


def resolve_int(val: str, svc: Service, what: str = "value") -> int | None:
    """A number as written, or after $VAR / ${VAR:-N} from the service env and the file's variables."""
    from tpdoctor.deploy.interpolate import interpolate

    v = val.strip("\"'")
    if not v.isdigit():
        v = interpolate(v, {**svc.variables, **svc.env}).strip("\"'")
    return parse_count(v, what, MAX_PARALLEL, svc.name) if v.isascii() and v.isdigit() else None  # bounded (limits.py)


def _flat_argv(svc: Service) -> list[str]:
    # a `bash -c "... --tensor-parallel-size 2"` hides flags inside one string
    flat: list[str] = []
    for a in [*svc.entrypoint, *svc.command]:
        flat.extend(a.split())
    return flat


def _flag_int(svc: Service, pattern: re.Pattern[str], env_names: tuple[str, ...]) -> int | None:
    flat = _flat_argv(svc)
    for i, a in enumerate(flat):
        m = pattern.match(a)
        if m:
            got = resolve_int(m.group(1) or (flat[i + 1] if i + 1 < len(flat) else ""), svc, a)
            if got is not None:
                return got
    for n in env_names:
        got = resolve_int(svc.env[n], svc, n) if n in svc.env else None
        if got is not None:
            return got
    return None


def tp_size(svc: Service) -> int | None:
    return _flag_int(svc, _TP, TP_ENV)


def pp_size(svc: Service) -> int | None:
    return _flag_int(svc, _PP, PP_ENV)


def node_count(svc: Service) -> int | None:
    """Nodes one serving group spans: SGLang/torchrun --nnodes, a LeaderWorkerSet's size."""
    if "lws_size" in svc.extra and svc.extra["lws_size"].isdigit():
        return int(svc.extra["lws_size"])
    return _flag_int(svc, _NNODES, ("NNODES",))


def multi_node(svc: Service) -> bool:
    """The config launches one model across nodes: --nnodes > 1, SGLang --dist-init-addr, a Ray
    cluster (vLLM --distributed-executor-backend ray with `ray start`, KubeRay), or a LeaderWorkerSet."""
    text = svc.argv_text
    return (
        (node_count(svc) or 1) > 1
        or "--dist-init-addr" in text
        or ("ray start" in text or "ray_start" in text.lower())
        or svc.extra.get("launcher") in ("ray", "lws", "jobset")
    )


def ranks_per_container(svc: Service) -> int | None:
    """TP x PP / nodes: the GPUs one container of a (possibly multi-node) group must see."""
    tp = tp_size(svc)
    if tp is None:
        return None
    total = tp * (pp_size(svc) or 1)
    nodes = node_count(svc) or 1
    return max(total // nodes, 1) if total % nodes == 0 else -(-total // nodes)


def visible_gpus(svc: Service) -> int | None:
    """GPUs the container can see, when the config says; None = all of the host's / unknown."""
    counts: list[int] = []
    for g in svc.gpus:
        if g.via == "runtime":
            continue
        if g.count is None:
            return None
        counts.append(g.count)
    sel = svc.env.get("ONEAPI_DEVICE_SELECTOR") or svc.env.get("ZE_AFFINITY_MASK")
    if sel and re.fullmatch(r"(level_zero:)?\d+", sel):
        return 1
    renders = [d for d in svc.devices if RENDER_RE.match(d.container)]
    if any(d.host.rstrip("/") in ("/dev/dri", "/dev") for d in svc.devices):
        return None
    if renders:
        counts.append(len(renders))
    if svc.privileged and not counts:
        return None
    return sum(counts) if counts else None


def wants_multi_gpu(svc: Service) -> bool | None:
    """True when TP/PP > 1; False when the config pins one GPU; None when unknown."""
    tp, pp = tp_size(svc), pp_size(svc)
    if (tp or 1) * (pp or 1) > 1:
        return True
    if tp is not None or pp is not None:
        return False
    n = visible_gpus(svc)
    if n is not None:
        return n > 1
    return None


def ranks_span_pods(svc: Service) -> tuple[int, int, int] | None:
    """(TP x PP, GPUs per pod, replicas) when a Kubernetes workload's parallel size exceeds
    the GPUs of one pod but fits the GPUs of all its replicas: ranks meant to span pods."""
    if svc.format != "kubernetes" or multi_node(svc):
        return None
    tp = tp_size(svc)
    reps = int(svc.extra.get("replicas", "1"))
    have = visible_gpus(svc)
    if tp is None or reps < 2 or not have:
        return None
    need = tp * (pp_size(svc) or 1)
    if have < need <= reps * have:
        return need, have, reps
    return None


def is_gpu(svc: Service) -> bool:
    return backend(svc) != "none"


# One-shot GPU probes and help screens: a container that runs only one of these starts no rank
PROBE_COMMANDS = frozenset(
    {"nvidia-smi", "rocm-smi", "amd-smi", "rocminfo", "xpu-smi", "sycl-ls", "clinfo", "vulkaninfo", "glxinfo"}
)


def probe_only(svc: Service) -> bool:
    """The container runs a GPU probe (`docker run --gpus all nvidia/cuda nvidia-smi`) or only asks for help or a
    version (`... text-generation-inference --help`): nothing in it shares memory between ranks (gwild50)."""
    argv = [*svc.entrypoint, *svc.command]
    if not argv:
        return False
    if argv[0].rsplit("/", 1)[-1] in PROBE_COMMANDS:
        return True
    return not svc.entrypoint and all(a in ("--help", "-h", "--version", "-V") for a in svc.command)


def requests_gpu(svc: Service) -> bool:
    """The config itself gives the container a GPU: a GPU request (--gpus, reservation, CDI, resource, DRA, the
    nvidia runtime), a GPU device node or /dev, privileged, hostPath /dev, a GPU under another resource name, or its
    own NVIDIA_VISIBLE_DEVICES. False: only the image's name says GPU (Triton's CPU-only run, the SDK client, a
    device-plugin DaemonSet), and such a container sees no GPU unless nvidia is the default runtime (gwild50)."""
    if svc.gpus or svc.privileged or svc.runtime == "nvidia" or "other_gpu_resources" in svc.extra:
        return True
    if any(
        d.host.rstrip("/") == "/dev" or d.host.startswith(("/dev/dri", "/dev/kfd", "/dev/nvidia", "/dev/dxg"))
        for d in svc.devices
    ):
        return True
    if any(
        (m.kind == "hostPath" or m.kind == "bind") and (m.source or "").startswith(("/dev/dri", "/dev/kfd"))
        for m in svc.mounts
    ):
        return True
    return env_selects_nvidia_gpus(svc)


def env_selects_nvidia_gpus(svc: Service) -> bool:
    """The container's own NVIDIA_VISIBLE_DEVICES names GPUs (all, indices or UUIDs; not void/none/empty)."""
    value = svc.env.get("NVIDIA_VISIBLE_DEVICES", "").strip().lower()
    return value not in ("", "void", "none")


# --- host facts -------------------------------------------------------------------------------


def facts_render_nodes(facts: Facts | None) -> list[str]:
    """Render nodes oneCCL will open: those the host's by-path lists, else every render node."""
    if facts is None:
        return []
    listed = sorted(
        {
            n.resolved
            for n in facts.nodes_under("/dev/dri/by-path/")
            if n.path.endswith("-render") and n.resolved and RENDER_RE.match(n.resolved)
        }
    )
    if listed:
        return listed
    return sorted(
        n.path
        for n in facts.dev
        if RENDER_RE.match(n.path) and (n.major in (None, DRM_MAJOR)) and n.kind == "char"
    )


def facts_render_gid(facts: Facts | None) -> int | None:
    if facts is None:
        return None
    for n in facts.dev:
        if RENDER_RE.match(n.path) and n.gid is not None:
            return n.gid
    return facts.groups.get("render")


def facts_kfd_gid(facts: Facts | None) -> int | None:
    """GID that owns /dev/kfd on the host (render on current distributions, video on older ones)."""
    if facts is None:
        return None
    for n in facts.dev:
        if n.path == "/dev/kfd" and n.gid is not None:
            return n.gid
    return facts.groups.get("video")


def facts_host_paths(facts: Facts | None) -> set[str] | None:
    if facts is None or not facts.dev:
        return None
    return {n.path for n in facts.dev}


def facts_gpu_count(facts: Facts | None) -> int | None:
    if facts is None:
        return None
    if facts.nvidia.gpus:
        return len(facts.nvidia.gpus)
    nodes = facts_render_nodes(facts)
    return len(nodes) or None


# --- which user the container runs as ---------------------------------------------------------

# Images whose Dockerfile sets no USER (so they run as root unless the config says otherwise).
# Sources: huggingface/text-generation-inference@db931fc Dockerfile (final stage, no USER);
# intel/llm-scaler@8d66bf9 vllm/docker/Dockerfile (runtime stage, no USER, sources /root/.bashrc);
# vllm-project/vllm@05cb1bc docker/Dockerfile.xpu (oneAPI sourced from /root/.bashrc).
IMAGE_USERS: tuple[tuple[str, str, str], ...] = (
    ("ghcr.io/huggingface/text-generation-inference", "root", "TGI Dockerfile sets no USER"),
    ("intel/llm-scaler-vllm", "root", "llm-scaler vllm/docker/Dockerfile sets no USER"),
    ("intel/vllm", "root", "vLLM docker/Dockerfile.xpu sets no USER"),
)
_ROOT_NAMES = ("0", "root")


def image_user(svc: Service) -> tuple[str, str] | None:
    """(user, why) for images whose default user is known."""
    image = (svc.image or "").lower()
    for prefix, user, why in IMAGE_USERS:
        if image.startswith(prefix):
            return user, why
    return None


def runs_as(svc: Service) -> tuple[str, str]:
    """(user, where that comes from): the config's user, else the image's known default, else
    the engine's default (root; the image's USER may say otherwise)."""
    if svc.user:
        return svc.user, "set by the config"
    known = image_user(svc)
    if known:
        return known[0], known[1]
    return "root", "no user in the config; root unless the image sets USER"


def runs_as_root(svc: Service) -> bool:
    """Root in the host's user namespace: it opens /dev/dri and /dev/kfd (root:render 0660) as
    their owner, so it needs neither the render group nor CAP_DAC_OVERRIDE. A user namespace
    (userns other than host) maps container root to an unprivileged host UID."""
    user = runs_as(svc)[0]
    root = user.split(":")[0] in _ROOT_NAMES
    return root and svc.userns in (None, "", "host")
