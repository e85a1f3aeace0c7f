"""Ambiguous symptoms, resolved by the context the log carries.

"No CUDA GPUs are available", a `Bus error`, `[Errno 28] No space left on device` or an
`invalid device ordinal` each have several causes. A quoted `docker run` (explain/context.py,
read by deploy/logquote.py), a torchrun/vLLM size and the GPUs a mask or an nvidia-smi table lists
select among them. Each rule is one row of a differential: symptom + selecting fact -> cause, always
`suggests` (the quoted command is what the user says they ran, not what the engine recorded), ranked
before the symptom's own guesses. A symptom with no selecting fact is left to its own signature
(itself only `suggests`), never raised here.

Symptoms and their causes, from the code that prints them:
- no GPU at all: c10/cuda/CUDAFunctions.cpp device_count_impl / device_count_ensure_non_zero
  ("Found no NVIDIA driver on your system" for cudaErrorInsufficientDriver with no driver version,
  "CUDA driver initialization failed" for cudaErrorInitializationError, "No CUDA GPUs are available"
  for a count of 0; `torch.cuda.is_available()` is `device_count() > 0`, False on all of them);
  ROCm builds hipify the last to "No HIP GPUs are available"; vLLM vllm/platforms/__init__.py
  (no platform plugin activates: "Failed to infer device type" / UnspecifiedPlatform). Causes: no
  GPU request on the container (the NVIDIA Container Toolkit injects the /dev/nvidia* nodes and
  libcuda only for --gpus / --runtime=nvidia / CDI: NVIDIA/nvidia-container-toolkit
  internal/config/image CUDA image NVIDIA_VISIBLE_DEVICES handling), a mask naming absent GPUs, a
  node or library missing although requested; ROCm needs /dev/kfd and /dev/dri (ROCm docs "Running
  ROCm Docker containers").
- shared memory: SIGBUS / ENOSPC on /dev/shm; Docker and Podman give a container 64 MiB unless
  --shm-size or --ipc=host (moby daemon/config DefaultShmSize = 64 MiB; containers.conf shm_size).
- GPU count: torchrun starts --nproc-per-node ranks and each calls torch.cuda.set_device(LOCAL_RANK)
  (c10 set_device -> C10_CUDA_CHECK(cudaSetDevice) -> "CUDA error: invalid device ordinal" when
  LOCAL_RANK >= device count); NCCL "Duplicate GPU detected" when ranks share one; vLLM/SGLang/TGI
  compare tensor_parallel_size x pipeline_parallel_size with the GPUs they see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tpdoctor.explain.launcher import elastic_local_ranks
from tpdoctor.explain.scanner import ScanResult, SigHit
from tpdoctor.explain.signatures import knowledge_base

NVIDIA_NONE = (
    "cuda.no-gpus",
    "torch.no-nvidia-driver",
    "torch.cuda-driver-init-failed",
    "podman.nvidia-smi-absent",
    "oci.exec-nvidia-smi-absent",
    "nvidia-smi.nvml-library-missing",
    # the CUDA runtime's own strings (error-code tables): cudaErrorNoDevice, cudaErrorInsufficientDriver
    "code.cuda.cudaErrorNoDevice.string",
    "code.cuda.cudaErrorInsufficientDriver.string",
    # JAX/XLA's CUDA backend counted no GPU (jax/_src/xla_bridge.py, xla gpu_helpers.cc GetGpuXlaClient)
    "jax.no-visible-gpu",
    # grecent: vLLM V1's GPU worker counted 0 devices (gpu_worker.py init_device), SGLang found no nvidia-smi
    # (srt/utils.py get_nvgpu_memory_capacity)
    "vllm.dp-rank-no-visible-devices",
    "sglang.nvidia-smi-not-found",
    # gecob: TF/XLA's CUDA stub without libcuda (also every CPU-only machine: the command selects), lmdeploy's
    # CUDA check, ExLlamaV2's device count in a gpu_split check
    "tf.cuinit-libcuda-absent",
    "lmdeploy.cuda-not-available",
    "exllamav2.gpu-split-no-gpus",
    "paddle.no-gpu-detected",
    "tgi.flash-attn-cuda-unavailable",
    "mindspore.gpu-target-unsupported",
)
HIP_NONE = (
    "torch.no-hip-gpus",
    "rocm.hip-hsa-init-failed",
    "code.hip.hipErrorNoDevice.string",
    "code.hip.hipErrorInsufficientDriver.string",
    "jax.rocm-no-visible-gpu",
    # HCC (ROCm 1.x-2.x) with no GPU agent (ROCm/hcc include/kalmar_runtime.h get_default_dev)
    "hcc.no-device",
    # grocm7: HIP_CHECK-style device failures (rccl-tests, the HIP samples): hipErrorInvalidDevice up to ROCm 6.1,
    # hipErrorNoDevice from 6.2 when HIP sees no GPU (ROCm/clr hipamd/src/hip_internal.hpp HIP_INIT/HIP_INIT_API)
    "rccl.tests-hip-device-failure",
    "hip.check-device-failure",
)
# Intel's own "no GPU" words (gintel): torch c10/xpu (device_count_ensure_non_zero, get_device_context), xpu-smi
# discovery, llama.cpp's SYCL backend, OpenVINO's GPU plugin
XPU_NONE = (
    "torch.no-xpu-devices",
    "xpu-smi.no-device-discovered",
    "llamacpp.sycl-zero-devices",
    "openvino.gpu-no-supported-devices",
)
# vLLM's platform detection found nothing (vllm/platforms/__init__.py; then DeviceConfig's empty device
# string in v0.8+), torch.xpu counts 0, SYCL selects no GPU (intel/llvm device_selector.cpp)
ANY_NONE = (
    "vllm.infer-device-type",
    # grocm7: SGLang's get_device (sglang/srt/utils.py): torch sees no accelerator of any vendor
    "sglang.get-device-no-accelerator",
    "vllm.device-string-empty",
    "xpu.device-count-zero",
    "sycl.no-device-of-type",
    "sycl.no-device",
    *XPU_NONE,
    # launchers and servers that found no GPU in their own words (DeepSpeed's runner and accelerator detection,
    # Megatron's CUDA assert, Accelerate's process count, JAX's CPU fallback, llama.cpp's -ngl check, Ollama's
    # discovery): all but DeepSpeed's runner also print on CPU-only builds and hosts, so alone they name nothing
    # (signatures without causes); the command selects
    "deepspeed.no-gpu-resources",
    "deepspeed.cpu-accelerator",
    "megatron.requires-cuda",
    "accelerate.zero-processes",
    "jax.cpu-fallback",
    "llamacpp.no-usable-gpu",
    "ollama.no-compatible-gpus",
    # gecob: Lightning's accelerator="gpu" with neither CUDA nor MPS; Xinference's worker counting no GPU
    "lightning.no-gpu-backend",
    "xinference.n-gpu-no-gpus",
    "xinference.gpu-idx-no-gpus",
    "llamacpp.main-gpu-no-devices",
    "ollama.cpu-only-inference-compute",
)
SHM_SYMPTOMS = (
    "sigbus.bus-error",
    "elastic.child-sigbus",
    "torch.dataloader-bus-error",
    "torch.dataloader-worker-bus-error",
    "torch.dataloader-worker-exited",
    "tgi.shard-sigbus",
    "nccl.unhandled-system-error",
    "nccl.shm-segment-attach",
    "nccl.shm-file-create",
    "torch.shm-file-write",
    "shm.no-space-dev-shm",
    # glearn41b: a browser tab dying of a signal, a user's "it crashes chromium", zsh's lower-case bus error
    "browser.renderer-crashed",
    "browser.crash-prose",
    "sigbus.bus-error-lowercase",
)
COUNT_SYMPTOMS = (
    "cuda.invalid-device-ordinal",
    "nccl.duplicate-gpu",
    "vllm.world-size-exceeds-gpus",
    "vllm.gpus-exceed-available",
    "ray.current-node-no-gpu",
    "tgi.not-enough-cuda-devices",
    "vllm.placement-group-timeout",
    # Intel (gintel): c10/xpu check_device, vLLM XPU's memory-info bounds check, XCCL's onecclSetDevice
    "torch.xpu-device-out-of-range",
    "vllm.xpu-device-index-out-of-range",
    "xccl.set-device-failed",
    # grecent: vLLM V1 DP x TP x PP past the visible devices (gpu_worker.py init_device)
    "vllm.dp-rank-exceeds-visible-devices",
    # gecob: Xinference's n_gpu / allocate_devices checks, ExLlamaV2's gpu_split length check
    "xinference.n-gpu-exceeds",
    "xinference.requested-gpus-exceed",
    "exllamav2.gpu-split-too-many",
    "paddle.cudaplace-out-of-range",
    "trtllm.gpus-fewer-than-ranks",
)
DENIED = (
    "dri.render-open-eacces",
    "dri.card-or-render-denied",
    "rocm.kfd-eacces",
    "nvidia.node-open-eacces",
    "oneccl.open-failed-eacces",
)
# signature families that only an AMD GPU stack prints (ROCm runtime, HIP, RCCL, the AMD toolkit)
AMD_PREFIXES = ("rocm.", "hip.", "rccl.", "amd-toolkit.", "code.hip.", "code.hsa.")
# signatures of a /dev/shm that is big enough but unusable: the size from the command selects nothing then
SHM_NOT_SIZE = (
    "shm.create-denied",
    "python.shm-create-denied",
    "shm.removeipc-named",
    "python.semlock-rebuild",
)
_NOT_SIZE = re.compile(r"Permission denied|Read-only file system|EACCES|EROFS|\(13\)|\(30\)")
SMALL_SHM = 1 << 30  # below 1 GiB: NCCL, vLLM's shm broadcast and DataLoader workers outgrow it
_NO_REQUEST = {
    "docker": "no --gpus, --runtime=nvidia, CDI --device nvidia.com/gpu=... or /dev/nvidia* device",
    "podman": "no --gpus, CDI --device nvidia.com/gpu=... or /dev/nvidia* device",
    "compose": "no deploy.resources.reservations.devices, gpus:, runtime: nvidia or /dev/nvidia* device",
    "kubernetes": "no nvidia.com/gpu in resources.limits, no resource claim, no runtimeClassName: nvidia",
}
_DEFAULT_SHM = {
    "compose": "no shm_size, no ipc: host",
    "kubernetes": "no emptyDir with medium: Memory mounted at /dev/shm; the runtime's default is 64 MiB",
}
DEFAULT_SHM_UNSET = _DEFAULT_SHM  # read by correlate.py (a sharded server on the default /dev/shm)
_NO_GPU_CAUSE = {
    "nvidia": "device.nvidia-node-missing",
    "amd": "device.kfd-missing",
    "intel": "device.render-node-missing",
}


@dataclass
class Pick:
    """A cause the context selects for a symptom, with the symptom's and the context's lines."""

    cause: str
    why: str
    hits: list[SigHit]
    first_line: int
    # cause -> signatures whose `proves` the context contradicts: backed only by them, that cause is
    # lowered to `suggests` (the same line has another reading in this container)
    contradicts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the symptom is a generic consequence (a hang, a timeout: explain/hang.py): the pick ranks after causes a
    # specific line supports and is dropped behind a known non-container root, like a downstream line
    generic: bool = False


def _code_read_in_context(scan: ScanResult) -> set[tuple[str, int]]:
    """(source, line) of the hits of signatures that read the error code on their line (signatures.yaml
    `explains_codes`): a CUDA string there is that line's, e.g. Triton's pinned-pool fallback (glearn40a)."""
    kb = knowledge_base()
    return {
        (h.source, h.line)
        for sig_id, rec in scan.signatures.items()
        if kb.signature(sig_id).explains_codes
        for h in rec.evidence
    }


def _symptom(scan: ScanResult, ids: tuple[str, ...], fact: str | None = None) -> list[SigHit]:
    read = _code_read_in_context(scan) if any(i.startswith("code.") and i in scan.signatures for i in ids) else set()
    hits = [
        h
        for i in ids
        if i in scan.signatures
        for h in [e for e in scan.signatures[i].evidence if not (i.startswith("code.") and (e.source, e.line) in read)][:1]
    ]
    if fact and fact in scan.facts.first:
        value, line, source = scan.facts.first[fact]
        hits.append(SigHit(line, value, source, {}))
    return sorted(hits, key=lambda h: (h.source, h.line))


def _fact_hit(scan: ScanResult, key: str, shown: str | None = None) -> list[SigHit]:
    first = scan.facts.first.get(key)
    return [SigHit(first[1], shown or first[0], first[2], {})] if first else []


def _command(scan: ScanResult) -> str:
    first = scan.facts.first.get("cmd_line")
    return f"line {first[1]}: `{first[0].lstrip('$# ')}`" if first else "the quoted command"


def _vendor(scan: ScanResult, nvidia: list[SigHit], hip: list[SigHit]) -> str | None:
    if hip and not nvidia:
        return "amd"
    if nvidia and not hip:
        return "nvidia"
    if any(
        i in scan.signatures
        for i in ("sycl.no-device-of-type", "sycl.no-device", "xpu.device-count-zero", *XPU_NONE)
    ):
        return "intel"
    backend = scan.facts.get("cmd_backend")
    return {"cuda": "nvidia", "rocm": "amd", "xpu": "intel"}.get(backend or "")


def no_gpu(scan: ScanResult) -> list[Pick]:
    """The process finds no GPU; the quoted command says whether one was asked for."""
    nvidia = _symptom(scan, NVIDIA_NONE)
    # nvidia-smi inside a container without /dev/nvidiactl prints the same line as on a host whose driver
    # is not loaded (nvidia-smi: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver")
    smi = [h for h in _symptom(scan, ("nvidia.cli-driver-not-loaded",)) if "NVIDIA-SMI has failed" in h.text]
    nvidia = sorted([*nvidia, *smi], key=lambda h: (h.source, h.line))
    hip = _symptom(scan, HIP_NONE)
    # torch.cuda.is_available() is False in CUDA and ROCm builds alike, torch.xpu's on Intel: the
    # command's image says which (ROCm builds keep the torch.cuda namespace)
    generic = _symptom(scan, ANY_NONE, "cuda_unavailable")
    xpu = _symptom(scan, (), "xpu_unavailable")
    symptom = nvidia or hip or generic or xpu
    request = scan.facts.get("cmd_gpu_request")
    if not symptom:
        return []
    vendor = "intel" if xpu and not (nvidia or hip or generic) else _vendor(scan, nvidia, hip)
    if vendor is None and "cuda_unavailable" in scan.facts.first:
        vendor = "nvidia"  # a CUDA build unless the image says ROCm
    cmd = _command(scan)
    hits = [*symptom[:2], *_fact_hit(scan, "cmd_line")]
    first = symptom[0].line
    # a mask CUDA cannot parse hides every GPU (measured on an H200: CUDA_VISIBLE_DEVICES=all gives
    # device_count 0 and "No CUDA GPUs are available"; bench/gpu/results/visible-devices-h200x1)
    unparsable = _symptom(scan, ("env.cuda-visible-devices-all",))
    if unparsable and vendor in ("nvidia", "amd"):
        var = "CUDA_VISIBLE_DEVICES" if vendor == "nvidia" else "HIP_VISIBLE_DEVICES"
        why = (
            f"{var}=all is not a GPU list (line {unparsable[0].line}): CUDA/HIP stop at the first entry they "
            "cannot parse, so the process sees no GPU. Give indices or UUIDs, or leave it unset "
            "(`all` is NVIDIA_VISIBLE_DEVICES' syntax, for the container toolkit)."
        )
        cause = "cuda.visible-devices-mismatch" if vendor == "nvidia" else "rocm.visible-devices-mismatch"
        return [Pick(cause, why, [*hits, *unparsable[:1]], first)]
    masked = _mask_beyond_passed(scan, vendor)
    if masked is not None:
        cause, why = masked
        return [Pick(cause, why, hits, first)]
    if request is None:
        return []
    # glearn53a: the run asks for the CPU (--device cpu, "CPU only", Tabby's serve without --device): a CUDA build that
    # touches CUDA anyway is the application's build, not a container missing the GPU it never wanted (TabbyML/tabby#711)
    if request == "none" and scan.facts.get("cpu_run_requested") is not None:
        return []
    no_request = _NO_REQUEST.get(scan.facts.get("cmd_engine") or "docker", _NO_REQUEST["docker"])
    if request == "none" and vendor in _NO_GPU_CAUSE:
        why = {
            "nvidia": f"The container was started without any GPU request ({cmd}: {no_request}), so the "
            "NVIDIA runtime injected neither the GPU nodes nor the driver libraries and CUDA finds no GPU.",
            "amd": f"The container was started without /dev/kfd and /dev/dri ({cmd}): the ROCm runtime finds no GPU.",
            "intel": f"The container was started without /dev/dri ({cmd}): Level Zero finds no GPU.",
        }[vendor]
        if vendor == "nvidia" and scan.facts.get("cmd_nvidia_visible_devices"):
            why += " -e NVIDIA_VISIBLE_DEVICES selects GPUs only where the NVIDIA runtime is the daemon's default."
        contradicts: dict[str, tuple[str, ...]] = (
            {"device.no-driver": ("nvidia.cli-driver-not-loaded",)} if smi else {}
        )
        return [Pick(_NO_GPU_CAUSE[vendor], why, hits, first, contradicts)]
    if request in ("privileged", "all-devices") and vendor == "nvidia" and nvidia:
        why = (
            f"The container gets the /dev/nvidia* nodes from {'--privileged' if request == 'privileged' else '--device /dev'} "
            f"({cmd}) but no GPU request, so the NVIDIA runtime did not inject libcuda and the driver libraries: "
            "add --gpus (or CDI) instead of passing the nodes by hand."
        )
        return [Pick("device.nvidia-node-missing", why, hits, first)]
    if vendor == "amd" and request in ("amd", "intel", "none"):
        kfd, dri = scan.facts.get("cmd_kfd") == "yes", scan.facts.get("cmd_dri") == "yes"
        if dri and not kfd:
            return [
                Pick(
                    "device.kfd-missing",
                    f"The command passes /dev/dri but not /dev/kfd ({cmd}): ROCm needs both.",
                    hits,
                    first,
                )
            ]
        if kfd and not dri:
            return [
                Pick(
                    "device.render-node-missing",
                    f"The command passes /dev/kfd but no /dev/dri render node ({cmd}): ROCm needs both.",
                    hits,
                    first,
                )
            ]
    return []


def _mask_beyond_passed(scan: ScanResult, vendor: str | None) -> tuple[str, str] | None:
    """A visibility mask indexing past every GPU the container has: inside it the GPUs are numbered from 0
    (the NVIDIA runtime exposes the selected GPUs only; Docker maps the listed render nodes), so
    CUDA_VISIBLE_DEVICES=2,3 in a container started with --gpus 2 selects nothing. The count comes from the
    command, or from an nvidia-smi / rocm-smi listing: one taken on the host lists at least as many GPUs as
    exist, so a mask past it names GPUs that exist nowhere and is wrong either way."""
    if vendor not in ("nvidia", "amd", "intel"):
        return None
    counts: list[tuple[int, str]] = []
    count = _int(scan.facts.get("cmd_gpu_count"))
    if count is not None:
        counts.append(
            (
                count,
                f"the container gets {count} GPU(s) ({_command(scan)}), numbered 0..{count - 1} inside it",
            )
        )
    rows = set(scan.facts.values.get({"nvidia": "smi_gpu", "amd": "rocm_smi_gpu"}.get(vendor, ""), []))
    if rows:
        tool = "nvidia-smi" if vendor == "nvidia" else "rocm-smi"
        counts.append((len(rows), f"{tool} lists {len(rows)} GPU(s), numbered 0..{len(rows) - 1}"))
    if not counts:
        return None
    have, seen = min(counts)
    names = {
        "nvidia": ("cmd_cuda_visible_devices", "cuda_visible_devices"),
        "amd": (
            "cmd_hip_visible_devices",
            "cmd_rocr_visible_devices",
            "hip_visible_devices",
            "rocr_visible_devices",
        ),
        # Level Zero's ZE_AFFINITY_MASK: root[.sub] entries; the container's render nodes are its root devices
        # (compute-runtime numbers what it can open from 0), so only the root index counts
        "intel": ("cmd_ze_affinity_mask", "ze_affinity_mask"),
    }[vendor]
    for key in names:
        mask = scan.facts.get(key)
        parts = (mask or "").split(",")
        if vendor == "intel":
            parts = [x.split(".", 1)[0] for x in parts]
        ids = [int(x) for x in parts if x.strip().isdigit()]
        if ids and min(ids) >= have:
            var = key.removeprefix("cmd_").upper()
            cause = {
                "nvidia": "cuda.visible-devices-mismatch",
                "amd": "rocm.visible-devices-mismatch",
                "intel": "xpu.visible-devices-mismatch",
            }[vendor]
            return cause, (
                f"{var}={mask} names none of the GPUs here ({seen}): index the mask from 0 inside the "
                "container (or drop it and select the GPUs when starting the container)."
            )
    return None


def _enospc_on_shm(scan: ScanResult) -> list[SigHit]:
    """Python's ENOSPC without a path (os.ftruncate / posix_fallocate on a shm segment) or on /dev/shm;
    a path elsewhere is another filesystem filling up."""
    if "enospc" not in scan.facts.first:
        return []
    paths = scan.facts.values.get("enospc_path", [])
    if paths and not any("/dev/shm" in p or "psm_" in p or "torch_" in p for p in paths):
        return []
    return _fact_hit(scan, "enospc", "[Errno 28] No space left on device")


def shm(scan: ScanResult) -> list[Pick]:
    """A shared-memory symptom in a container the command gave Docker's 64 MiB /dev/shm (or little more)."""
    # a child killed by SIGBUS, in any launcher's words (explain/death.py: `exitcode -7`, `exited with code 135`)
    bus = [scan.deaths["SIGBUS"]] if "SIGBUS" in scan.deaths else []
    found = {(h.source, h.line): h for h in [*_symptom(scan, SHM_SYMPTOMS), *_enospc_on_shm(scan), *bus]}
    symptom = [found[k] for k in sorted(found)]
    # a refused or vanished /dev/shm is no question of size (shm.not-writable, shm.removed-by-logind)
    symptom = [h for h in symptom if not _NOT_SIZE.search(h.text)]
    value = scan.facts.get("cmd_shm")
    if not symptom or any(i in scan.signatures for i in SHM_NOT_SIZE):
        return []
    if value is None:
        return _measured_shm(scan, symptom)
    if value == "default":
        unset = _DEFAULT_SHM.get(scan.facts.get("cmd_engine") or "", "no --shm-size, no --ipc=host")
        got = f"Docker's default 64 MiB /dev/shm ({unset})"
    elif value.isdigit() and int(value) < SMALL_SHM:
        got = f"a {int(value) >> 20} MiB /dev/shm (--shm-size)"
    else:
        return []
    why = (
        f"The container was started with {got} ({_command(scan)}), and the run then failed on shared memory: "
        "NCCL's segments, vLLM's message queue and DataLoader workers need more. Use --shm-size=16g or --ipc=host."
    )
    return [Pick("shm.too-small", why, [*symptom[:2], *_fact_hit(scan, "cmd_line")], symptom[0].line)]


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s?([KMGT]?)(?:i?B)?$")


