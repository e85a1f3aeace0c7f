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


# Intel's framework images come in CPU and XPU flavours under one name; only a tag that says xpu/gpu is a GPU image
# (intel/ai-containers pytorch/README.md: intel/intel-extension-for-pytorch:2.8.10-xpu beside :latest, :2.8.0-pip-jupyter
# and :2.4.0-pip-multinode, CPU-only; they were given a render group and a 16g /dev/shm by --fix, gwild52)
_INTEL_CPU_OR_XPU = ("intel/intel-extension-for-pytorch", "intel/intel-optimized-pytorch", "intel/intel-optimized-tensorflow",
                     "intel/intel-extension-for-tensorflow", "intel/python", "intel/deep-learning")  # fmt: skip


def _intel_cpu_image(image: str) -> bool:
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    return name.endswith(_INTEL_CPU_OR_XPU) and not any(k in tag for k in ("xpu", "gpu"))


def nvidia_gpu_node(path: str) -> bool:
    """/dev/nvidia0, /dev/nvidiactl, /dev/nvidia-uvm...: not /dev/nvidia-caps/ (MIG capabilities) nor
    /dev/nvidia-caps-imex-channels/ (IMEX channels), which give no GPU by themselves (review53)."""
    return path.startswith("/dev/nvidia") and not path.startswith("/dev/nvidia-caps")


def backend(svc: Service) -> Backend:
    image = (svc.image or "").lower()
    if _intel_cpu_image(image):
        image = ""  # the name says nothing about a GPU: the devices and requests decide
    hosts = [d.host for d in svc.devices]
    vendors = {g.vendor for g in svc.gpus}
    if "/dev/kfd" in hosts or "amd" in vendors or any(k in image for k in ROCM_IMAGES):
        return "rocm"
    if "nvidia" in vendors or any(nvidia_gpu_node(h) for h in hosts) or svc.runtime == "nvidia":
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


# torchrun's elastic node count MIN:MAX (torch/distributed/run.py parse_min_max_nnodes): up to MAX nodes (review53)
_MIN_MAX = re.compile(r"""\s*["']?[^:"']*:([^:"']+)["']?\s*""")


def _flag_int(
    svc: Service, pattern: re.Pattern[str], env_names: tuple[str, ...], min_max: bool = False
) -> int | None:
    """The flag's number (its `=` value or the next word), else the first environment variable's; `min_max`: a
    `MIN:MAX` value counts as MAX."""

    def value(raw: str) -> str:
        m = _MIN_MAX.fullmatch(raw) if min_max else None
        return m.group(1) if m else raw

    flat = _flat_argv(svc)
    for i, a in enumerate(flat):
        m = pattern.match(a)
        if m:
            got = resolve_int(value(m.group(1) or (flat[i + 1] if i + 1 < len(flat) else "")), svc, a)
            if got is not None:
                return got
    for n in env_names:
        got = resolve_int(value(svc.env[n]), svc, n) if n in svc.env else None
        if got is not None:
            return got
    return None


def tp_size(svc: Service) -> int | None:
    return _flag_int(svc, _TP, TP_ENV)


def pp_size(svc: Service) -> int | None:
    return _flag_int(svc, _PP, PP_ENV)


def node_count(svc: Service) -> int | None:
    """Nodes one serving group spans: SGLang/torchrun --nnodes (torchrun's elastic MIN:MAX: MAX), a LeaderWorkerSet's
    size."""
    if "lws_size" in svc.extra and svc.extra["lws_size"].isdigit():
        return int(svc.extra["lws_size"])
    return _flag_int(svc, _NNODES, ("NNODES",), min_max=True)


