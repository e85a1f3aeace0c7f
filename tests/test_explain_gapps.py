"""Issue 13, application front-ends (gapps): known container faults in the words of popular apps and frameworks.

Every line is written from the upstream format string the signature (or the inventory row) cites, not copied
from a log: Ollama's GPU bootstrap (gpu_info_cudart.c, gpu_info_nvml.c, gpu.go loadNVCUDAMgmt, v0.1.32-v0.12;
discover/cuda_compat.go v0.30+), llama.cpp's ggml_cuda_init, TensorFlow/XLA's cuInit and Diagnostician lines,
JAX's backend errors, ONNX Runtime's CudaCall/RocmCall, TensorRT(-LLM), Triton, PaddlePaddle, dmlc CUDA_CALL
(MXNet/TVM/DGL), CTranslate2, AUTOMATIC1111, Lightning, DeepSpeed, TGI's launcher and FFmpeg (Frigate, Jellyfin,
Immich). docs/explain-inventory-apps.md is the matrix these rows come from.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

OLLAMA = 'time=2024-07-01T10:00:00.000Z level=INFO source=gpu.go:606 msg="'
# cudaErrorNoDevice (100) names both, in an order the rest of the log decides (data/error_codes/cuda.yaml)
NO_DEVICE = "device.nvidia-node-missing|cuda.visible-devices-mismatch"

# (line, first cause, strength): the front-end's own words for a fault the catalogue knows
POSITIVES = [
    # ollama gpu_info_cudart.c cudart_init, CUDA_ERROR_INSUFFICIENT_DRIVER (v0.1.32-v0.12.0 wording)
    (OLLAMA + "Unable to load cudart library /usr/lib/ollama/cuda_v12/libcudart.so.12.4.127: your nvidia driver "
     'is too old or missing.  If you have a CUDA GPU please upgrade to run ollama"',
     "device.nvidia-node-missing", "suggests"),
    # ... the earlier wording
    ("Unable to load cudart library /tmp/ollama1/runners/cuda_v11/libcudart.so.11.0: your nvidia driver is too "
     "old or missing, please upgrade to run ollama", "device.nvidia-node-missing", "suggests"),
    # "cudart init failure: %d" read through the cudaError_t table (100 = no device)
    (OLLAMA + 'Unable to load cudart library /usr/lib/ollama/libcudart.so.12: cudart init failure: 100"',
     "device.nvidia-node-missing", "suggests"),
    # gpu.go loadNVCUDAMgmt, case CUDA_ERROR_INSUFFICIENT_DRIVER / CUDA_ERROR_SYSTEM_DRIVER_MISMATCH
    ('level=WARN source=gpu.go:605 msg="version mismatch between driver and cuda driver library - reboot or '
     'upgrade may be required: library /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"',
     "nvidia.driver-library-mismatch", "suggests"),
    # case CUDA_ERROR_NO_DEVICE
    ('level=INFO source=gpu.go:608 msg="no nvidia devices detected by library '
     '/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"', "device.nvidia-node-missing", "suggests"),
    # gpu_info_nvml.c nvml_init "nvml vram init failure: %d": 18, 9, 999
    (OLLAMA + "Unable to load NVML management library /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15: "
     'nvml vram init failure: 18"', "nvidia.driver-library-mismatch", "proves"),
    (OLLAMA + "Unable to load NVML management library /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.54.03: "
     'nvml vram init failure: 9"', "device.no-driver", "suggests"),
    (OLLAMA + "Unable to load NVML management library /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.54.03: "
     'nvml vram init failure: 999"', "device.nvml-cgroup-lost", "suggests"),
    # LOG(verbose) "cudaSetDevice err: %d" (OLLAMA_DEBUG=1)
    ("cudaSetDevice err: 35", "device.nvidia-node-missing", "suggests"),
    # gpu_info_oneapi.c oneapi_init "oneapi vram init failure: %x" (ze_result_t in hex, no 0x)
    ('level=DEBUG source=gpu.go:676 msg="Unable to load oneAPI management library '
     '/usr/lib/x86_64-linux-gnu/libze_intel_gpu.so.1: oneapi vram init failure: 78000001"',
     "device.render-node-missing", "suggests"),
    # discover/cuda_compat.go (v0.30+)
    ('time=2026-06-01T10:00:00.000Z level=WARN source=cuda_compat.go:65 msg="NVIDIA driver too old" '
     'device="NVIDIA GeForce RTX 3090" compute=8.6 driver=535 required_driver="550 or newer"',
     "cuda.driver-too-old", "proves"),
    # ggml-cuda.cu ggml_cuda_init: GGML_LOG_ERROR("%s: failed to initialize " GGML_CUDA_NAME ": %s\n", ...)
    ("ggml_cuda_init: failed to initialize CUDA: no CUDA-capable device is detected",
     NO_DEVICE, "suggests"),
    ("ggml_cuda_init: failed to initialize CUDA: CUDA driver version is insufficient for CUDA runtime version",
     "device.nvidia-node-missing", "suggests"),
    ("ggml_cuda_init: failed to initialize ROCm: no ROCm-capable device is detected", "device.kfd-missing",
     "suggests"),
    # TensorFlow/XLA Diagnostician::LogDiagnosticInformation (LOG(INFO) before XLA made it VLOG(1))
    ("2017-10-30 14:05:10.188991: I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:152] no NVIDIA GPU "
     "device is present: /dev/nvidia0 does not exist", "device.nvidia-node-missing", "proves"),
    # LOG(ERROR) "kernel version %s does not match DSO version %s -- cannot find working devices ..." (TF 1.x-2.10,
    # tensorflow/compiler/xla 2.11-2.14, external/local_xla 2.15+)
    ("E tensorflow/stream_executor/cuda/cuda_diagnostics.cc:306] kernel version 460.56.0 does not match DSO "
     "version 470.57.2 -- cannot find working devices in this configuration", "nvidia.driver-library-mismatch",
     "proves"),
    ("E external/local_xla/xla/stream_executor/cuda/cuda_diagnostics.cc:262] kernel version 550.120.0 does not "
     "match DSO version 560.35.5 -- cannot find working devices in this configuration",
     "nvidia.driver-library-mismatch", "proves"),
    # cuda_driver.cc "failed call to cuInit: %s" with ToString(CUresult)
    ("E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:274] failed call to cuInit: "
     "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected", NO_DEVICE, "suggests"),
    # rocm_driver.cc "failed call to hipInit: " << ToString(res) ("HIP_ERROR_" #name), TF 2.11-2.14 and openxla/xla
    ("E tensorflow/compiler/xla/stream_executor/rocm/rocm_driver.cc:302] failed call to hipInit: "
     "HIP_ERROR_InvalidDevice", "device.kfd-missing", "suggests"),
    ("E external/xla/xla/stream_executor/rocm/rocm_driver.cc:152] failed call to hipInit: HIP_ERROR_NoDevice",
     "device.kfd-missing", "suggests"),
    # jax xla_bridge: "Unable to initialize backend '%s': %s"
    ("RuntimeError: Unable to initialize backend 'cuda': FAILED_PRECONDITION: No visible GPU devices. (you may "
     "need to uninstall the failing plugin package, or set JAX_PLATFORMS=cpu to skip this backend.)",
     "device.nvidia-node-missing", "suggests"),
    # xla/pjrt/distributed/client.cc Connect: "Failed to connect to distributed JAX controller: " << status
    ("I0101 00:00:00.000000 1 client.cc:122] Failed to connect to distributed JAX controller: UNAVAILABLE: failed "
     "to connect to all addresses; last error: UNKNOWN: ipv4:10.0.0.2:1234: Failed to connect to remote host: "
     "No route to host", "network.wrong-interface", "suggests"),
    # onnxruntime core/providers/cuda/cuda_call.cc "%s failure %d: %s ; GPU=%d ; hostname=%s ; file=%s ; ..."
    ("[E:onnxruntime:Default, cuda_call.cc:123 CudaCall] CUDA failure 35: CUDA driver version is insufficient "
     "for CUDA runtime version ; GPU=0 ; hostname=h ; file=/onnxruntime_src/onnxruntime/core/providers/cuda/"
     "cuda_execution_provider.cc ; line=245 ; expr=cudaSetDevice(info_.device_id);",
     "device.nvidia-node-missing", "suggests"),
    # TensorRT-LLM cpp/include/tensorrt_llm/common/cudaUtils.h check(): "[TensorRT-LLM][ERROR] CUDA runtime error in %s: %s"
    ("RuntimeError: [TensorRT-LLM][ERROR] CUDA runtime error in ::cudaGetDeviceCount(&count): no CUDA-capable "
     "device is detected (/src/tensorrt_llm/cpp/tensorrt_llm/common/cudaUtils.h:235)",
     NO_DEVICE, "suggests"),
    # triton core: "unable to get number of CUDA devices: %s"
    ("E0101 00:00:00.000000 1 server.cc:250] Internal: unable to get number of CUDA devices: no CUDA-capable "
     "device is detected", NO_DEVICE, "suggests"),
    # python_backend shm_manager.cc and pb_stub.cc
    ("Failed to increase the shared memory pool size to 134217728 bytes. If you are running Triton inside docker, "
     "use '--shm-size' flag to control the shared memory region size. Error: No space left on device",
     "shm.too-small", "proves"),
    ("I0101 00:00:00.000000 1 pb_stub.cc:309] Failed to initialize Python stub: No space left on device",
     "shm.too-small", "suggests"),
    # PaddlePaddle platform/enforce.h "CUDA error(%d), %s." + "[Hint: ...]"
    ("OSError: (External) CUDA error(100), no CUDA-capable device is detected. ", NO_DEVICE,
     "suggests"),
    # dmlc CUDA_CALL: CHECK(e == cudaSuccess || e == cudaErrorCudartUnloading) << "CUDA: " << cudaGetErrorString(e)
    ("mxnet.base.MXNetError: [10:00:00] src/engine/threaded_engine.cc:331: Check failed: e == cudaSuccess || "
     "e == cudaErrorCudartUnloading: CUDA: CUDA driver version is insufficient for CUDA runtime version",
     "device.nvidia-node-missing", "suggests"),
    ("mxnet.base.MXNetError: [10:00:00] src/storage/storage.cc:57: Check failed: e == cudaSuccess || "
     "e == cudaErrorCudartUnloading: CUDA: no CUDA-capable device is detected", NO_DEVICE,
     "suggests"),
    ("Check failed: e == cudaSuccess || e == cudaErrorCudartUnloading: CUDA: invalid device ordinal",
     "cuda.visible-devices-mismatch", "suggests"),
    # Paddle cuda_info.cc PADDLE_ENFORCE_LT: "Device id must be less than GPU count, but received id is: %d. GPU count is: %d."
    ("InvalidArgumentError: Device id must be less than GPU count, but received id is: 0. GPU count is: 0.",
     "device.nvidia-node-missing", "suggests"),
    ("(InvalidArgument) Device id must be less than GPU count, but received id is: 1. GPU count is: 1.",
     "cuda.visible-devices-mismatch", "suggests"),
    # TensorFlow ParseVisibleDeviceList
    ("tensorflow.python.framework.errors_impl.InvalidArgumentError: 'visible_device_list' listed an invalid "
     "Device id '1' but visible device count is 1", "cuda.visible-devices-mismatch", "suggests"),
    # CTranslate2 src/cuda/utils.h CUDA_CHECK: "CUDA failed with error " + cudaGetErrorString(status)
    ("RuntimeError: CUDA failed with error CUDA driver version is insufficient for CUDA runtime version",
     "device.nvidia-node-missing", "suggests"),
    # AUTOMATIC1111 modules/launch_utils.py prepare_environment
    ("RuntimeError: Torch is not able to use GPU; add --skip-torch-cuda-test to COMMANDLINE_ARGS variable to "
     "disable this check", "device.nvidia-node-missing", "suggests"),
    # Lightning accelerator_connector.py (v2 with backticks, v1.6-1.7 GPUAccelerator without)
    ("lightning.fabric.utilities.exceptions.MisconfigurationException: `CUDAAccelerator` can not run on your "
     "system since the accelerator is not available. The following accelerator(s) is available and can be "
     "passed into `accelerator` argument of `Trainer`: ['cpu'].", "device.nvidia-node-missing", "suggests"),
    ("pytorch_lightning.utilities.exceptions.MisconfigurationException: GPUAccelerator can not run on your system "
     "since the accelerator is not available.", "device.nvidia-node-missing", "suggests"),
    # Lightning device_parser._sanitize_gpu_ids: f"You requested gpu: {gpus}\n But your machine only has: {...}"
    ("MisconfigurationException: You requested gpu: [0, 1]\n But your machine only has: []",
     "device.nvidia-node-missing", "suggests"),
    ("MisconfigurationException: You requested gpu: [0, 1, 2, 3]\n But your machine only has: [0, 1]",
     "cuda.visible-devices-mismatch", "suggests"),
    # deepspeed/launcher/runner.py
    ("RuntimeError: Unable to proceed, no GPU resources available", "device.nvidia-node-missing", "suggests"),
    ("ValueError: No slot '2' specified on host 'localhost'", "cuda.visible-devices-mismatch", "suggests"),
    # TGI launcher/src/main.rs LauncherError::NotEnoughCUDADevices
    ('Error: NotEnoughCUDADevices("`sharded` is true but only found 1 CUDA devices")',
     "vllm.tp-exceeds-visible-gpus", "proves"),
    # frigate/app.py check_shm (v0.12-v0.16) and util.py get_nvidia_gpu_stats (v0.12)
    ("frigate.app                    WARNING : The current SHM size of 64.0MB is too small, recommend increasing "
     "it to at least 130.5MB.", "shm.too-small", "proves"),
    ("frigate.util                   ERROR   : Unable to poll nvidia GPU stats: No devices were found",
     "cuda.visible-devices-mismatch", "suggests"),
    # FFmpeg libavcodec/nvenc.c (driver floor) and libavutil/hwcontext_vaapi.c (both wordings)
    ("[h264_nvenc @ 0x5555] Driver does not support the required nvenc API version. Required: 12.1 Found: 12.0\n"
     "[h264_nvenc @ 0x5555] The minimum required Nvidia driver for nvenc is 530.41.03 or newer",
     "cuda.driver-too-old", "suggests"),  # gprec48: "Found" is the loaded libnvidia-encode's, maybe the image's
    ("[AVHWDeviceContext @ 0x55b025ed1340] No VA display found for device /dev/dri/renderD128.",
     "device.render-node-missing", "suggests"),
    ("[AVHWDeviceContext @ 0x5555] No VA display found for device: /dev/dri/renderD128.",
     "device.render-node-missing", "suggests"),
    ("[h264_cuvid @ 0x5555] Cannot load libnvcuvid.so.1", "nvidia.driver-capabilities-missing", "suggests"),
    # cmdutils.c write_option "Failed to set value '%s' for option '%s': %s" + hwcontext_drm.c AVERROR(errno)
    ("Failed to set value 'drm=dr:/dev/dri/renderD128' for option 'init_hw_device': No such file or directory",
     "device.render-node-missing", "proves"),
    ("Failed to set value 'drm=dr:/dev/dri/renderD128' for option 'init_hw_device': Permission denied",
     "device.group-denied", "suggests"),
    ("Failed to set value 'drm=dr:/dev/dri/renderD128' for option 'init_hw_device': Operation not permitted",
     "device.cgroup-denied", "proves"),
]


@pytest.mark.parametrize(("text", "cause", "strength"), POSITIVES)
def test_front_end_words_name_the_container_cause(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text + "\n")
    assert found, f"nothing named for: {text}"
    assert found[0][0] in cause.split("|")
    assert found[0][1] == strength


# A front-end's generic line that a healthy CPU-only host prints too, or a failure with no container cause:
# nothing above notice.
NEGATIVES = [
    # ollama gpu.go GetGPUInfo on a CPU-only host
    'time=2024-05-01T10:00:00.000Z level=INFO source=gpu.go:221 msg="no compatible GPUs were discovered"',
    # llama.cpp common/arg.cpp (CPU build or no GPU) and the Vulkan backend with no physical device
    "warning: no usable GPU found, --gpu-layers option will be ignored",
    "ggml_vulkan: No devices found.",
    # tsl/cuda/cudart_stub.cc on a CPU-only host
    "I external/local_tsl/tsl/cuda/cudart_stub.cc:32] Could not find cuda drivers on your machine, GPU will not be used.",
    # jax xla_bridge with a CPU-only jaxlib
    "WARNING:jax._src.xla_bridge:An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is not "
    "installed. Falling back to cpu.",
    # dmlc CUDA_CALL out of memory: the code name in the condition must not make a cause
    "Check failed: e == cudaSuccess || e == cudaErrorCudartUnloading: CUDA: out of memory",
    # FFmpeg vaInitialize failed: the node opened, the image's VA driver did not load
    "[AVHWDeviceContext @ 0x5555] Failed to initialise VAAPI connection: -1 (unknown libva error).",
    # the VAAPI device path returns EINVAL after "No VA display" (read there), not an errno of its own
    "Failed to set value '/dev/dri/renderD128' for option 'vaapi_device': Invalid argument",
    # the same client when tasks never showed up (a crash or scheduling, not the network)
    "Failed to connect to distributed JAX controller: DEADLINE_EXCEEDED: Deadline Exceeded",
    # accelerate on a CPU/MPS machine with fp16 configured
    "ValueError: fp16 mixed precision requires a GPU (not 'mps').",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_generic_front_end_lines_name_no_cause(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text + "\n") == []


def test_dso_mismatch_with_forward_compat_defers_to_the_compat_cause(tmp_path: Path) -> None:
    # A forward-compat libcuda differs from the kernel module by design: cuInit's 804 names the cause.
    text = (
        "E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:282] failed call to cuInit: "
        "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE: forward compatibility was attempted on non supported HW\n"
        "E external/local_xla/xla/stream_executor/cuda/cuda_diagnostics.cc:262] kernel version 535.104.5 does not "
        "match DSO version 550.54.15 -- cannot find working devices in this configuration\n"
    )
    found = _findings(tmp_path, text)
    assert found[0][0] == "cuda.forward-compat-unsupported"
    assert ("nvidia.driver-library-mismatch", "proves") not in found


def test_dmlc_cuda_call_reads_the_string_not_the_condition(tmp_path: Path) -> None:
    # without the dmlc signature the cudaErrorCudartUnloading in the condition made the line a non-container root
    line = ("Check failed: e == cudaSuccess || e == cudaErrorCudartUnloading: CUDA: CUDA driver version is "
            "insufficient for CUDA runtime version\n")
    assert _findings(tmp_path, line)[:1] == [("device.nvidia-node-missing", "suggests")]


def test_nvenc_minimum_driver_line_alone_proves_no_old_driver(tmp_path: Path) -> None:
    # nvenc.c prints nvenc_print_driver_requirement after any libnvidia-encode load failure too: only the
    # "Driver does not support the required nvenc API version" line proves the driver is old
    found = _findings(tmp_path, "[h264_nvenc @ 0x5555] The minimum required Nvidia driver for nvenc is 570.0 or newer\n")
    assert ("cuda.driver-too-old", "proves") not in found