def shm_bytes(text: str) -> int | None:
    """A size as ds_report ("64.00 MB", 1024-based), `df -h` ("64M") or a user ("254GB", "188 GiB") give it, in bytes."""
    m = _SIZE.match(text.strip())
    if not m:
        return None
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2) or " "))


def _measured_shm(scan: ScanResult, symptom: list[SigHit]) -> list[Pick]:
    """No command in the log, but ds_report or `df -h /dev/shm` measured /dev/shm where the job ran."""
    for key, tool in (("shm_measured", "DeepSpeed's ds_report"), ("shm_measured_df", "df -h /dev/shm")):
        first = scan.facts.first.get(key)
        size = shm_bytes(first[0]) if first else None
        if first is None or size is None or size >= SMALL_SHM:
            continue
        why = (
            f"{tool} measured a {size >> 20} MiB /dev/shm where the job runs (line {first[1]}), and the run then "
            "failed on shared memory: NCCL's segments, vLLM's message queue and DataLoader workers need more. "
            "Start the container with --shm-size=16g (compose: shm_size) or --ipc=host."
        )
        return [Pick("shm.too-small", why, [*symptom[:2], *_fact_hit(scan, key, f"/dev/shm size {first[0]}")], symptom[0].line)]
    return []


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 0 < int(value) <= 4096 else None