def multi_node(svc: Service) -> bool:
    """The config launches one model across nodes: --nnodes > 1, SGLang --dist-init-addr, a Ray
    cluster (vLLM --distributed-executor-backend ray with `ray start`, KubeRay), or a LeaderWorkerSet."""
    text = svc.argv_text
    return (
        (node_count(svc) or 1) > 1
        or "--dist-init-addr" in text
        or ("ray start" in text or "ray_start" in text.lower())
        or svc.extra.get("launcher") in ("ray", "lws", "jobset", "crd")
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


# vLLM and SGLang servers: without a parallel size they run one GPU worker however many GPUs the container sees
# (vllm/engine/arg_utils.py and sglang/srt/server_args.py: tensor_parallel_size / tp_size default 1). TGI is not one:
# its launcher shards over every visible GPU unless --num-shard says otherwise. Data parallel and multi-node flags make
# more ranks, so with any of them the count stays unknown (gwild52: vLLM's docs/deployment/docker.md runs
# `vllm/vllm-openai` under `--gpus all` without a TP size and was told TP needs a larger /dev/shm).
_ONE_RANK_SERVERS = re.compile(r"\bvllm\s+serve\b|\bvllm\.entrypoints\.|\bsglang\.launch_server\b|\bsglang\s+serve\b")
# review53: `--config FILE` (vllm serve's YAML of its arguments, vllm/utils FlexibleArgumentParser; SGLang's --config)
# can hold tensor-parallel-size: the parallel size is then unknown, not 1
_MORE_RANKS = re.compile(
    r"(?:^|\s)(?:--data-parallel-size|--data_parallel_size|-dp|--dp|--dp-size|--dp_size|--nnodes|--nproc-per-node"
    r"|--nproc_per_node|--data-parallel-size-local|--dist-init-addr|--distributed-executor-backend|--config)(?:[=\s]|$)"
)
# images whose entrypoint is `vllm serve`: the command is its arguments (vllm-project/vllm docker/Dockerfile targets
# vllm-openai and vllm-openai-nonroot; vLLM's docs name local builds after the target)
_VLLM_SERVE_IMAGE = "vllm-openai"

# Images that run no GPU ranks sharing memory, whatever the container sees (gwild52). A bare OS image has no NCCL,
# RCCL or oneCCL to run them with (nvidia/cuda's -base- tags hold the CUDA runtime only; its -runtime- and -devel-
# tags ship NCCL). Ollama's server loads a model in one runner process and splits its layers over the GPUs (llama.cpp
# backends, no collective library: ollama/ollama llm/server.go); OpenVINO Model Server runs a model in one process,
# several GPUs through the HETERO/AUTO device plugins (openvinotoolkit/model_server docs/accelerators.md).
_OS_IMAGES = frozenset(
    {
        "ubuntu", "debian", "alpine", "busybox", "centos", "fedora", "rockylinux", "almalinux", "amazonlinux",
        "oraclelinux", "archlinux", "opensuse/leap", "opensuse/tumbleweed", "redhat/ubi8", "redhat/ubi9",
        "redhat/ubi10", "ubi8/ubi", "ubi9/ubi", "ubi8", "ubi9",
    }
)  # fmt: skip
_ONE_PROCESS_IMAGES = {
    "ollama/ollama": "Ollama loads a model in one runner process and splits its layers over the GPUs",
    "openvino/model_server": "OpenVINO Model Server runs a model in one process (several GPUs via HETERO/AUTO)",
    # gwild54: media servers and transcoders open a GPU for VA-API/QSV/NVENC from one ffmpeg process per stream; they
    # were told oneCCL's by-path is missing (blocker) and TP needs a larger /dev/shm (jellyfin.org's hwaccel pages,
    # linuxserver/docker-ffmpeg's README). Tabby serves its models from one llama.cpp process (TabbyML/tabby).
    "jellyfin/jellyfin": "Jellyfin transcodes with one ffmpeg process per stream: no ranks",
    "linuxserver/jellyfin": "Jellyfin transcodes with one ffmpeg process per stream: no ranks",
    "linuxserver/ffmpeg": "ffmpeg encodes in one process: no ranks",
    "jrottenberg/ffmpeg": "ffmpeg encodes in one process: no ranks",
    "tabbyml/tabby": "Tabby serves its models from one llama.cpp process",
    "tabbyml/tabby-rocm": "Tabby serves its models from one llama.cpp process",
}
# ComfyUI runs a workflow in one Python process on one GPU (comfyanonymous/ComfyUI, --cuda-device); its images are
# published under many names (yanwk/comfyui-boot, ...), all with "comfyui" in the repository's last part (gwild54)
_ONE_PROCESS_NAME = re.compile(r"comfyui")
_ONE_PROCESS_NAME_WHY = "ComfyUI runs a workflow in one process on one GPU"


def image_repo(ref: str | None) -> str:
    """'docker.io/library/ubuntu:22.04' -> 'ubuntu'; 'ghcr.io/x/y:tag' -> 'ghcr.io/x/y' (lower case, no tag/digest)."""
    name = (ref or "").strip().lower().split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/", "registry.hub.docker.com/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name[len("library/") :] if name.startswith("library/") else name


def one_rank(svc: Service) -> str | None:
    """Why this container runs at most one GPU rank whatever it sees, or None: a vLLM/SGLang server without a parallel
    size, a bare OS image, a one-process GPU server image (gwild52)."""
    repo = image_repo(svc.image)
    tag = (svc.image or "").rsplit("/", 1)[-1].partition(":")[2].lower()
    if repo in _OS_IMAGES:
        return f"{svc.image} is a bare OS image: no NCCL, RCCL or oneCCL to run ranks with"
    if repo.endswith("nvidia/cuda") and "-base" in tag:
        return f"{svc.image} holds the CUDA runtime only (a -base- tag: no NCCL)"
    for name, why in _ONE_PROCESS_IMAGES.items():
        if repo == name or repo.endswith("/" + name):
            return why
    if _ONE_PROCESS_NAME.search(repo.rsplit("/", 1)[-1]):
        return _ONE_PROCESS_NAME_WHY
    text = " ".join(_flat_argv(svc))
    if _MORE_RANKS.search(text):
        return None
    if _ONE_RANK_SERVERS.search(text) or (
        not svc.entrypoint and svc.command and repo.rsplit("/", 1)[-1].startswith(_VLLM_SERVE_IMAGE)
    ):
        return "a vLLM/SGLang server without a parallel size runs one GPU worker (tensor parallel size 1)"
    return None


# What says a container of unknown parallel size that sees every GPU will run ranks across them (gwild54, deciding
# gwild52's leftover): an image of a framework or engine that starts one process per GPU by itself or is used to
# (PyTorch and its NGC/ROCm/Intel builds, JAX, DeepSpeed, Megatron/NeMo, vLLM, SGLang, TGI, TensorRT-LLM, Triton, NIM,
# LMDeploy, Xinference, GPUStack, llm-scaler, IPEX-LLM, Axolotl, LLaMA-Factory, LoRAX), or a launcher in its command.
# NVIDIA's PyTorch container prints at start that the 64 MB SHMEM default "may be insufficient for PyTorch" and asks
# for --ipc=host or --shm-size. Anything else (a media server, a benchmark, a terminal, an unnamed local build) may use
# its GPUs from one process: its 64 MiB is a notice, not a finding above it.
_RANK_IMAGES = re.compile(
    r"pytorch|(?:^|[/_-])torch(?:[/_:-]|$)|jax|deepspeed|megatron|nemo|vllm|sglang|text-generation-inference|tgi"
    r"|tensorrt|trtllm|tritonserver|(?:^|/)nim/|lmdeploy|xinference|gpustack|llm-scaler|ipex-llm"
    r"|intel-extension-for-pytorch|axolotl|llama-factory|llamafactory|lorax|ray-ml|rayproject/ray"
)
_RANK_LAUNCHERS = re.compile(
    r"(?:^|[\s/])(?:torchrun|deepspeed|mpirun|mpiexec|horovodrun|text-generation-launcher|trtllm-serve)(?:\s|$)"
    r"|torch\.distributed\.(?:run|launch)|accelerate\s+launch|\bray\s+start\b"
)


def ranks_likely(svc: Service) -> bool:
    """The image or the command says ranks will share this container's GPUs (see _RANK_IMAGES). A container built
    from a Dockerfile has no image to say so: the name the file gives it does (compose `axolotl:` with `build: .`,
    a dev container named "PyTorch - CUDA")."""
    if _RANK_IMAGES.search(image_repo(svc.image)):
        return True
    if not svc.image or svc.image.startswith("(built from"):
        if _RANK_IMAGES.search(f"{svc.name} {svc.extra.get('title', '')}".lower()):
            return True
    return bool(_RANK_LAUNCHERS.search(" ".join([*svc.entrypoint, *svc.command])))


def wants_multi_gpu(svc: Service) -> bool | None:
    """True when TP/PP > 1; False when the config pins one GPU or runs at most one rank (one_rank); None when
    unknown."""
    tp, pp = tp_size(svc), pp_size(svc)
    if (tp or 1) * (pp or 1) > 1:
        return True
    if tp is not None or pp is not None:
        return False
    if one_rank(svc):
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
    if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in ("sh", "bash") and argv[1] == "-c":
        # `sh -c "clinfo | grep 'Number of devices'"` (intel-device-plugins demo/intelgpu-job-wsl.yaml, gwild52)
        first = argv[2].split()
        return bool(first) and first[0].rsplit("/", 1)[-1] in PROBE_COMMANDS and not re.search(r"[;&]", argv[2])
    return not svc.entrypoint and all(a in ("--help", "-h", "--version", "-V") for a in svc.command)


def requests_gpu(svc: Service) -> bool:
    """The config itself gives the container a GPU: a GPU request (--gpus, reservation, CDI, resource, DRA, the
    nvidia runtime), a GPU device node or /dev, privileged, hostPath /dev, a GPU under another resource name, or its
    own NVIDIA_VISIBLE_DEVICES. False: only the image's name says GPU (Triton's CPU-only run, the SDK client, a
    device-plugin DaemonSet), and such a container sees no GPU unless nvidia is the default runtime (gwild50)."""
    if svc.gpus or svc.privileged or svc.runtime == "nvidia" or "other_gpu_resources" in svc.extra:
        return True
    if any(
        d.host.rstrip("/") == "/dev" or d.host.startswith(("/dev/dri", "/dev/kfd", "/dev/dxg")) or nvidia_gpu_node(d.host)
        for d in svc.devices
    ):
        return True
    if any(
        (m.kind == "hostPath" or m.kind == "bind") and (m.source or "").startswith(("/dev/dri", "/dev/kfd"))
        for m in svc.mounts
    ):
        return True
    return env_selects_nvidia_gpus(svc)


# The kubelet's device-plugin socket directory (k8s.io/kubelet pkg/apis/deviceplugin: DevicePluginPath): every GPU
# device plugin (NVIDIA's, Intel's, AMD's) mounts it to register
KUBELET_DEVICE_PLUGINS = "/var/lib/kubelet/device-plugins"


def device_plugin(svc: Service) -> bool:
    """A GPU device plugin's container (it mounts the kubelet's device-plugin directory): it lists the GPUs (a
    read-only hostPath /dev/dri, /sys/class/drm) for the kubelet and runs no rank (Intel's intel-gpu-plugin DaemonSet
    was told its /dev/dri mount is denied, /tmp unwritable, by-path missing: gwild52)."""
    return any(
        (m.target or "").rstrip("/") == KUBELET_DEVICE_PLUGINS or (m.source or "").rstrip("/") == KUBELET_DEVICE_PLUGINS
        for m in svc.mounts
    )


def names_gpu_work(svc: Service) -> bool:
    """Anything in the config says the container does GPU work: a GPU backend (image, device, request, GPU env), a
    parallel size, a serving engine, or GPU selection variables. False for a privileged container that names none (a
    Docker-in-Docker dev container, a driver installer: gwild52)."""
    if backend(svc) != "none" or svc.gpus or tp_size(svc) is not None or pp_size(svc) is not None:
        return True
    if _ONE_RANK_SERVERS.search(" ".join(_flat_argv(svc))):
        return True
    return any(k in svc.env for k in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")) or (
        env_selects_nvidia_gpus(svc)
    )


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
