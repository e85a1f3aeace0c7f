"""Issue 13, gecob: serving, training and ML-framework projects' own wording of "no GPU", "fewer GPUs than asked"
and "a GPU library is not in the image", read in the code that prints it (signatures.yaml `# --- gecob ---`).

Lines are written from the format strings cited in each signature's `source`:
- TensorFlow/XLA cuda_driver.cc "failed call to cuInit: " << ToString(res), with the stub's 303 printed as
  "UNKNOWN ERROR (303)" and cuGetErrorName's "CUDA_ERROR_UNKNOWN: unknown error"; cuda_diagnostics.cc
  "kernel driver does not appear to be running on this host (%s): /proc/driver/nvidia/version does not exist";
- Lightning _choose_gpu_accelerator_backend "No supported gpu backend found!";
- lmdeploy check_env BaseChecker.log_and_exit "<%s> check failed!" + CudaChecker's "cuda is not available.";
- Xinference worker.py n_gpu / allocate_devices / allocate_devices_with_gpu_idx messages;
- ExLlamaV2 model_init.py " ## Error: Too many entries in gpu_split. %d CUDA devices are available.";
- llama.cpp ggml_cuda_init "%s: failed to initialize " GGML_CUDA_NAME ": %s";
- ONNX Runtime provider_bridge_ort.cc "Failed to load library %s with error: %s" and
  onnxruntime_inference_collection.py "Specified provider '%s' is not in available provider names.";
- PaddlePaddle dynamic_loader.cc "The third-party dynamic library (%s) that Paddle depends on is not configured
  correctly. (error code is %s)".
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base

NODE = "device.nvidia-node-missing"
TP = "vllm.tp-exceeds-visible-gpus"


@pytest.mark.parametrize(
    ("text", "first"),
    [
        # XLA's cuInit 999 in TF's frame and in the absl::Status frame of TF 2.15+ / jaxlib
        ("2023-01-01 00:00:00.000000: E tensorflow/compiler/xla/stream_executor/cuda/cuda_driver.cc:268] failed call "
         "to cuInit: CUDA_ERROR_UNKNOWN: unknown error\n", NODE),
        ("E0000 00:00:1731000000.000000 12 cuda_executor.cc:1001] failed call to cuInit: INTERNAL: CUDA error: Failed "
         "call to cuInit: CUDA_ERROR_UNKNOWN: unknown error\n", NODE),
        ("lightning_fabric.utilities.exceptions.MisconfigurationException: No supported gpu backend found!\n", NODE),
        # the red text on its own line after the logger's "<CUDA> check failed!"
        ("2024-06-01 10:00:00,000 - lmdeploy - ERROR - base.py:55 - <CUDA> check failed!\n"
         "\x1b[31mcuda is not available.\x1b[0m\n", NODE),
        ("ValueError: [address=0.0.0.0:41919, pid=123] The parameter `n_gpu` must be greater than 0 and not greater "
         "than the number of GPUs: 0 on the machine.\n", NODE),
        ("ValueError: The parameter `n_gpu` must be greater than 0 and not greater than the number of GPUs: 2 on the "
         "machine.\n", TP),
        ("RuntimeError: [address=0.0.0.0:30002, pid=77] Requested GPUs exceed the number of available devices\n", TP),
        ("ValueError: Worker 0.0.0.0:30002 cannot use the GPUs with these indexes: [2, 3]. Worker 0.0.0.0:30002 can "
         "only see these GPUs: [0, 1].\n", "cuda.visible-devices-mismatch"),
        ("ValueError: Worker 0.0.0.0:30002 cannot use the GPUs with these indexes: [0]. Worker 0.0.0.0:30002 can "
         "only see these GPUs: [].\n", NODE),
        (" ## Error: Too many entries in gpu_split. 0 CUDA devices are available.\n", NODE),
        (" ## Error: Too many entries in gpu_split. 1 CUDA devices are available.\n", TP),
        ("ggml_cuda_init: failed to initialize CUDA: unknown error\n", NODE),
        ("2024-01-01T00:00:00.000000Z  WARN text_generation_launcher: Could not import Flash Attention enabled models: "
         "CUDA is not available\n", NODE),
        ("ggml_cuda_init: failed to initialize CUDA: initialization error\n", NODE),
        # PaddlePaddle place.cc CUDAPlace __init__
        ("E0101 00:00:00.000000 123 place.cc:162] Cannot use GPU because there is no GPU detected on your machine.\n",
         NODE),
        ("E0101 00:00:00.000000 123 place.cc:170] Invalid CUDAPlace(2), must inside [0, 1), because GPU number on "
         "your machine is 1\n", "cuda.visible-devices-mismatch"),
    ],
)
def test_project_wording_names_the_cause(tmp_path: Path, text: str, first: str) -> None:
    found = _findings(tmp_path, text)
    assert found, text
    assert found[0] == (first, "suggests")


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ("[E:onnxruntime:Default, provider_bridge_ort.cc:1862 TryGetProviderInfo_CUDA] /onnxruntime_src/onnxruntime/"
         "core/session/provider_bridge_ort.cc:1539 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() "
         "[ONNXRuntimeError] : 1 : FAIL : Failed to load library libonnxruntime_providers_cuda.so with error: "
         "libcudnn_adv.so.9: cannot open shared object file: No such file or directory\n",
         "ort.provider-dependency-missing"),
        ("UserWarning: Specified provider 'CUDAExecutionProvider' is not in available provider names.Available "
         "providers: 'AzureExecutionProvider, CPUExecutionProvider'\n", "ort.provider-not-in-build"),
        ("W1011 16:22:07.015712 788278 dynamic_loader.cc:314] The third-party dynamic library (libcudnn.so) that "
         "Paddle depends on is not configured correctly. (error code is /usr/local/cuda/lib64/libcudnn.so: cannot "
         "open shared object file: No such file or directory)\n", "paddle.dynload-library-missing"),
        ("ValueError: The device should not be 'gpu', since PaddlePaddle is not compiled with CUDA\n",
         "paddle.cpu-build"),
        ("E0101 00:00:00.000000 123 place.cc:180] Cannot use GPU because you have installed CPU version "
         "PaddlePaddle.\n", "paddle.cpu-build"),
    ],
)
def test_image_library_missing_is_not_a_container_cause(tmp_path: Path, text: str, family: str) -> None:
    assert _causes(tmp_path, text) == []
    scanner = Scanner(knowledge_base())
    scanner.scan_stream(io.BytesIO(text.encode()), "lib.log")
    assert family in scanner.result.signatures
    assert knowledge_base().signature(family).root == "not-container"


@pytest.mark.parametrize(
    "text",
    [
        # the driver library itself is the container's business: the libcuda reading stays
        "Failed to load library libonnxruntime_providers_cuda.so with error: libcuda.so.1: cannot open shared object "
        "file: No such file or directory\n",
        "PreconditionNotMetError: The third-party dynamic library (libcuda.so) that Paddle depends on is not "
        "configured correctly. (error code is libcuda.so: cannot open shared object file: No such file or directory)\n",
    ],
)
def test_the_driver_library_keeps_its_container_reading(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text)[:1] == ["runtime.nvidia-toolkit-missing"]


def test_tf_stub_303_alone_names_nothing(tmp_path: Path) -> None:
    # every TF GPU wheel prints it on a CPU-only machine
    text = ("2022-11-27 08:53:47.623445: W tensorflow/stream_executor/cuda/cuda_driver.cc:263] failed call to cuInit: "
            "UNKNOWN ERROR (303)\n"
            "2022-11-27 08:53:47.623471: I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:156] kernel driver does "
            "not appear to be running on this host (talens): /proc/driver/nvidia/version does not exist\n")
    assert _causes(tmp_path, text) == []


def test_tf_stub_303_with_a_docker_run_without_gpus(tmp_path: Path) -> None:
    text = ("$ docker run --rm -it tensorflow/tensorflow:2.15.0-gpu python -c \"import tensorflow as tf\"\n"
            "2024-01-01 00:00:00.000000: E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:274] failed "
            "call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")
    assert _findings(tmp_path, text)[:1] == [(NODE, "suggests")]


def test_xinference_count_against_the_command(tmp_path: Path) -> None:
    # COUNT_SYMPTOMS: the world asked for against the GPUs the command gives the container
    text = ("$ docker run --gpus '\"device=0\"' xprobe/xinference:latest xinference-local -H 0.0.0.0\n"
            "xinference launch --model-name qwen2-instruct --n-gpu 2\n"
            "RuntimeError: Requested GPUs exceed the number of available devices\n")
    assert TP in _causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # healthy: a count that fits is not an error, nor is lmdeploy's passing check or Lightning's info line
        "GPU available: True (cuda), used: True\n",
        "ggml_cuda_init: found 2 CUDA devices:\n  Device 0: NVIDIA A10G, compute capability 8.6, VMM: yes\n",
        "2024-01-01 00:00:00.000000: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1886] Created device "
        "/job:localhost/replica:0/task:0/device:GPU:0 with 22000 MB memory:  -> device: 0, name: NVIDIA A10G\n",
        # a sentence mentioning CUDA, not lmdeploy's line
        "Warning: torch says cuda is not available. Falling back to CPU for this test.\n",
    ],
)
def test_healthy_or_unrelated_lines_stay_clean(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text) == []


def test_kernel_driver_line_is_read_but_names_nothing(tmp_path: Path) -> None:
    text = ("I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:156] kernel driver does not appear to be running "
            "on this host (m101): /proc/driver/nvidia/version does not exist\n")
    assert _causes(tmp_path, text) == []
    scanner = Scanner(knowledge_base())
    scanner.scan_stream(io.BytesIO(text.encode()), "k.log")
    assert "tf.kernel-driver-not-running" in scanner.result.signatures
    # and the lmdeploy line needs to be the whole line: a sentence around it is someone else's
    scanner = Scanner(knowledge_base())
    scanner.scan_stream(io.BytesIO(b"if cuda is not available. then fall back\n"), "s.log")
    assert "lmdeploy.cuda-not-available" not in scanner.result.signatures


@pytest.mark.parametrize(
    "text",
    [
        # v0.3.0 gpu.go: slog key/value line
        'time=2024-07-01T10:00:00.000Z level=WARN source=gpu.go:558 msg="unknown error initializing cuda driver '
        'library" library=/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15 error="cuda driver library init failure: 999"\n',
        # v0.5.0+ discover/gpu.go: one message with the troubleshooting link
        'time=2025-01-01T10:00:00.000Z level=WARN source=gpu.go:612 msg="unknown error initializing cuda driver library '
        "/usr/lib/x86_64-linux-gnu/libcuda.so.565.57.01: cuda driver library init failure: 999. see "
        'https://github.com/ollama/ollama/blob/main/docs/troubleshooting.md for more information"\n'
        'time=2025-01-01T10:00:00.000Z level=INFO source=gpu.go:377 msg="no compatible GPUs were discovered"\n',
    ],
)
def test_ollama_cuinit_999_reads_as_the_device_path(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [(NODE, "suggests")]


def test_ollama_other_cuinit_codes_keep_their_readings(tmp_path: Path) -> None:
    # 100 goes through Ollama's "no nvidia devices detected" wording, not this signature
    text = ('time=2025-01-01T10:00:00.000Z level=INFO source=gpu.go:602 msg="no nvidia devices detected by library '
            '/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"\n')
    scanner = Scanner(knowledge_base())
    scanner.scan_stream(io.BytesIO(text.encode()), "o.log")
    assert "ollama.cuda-driver-init-unknown" not in scanner.result.signatures


@pytest.mark.parametrize(
    "text",
    [
        "[TensorRT-LLM][ERROR] Assertion failed: Detect 2 GPUs, the GPU number is incompatible with 8 gpusPerNode "
        "when MPI size is 4 (/src/tensorrt_llm/cpp/tensorrt_llm/runtime/worldConfig.cpp:95)\n",
        "[TensorRT-LLM][WARNING] gpusPerNode is 8 and mpiSize is 4, but only 2 GPUs detected, which is smaller than "
        "min(mpiSize, gpusPerNode). gpusPerNode will be set to 2\n",
    ],
)
def test_trtllm_world_larger_than_the_gpus(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [(TP, "suggests")]


def test_trtllm_engine_world_mismatch_stays_clean(tmp_path: Path) -> None:
    # TLLM_CHECK_WITH_INFO(mpiSize == tp * pp, "MPI size %d != TP size %d * PP size %d"): mpirun -n vs the engine
    text = ("[TensorRT-LLM][ERROR] Assertion failed: MPI size 1 != TP size 2 * PP size 1 "
            "(/src/tensorrt_llm/cpp/tensorrt_llm/runtime/worldConfig.cpp:90)\n")
    assert _causes(tmp_path, text) == []


def test_deepspeed_num_gpus_counts_as_the_ranks_asked_for(tmp_path: Path) -> None:
    # runner.py --num_gpus: active resources become range(num_gpus), unchecked against the visible GPUs
    text = ("$ CUDA_VISIBLE_DEVICES=0,1 deepspeed --num_gpus 4 train.py --deepspeed ds_config.json\n"
            "RuntimeError: CUDA error: invalid device ordinal\n")
    assert _causes(tmp_path, text)[:1] == [TP]
    scanner = Scanner(knowledge_base())
    scanner.scan_stream(io.BytesIO(text.encode()), "d.log")
    assert scanner.result.facts.get("nproc_per_node") == "4"


def test_llamacpp_main_gpu_check(tmp_path: Path) -> None:
    # 0 devices: a CPU-only build prints it too, so the line alone names nothing
    assert _causes(tmp_path, "llama_model_load_from_file_impl: invalid value for main_gpu: 0 (available devices: 0)\n") == []
    text = "llama_prepare_model_devices: invalid value for main_gpu: 1 (available devices: 1)\n"
    assert _findings(tmp_path, text)[:1] == [("cuda.visible-devices-mismatch", "suggests")]


def test_ollama_cpu_only_summary_is_a_symptom(tmp_path: Path) -> None:
    line = ('time=2025-10-10T00:00:00.000Z level=INFO source=types.go:60 msg="inference compute" id=cpu library=cpu '
            'compute="" name=cpu description=cpu libdirs=ollama driver="" pci_id="" type="" total="62.5 GiB"\n')
    assert _causes(tmp_path, line) == []
    # the command quoted before it says no GPU was requested (the :rocm image says which vendor's nodes)
    text = "$ docker run -d -v ollama:/root/.ollama -p 11434:11434 --name ollama ollama/ollama:rocm\n" + line
    assert _findings(tmp_path, text)[:1] == [("device.kfd-missing", "suggests")]
    # a GPU in the summary is not the symptom
    gpu = ('time=2025-07-01T19:33:43.162Z level=INFO source=types.go:130 msg="inference compute" '
           'id=GPU-452cac9f-6960-839c-4fb3-0cec83699196 library=cuda variant=v12 compute=6.1 driver=12.7\n')
    scanner = Scanner(knowledge_base())
    scanner.scan_stream(io.BytesIO(gpu.encode()), "g.log")
    assert "ollama.cpu-only-inference-compute" not in scanner.result.signatures


OVERRIDE = ('time=2025-10-10T00:00:00.000Z level=WARN source=runner.go:722 msg="user overrode visible devices" '
            "{var}=3\n"
            'time=2025-10-10T00:00:00.000Z level=WARN source=runner.go:726 msg="if GPUs are not correctly discovered, '
            'unset and try again"\n')
CPU_ONLY = ('time=2025-10-10T00:00:00.000Z level=INFO source=types.go:60 msg="inference compute" id=cpu library=cpu '
            'compute="" name=cpu description=cpu libdirs=ollama driver="" pci_id="" type="" total="62.5 GiB"\n')
CUDA_DEV = ('time=2025-10-10T00:00:01.000Z level=INFO source=types.go:42 msg="inference compute" '
            "id=GPU-452cac9f-6960-839c-4fb3-0cec83699196 filter_id=\"\" library=CUDA compute=8.6 name=CUDA0\n")


@pytest.mark.parametrize(
    ("var", "cause"),
    [("CUDA_VISIBLE_DEVICES", "cuda.visible-devices-mismatch"), ("HIP_VISIBLE_DEVICES", "rocm.visible-devices-mismatch")],
)
def test_ollama_mask_then_cpu_only(tmp_path: Path, var: str, cause: str) -> None:
    assert _findings(tmp_path, OVERRIDE.format(var=var) + CPU_ONLY)[:1] == [(cause, "suggests")]


def test_ollama_mask_with_a_gpu_found_is_harmless(tmp_path: Path) -> None:
    assert _causes(tmp_path, OVERRIDE.format(var="CUDA_VISIBLE_DEVICES") + CUDA_DEV) == []