_COUNT_WORDS = {"dual": 2, "two": 2, "three": 3, "four": 4, "six": 6, "eight": 8}


def _stated_count(text: str) -> int | None:
    """A count as a report writes it before or after a GPU model: "2", "2x", "4 x ", "dual ", "Two "."""
    m = re.match(r"\s*([1-8])\b|\s*([1-8])\s?[x×X*]", text)
    if m:
        return int(m.group(1) or m.group(2))
    return _COUNT_WORDS.get(text.strip().lower())


def gpu_count(scan: ScanResult) -> list[Pick]:
    """More ranks than visible GPUs: the world the log asks for against the GPUs the context lists."""
    symptom = _symptom(scan, COUNT_SYMPTOMS, "ordinal")
    if not symptom:
        return []
    facts = scan.facts
    wants: list[tuple[int, str]] = []
    nproc = _int(facts.get("cmd_nproc_per_node") or facts.get("nproc_per_node"))
    if nproc:
        wants.append((nproc, f"--nproc-per-node {nproc}"))
    # glearn37a: accelerate counts processes over all machines: ranks per node only on one machine
    accel = _int(facts.get("accelerate_num_processes"))
    if accel and _int(facts.get("nnodes")) in (None, 1) and _int(facts.get("accelerate_num_machines")) in (None, 1):
        wants.append((accel, f"accelerate --num_processes {accel}"))
    # gfeat38: mpirun -np counts the ranks over every host: this node's only without a host list
    mpi = _int(facts.get("mpi_np"))
    if mpi and _int(facts.get("nnodes")) in (None, 1) and not (facts.get("multi_node_launch") or facts.get("multi_node_launch2")):
        wants.append((mpi, f"mpirun -np {mpi}"))
    local = elastic_local_ranks(facts)  # not NCCL's "localRanks N" count, which fills the same fact
    if local:
        wants.append((len(local.split(",")), f"torchrun started local_ranks=[{local}]"))
    tp = _int(facts.get("cmd_tp_size") or facts.get("tp_size"))
    pp = _int(facts.get("cmd_pp_size") or facts.get("pp_size")) or 1
    if tp and _int(facts.get("nnodes")) in (None, 1):
        wants.append(
            (tp * pp, f"tensor x pipeline parallel {tp} x {pp}" if pp > 1 else f"tensor parallel size {tp}")
        )
    sees: list[tuple[int, str]] = []
    count = _int(facts.get("cmd_gpu_count"))
    if count:
        sees.append((count, f"the container gets {count} GPU(s) ({_command(scan)})"))
    for key in ("cmd_cuda_visible_devices", "cuda_visible_devices"):
        mask = facts.get(key)
        if mask and re.fullmatch(r"[\d,]+", mask):
            n = len([x for x in mask.split(",") if x])
            sees.append((n, f"CUDA_VISIBLE_DEVICES={mask} leaves {n}"))
            break
    # Level Zero's ZE_AFFINITY_MASK: each distinct root index is one device (root.sub entries of one root: one)
    for key in ("cmd_ze_affinity_mask", "ze_affinity_mask"):
        mask = facts.get(key)
        if mask and re.fullmatch(r"[\d.,]+", mask):
            n = len({x.split(".", 1)[0] for x in mask.split(",") if x})
            sees.append((n, f"ZE_AFFINITY_MASK={mask} leaves {n}"))
            break
    # glearn24a: the machine's GPUs as the report counts them ("3090 24g*2", "2x 4090", "dual 3090s"): the most it
    # can have, so a world above it is above the visible GPUs too
    stated = [
        c
        for key in ("stated_gpu_count", "gpu_count")
        for v in facts.values.get(key, [])
        if (c := _stated_count(v)) is not None
    ]
    if stated:
        sees.append((max(stated), f"the report counts {max(stated)} GPU(s) on the machine"))
    # a listing taken on the host lists at least the container's GPUs: a world above it is above both
    for key, tool in (("smi_gpu", "nvidia-smi"), ("rocm_smi_gpu", "rocm-smi")):
        rows = facts.values.get(key, [])
        if rows:
            sees.append((len(set(rows)), f"{tool} lists {len(set(rows))} GPU(s)"))
    if not wants or not sees:
        return []
    want, asked = max(wants)
    have, seen = min(sees)
    if want <= have:
        return []
    why = f"The run asks for {want} GPUs per node ({asked}) but {seen}: ranks beyond the visible GPUs fail."
    return [Pick("vllm.tp-exceeds-visible-gpus", why, symptom[:2], symptom[0].line)]


def denied(scan: ScanResult) -> list[Pick]:
    """A GPU node refused with EACCES; the command says how the container's groups were set.

    Docker resolves a --group-add name in the image's /etc/group (moby daemon/oci_linux.go getUser:
    user.GetAdditionalGroupsPath(GroupAdd, the container's /etc/group)), so `--group-add render` gets the image's render GID,
    not the host's. Rootless Podman maps only the user's own ids into the user namespace: the host's
    render/video GID shows as nogroup unless `--group-add keep-groups` (crun) keeps it
    (containers/podman docs, podman-run --group-add keep-groups)."""
    symptom = _symptom(scan, DENIED)
    engine = scan.facts.get("cmd_engine")
    if not symptom or engine is None:
        return []
    groups = [g for g in (scan.facts.get("cmd_group_add") or "").split(",") if g]
    cmd = _command(scan)
    hits = [*symptom[:2], *_fact_hit(scan, "cmd_line")]
    if engine == "podman" and "keep-groups" not in groups:
        why = (
            f"The container runs under Podman without --group-add keep-groups ({cmd}): rootless, the host's "
            "render/video group is not mapped into the user namespace, so the device's group is nogroup inside and "
            "a group added by number cannot match it. Use --group-add keep-groups (with crun)."
        )
        return [Pick("userns.gid-unmapped", why, hits, symptom[0].line)]
    named = [g for g in groups if not g.isdigit() and g != "keep-groups"]
    if engine in ("docker", "compose") and named and all(g == "video" for g in named):
        # video is GID 44 in Debian/Ubuntu/RHEL images alike; the node's group is what is missing
        why = (
            f"The container adds only the video group ({cmd}), while render nodes and, on current distributions, "
            '/dev/kfd belong to the render group (systemd 50-udev-default.rules: renderD* GROUP="render"): add the '
            "host's render GID as a number as well."
        )
        return [Pick("device.group-denied", why, hits, symptom[0].line)]
    if engine in ("docker", "compose") and named:
        why = (
            f"The container adds the group by name ({', '.join(named)}; {cmd}): Docker resolves the name in the "
            "image's /etc/group, whose GID need not be the host's GID of the device node. Add the host's numeric GID "
            "(`stat -c %g /dev/dri/renderD128`)."
        )
        return [Pick("device.group-name-unresolved", why, hits, symptom[0].line)]
    return []


def gpu_driver(scan: ScanResult) -> list[Pick]:
    """`--gpus` refused with no device driver (docker.gpus-no-vendor-driver): dockerd serves driver "" /
    [[gpu]] through the NVIDIA driver or, since 28.3, the AMD one (moby daemon/devices_amd_linux.go
    getAMDDeviceDrivers); the log's own ROCm/HIP lines or a ROCm image say the host is AMD."""
    symptom = _symptom(scan, ("docker.gpus-no-vendor-driver",))
    if not symptom:
        return []
    amd_lines = sorted(
        (h for i, r in scan.signatures.items() if i.startswith(AMD_PREFIXES) for h in r.evidence[:1]),
        key=lambda h: (h.source, h.line),
    )
    vendor = _vendor(scan, [], [*_symptom(scan, HIP_NONE), *amd_lines])
    if vendor != "amd":
        return []
    shown = amd_lines[:1] or _fact_hit(scan, "cmd_line")
    why = (
        "Docker found no device driver for the --gpus request on a host whose GPU is AMD "
        f"({'line ' + str(shown[0].line) if shown else 'the ROCm image'}): no AMD Container Toolkit runtime "
        "(amd-container-runtime) or amd.com CDI spec is registered; pass --device amd.com/gpu=all with a CDI spec "
        "(amd-ctk cdi generate), or --runtime=amd, or /dev/kfd and /dev/dri as devices."
    )
    return [
        Pick(
            "runtime.amd-toolkit-missing",
            why,
            [*symptom[:1], *shown],
            symptom[0].line,
            {"runtime.nvidia-toolkit-missing": ("docker.gpus-no-vendor-driver",)},
        )
    ]


def picks(scan: ScanResult) -> list[Pick]:
    return [*no_gpu(scan), *shm(scan), *gpu_count(scan), *denied(scan), *gpu_driver(scan)]
