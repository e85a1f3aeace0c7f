"""Issue 13, heldout52 lessons (glearn52a).

Lines are written from the code that prints them (not copied from the heldout52 logs):
- an AMD integrated GPU's target beside a discrete Radeon: amdgpu-arch / offload-arch / rocm_agent_enumerator print
  one target per line (llvm-project clang/tools/amdgpu-arch), torch's device names printed as a list carry the
  generic "AMD Radeon(TM) Graphics" of the APU, and a user says the discrete GPU "reports as gfx1036";
- cudaIpcOpenMemHandle failing with cudaErrorInvalidDevice (TensorRT-LLM ipcUtils.cpp TLLM_CUDA_CHECK ->
  cudaUtils.h check "[TensorRT-LLM][ERROR] CUDA runtime error in %s: %s"; tensorrt_llm/_ipc_utils.py
  _raise_if_error): no peer access on PCIe consumer GPUs, not a device mask;
- Slurm's gres/gpu exporting ROCR_VISIBLE_DEVICES beside an NVIDIA CUDA_VISIBLE_DEVICES, which Ollama 0.9.3-0.11.4
  (llama/patches/0018-temporary-prevent-rocm-cuda-mixed-loading.patch) takes as a reason to load HIP, not CUDA;
- kmcuda's setup_devices P2P warnings (src/kmcuda.cc): notes;
- a pod that requested nvidia.com/gpu and has no libcuda: the pod's runtime class.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

# ------------------------------------------------------------------ kmcuda's P2P notes

KMCUDA = (
    "warning: p2p {a} <-> {b} is impossible\n",
    "warning: failed to enable p2p on gpu #{a}: peer access is not supported between these two devices\n",
)


def test_kmcuda_p2p_warnings_are_notes(tmp_path: Path) -> None:
    text = "".join(f.format(a=a, b=b) for a, b in ((1, 0), (3, 2)) for f in KMCUDA)
    assert _causes(tmp_path, text) == []
    assert any("kmcuda warns" in n for n in _notes(tmp_path, text))
    # each form alone too
    for form in KMCUDA:
        assert _causes(tmp_path, form.format(a=2, b=1)) == []


def test_peer_access_unsupported_outside_kmcuda_still_names_p2p(tmp_path: Path) -> None:
    # the kmcuda line is a note; the same CUDA string raised by a program (or NCCL) is still P2P
    text = KMCUDA[1].format(a=0, b=1) + "RuntimeError: CUDA error: peer access is not supported between these two devices\n"
    assert _causes(tmp_path, text)[:1] == ["nccl.p2p-unsupported"]
    assert _causes(tmp_path, KMCUDA[1].format(a=0, b=1)) == []


# ------------------------------------------------------------------ CUDA IPC open without peer access

TRT_CPP = (
    "RuntimeError: [TensorRT-LLM][ERROR] CUDA runtime error in cudaIpcOpenMemHandle( reinterpret_cast<void**>"
    "(&foreignBuffer), handles[nodeId], cudaIpcMemLazyEnablePeerAccess): invalid device ordinal "
    "(/src/tensorrt_llm/cpp/tensorrt_llm/runtime/ipcUtils.cpp:{line})"
)
TRT_PY = (
    "Traceback (most recent call last):\n"
    '  File "/usr/local/lib/python3.12/dist-packages/tensorrt_llm/_ipc_utils.py", line 117, in open_ipc_memory\n'
    "    error, ptr = cudart.cudaIpcOpenMemHandle(\n"
    '  File "/usr/local/lib/python3.12/dist-packages/tensorrt_llm/_ipc_utils.py", line 30, in _raise_if_error\n'
    "    raise RuntimeError(error)\n"
    "RuntimeError: {err}\n"
)


@pytest.mark.parametrize(
    "text",
    [
        TRT_CPP.format(line=108),
        "[TensorRT-LLM][ERROR] " + TRT_CPP.format(line=97).split("[ERROR] ", 1)[1],
        TRT_PY.format(err="cudaError_t.cudaErrorInvalidDevice"),
        TRT_PY.format(err="<cudaError_t.cudaErrorInvalidDevice: 101>"),
        "engine init fails on all ranks: cudaErrorInvalidDevice (101) returned by cudaIpcOpenMemHandle",
        "cudaIpcOpenMemHandle failed with cudaErrorInvalidDevice: 101 on 8x RTX 5090 (PCIe, no NVLink)",
    ],
)
def test_cuda_ipc_open_invalid_device_is_p2p(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text + "\n")[:1] == [("nccl.p2p-unsupported", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # an invalid ordinal with no IPC call stays the device mask
        "RuntimeError: CUDA error: invalid device ordinal\n",
        # the Python error alone, no cudaIpcOpenMemHandle frame above it
        "RuntimeError: cudaError_t.cudaErrorInvalidDevice\n",
    ],
)
def test_invalid_device_without_ipc_is_not_p2p(tmp_path: Path, text: str) -> None:
    found = _causes(tmp_path, text)
    assert "nccl.p2p-unsupported" not in found
    # the IPC form of the same error is P2P (fails without glearn52a)
    assert _causes(tmp_path, TRT_CPP.format(line=108) + "\n")[:1] == ["nccl.p2p-unsupported"]


# ------------------------------------------------------------------ an iGPU beside a discrete Radeon

HIP_FAIL = "RuntimeError: HIP error: invalid device function\n"


@pytest.mark.parametrize(
    "listing",
    [
        # amdgpu-arch / offload-arch: one target per line
        "$ amdgpu-arch\ngfx1036\ngfx1100\n",
        # rocm_agent_enumerator: gfx000 is the CPU agent
        "$ rocm_agent_enumerator\ngfx000\ngfx1201\ngfx1036\n",
        "PS C:\\> & 'C:\\Program Files\\AMD\\ROCm\\6.2\\bin\\amdgpu-arch.exe'\ngfx1036\n",
        "$ offload-arch\ngfx1103\n",
    ],
)
def test_arch_tool_lists_igpu_target_beside_a_discrete_radeon(tmp_path: Path, listing: str) -> None:
    text = "GPU: AMD Radeon RX 7900 XTX\n" + listing + HIP_FAIL
    assert _causes(tmp_path, text)[:1] == ["rocm.igpu-visible"]
    # no discrete GPU named: an APU machine listing its own target is not this
    assert "rocm.igpu-visible" not in _causes(tmp_path, listing + HIP_FAIL)


@pytest.mark.parametrize(
    "names",
    [
        "['AMD Radeon(TM) Graphics', 'AMD Radeon RX 7900 XT']",
        "['AMD Radeon RX 9070 XT', 'AMD Radeon Graphics']",
        '["AMD Radeon(TM) Graphics", "AMD Radeon PRO W7900"]',
    ],
)
def test_torch_device_name_list_with_the_generic_igpu_name(tmp_path: Path, names: str) -> None:
    text = (
        "print([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])\n"
        f"{names}\n"
        "torch.AcceleratorError: HIP error: device kernel image is invalid\n"
        "hipErrorInvalidImage\n"
    )
    assert _causes(tmp_path, text)[:1] == ["rocm.igpu-visible"]


def test_generic_radeon_name_without_a_discrete_radeon_in_the_list_is_not_an_igpu(tmp_path: Path) -> None:
    # Instinct boards whose marketing name is missing read "AMD Radeon Graphics" too
    text = "['AMD Radeon Graphics', 'AMD Radeon Graphics']\nRuntimeError: HIP error: invalid device function\n"
    assert "rocm.igpu-visible" not in _causes(tmp_path, text)
    # the same list with a discrete Radeon in it is (fails without glearn52a)
    text2 = "['AMD Radeon Graphics', 'AMD Radeon RX 7800 XT']\nRuntimeError: HIP error: invalid device function\n"
    assert _causes(tmp_path, text2)[:1] == ["rocm.igpu-visible"]


def test_igpu_listing_without_a_failure_stays_clean(tmp_path: Path) -> None:
    healthy = "GPU: AMD Radeon RX 7900 XTX\n$ amdgpu-arch\ngfx1100\ngfx1036\n['AMD Radeon RX 7900 XTX', 'AMD Radeon(TM) Graphics']\n"
    assert _causes(tmp_path, healthy) == []
    assert _causes(tmp_path, healthy + HIP_FAIL)[:1] == ["rocm.igpu-visible"]


@pytest.mark.parametrize(
    "line",
    [
        "With ROCm 6.2 my Radeon RX 6800 XT reports as gfx1036 and nothing runs.",
        "The Radeon RX 7900 XTX shows up as gfx1036 in amdgpu-arch.",
        "My Radeon RX 9070 is detected as `gfx1151`, not gfx1201.",
        "my ASUS TUF 6800XT reports as gfx1036 with ROCm 6.1",
        "AMD Radeon RX 7600 is recognized as gfx1103 by HIP.",
    ],
)
def test_prose_discrete_radeon_reports_an_igpu_target(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == ["rocm.igpu-visible"]


@pytest.mark.parametrize(
    "line",
    [
        # an APU alone, its own target
        "On my laptop the Radeon 780M shows up as gfx1103.",
        "The Ryzen AI Max+ 395 iGPU is detected as gfx1151.",
        # a discrete target, not an APU's
        "My Radeon RX 7900 XTX reports as gfx1100.",
        # the APU's own target, named after the discrete card (ollama#12071's form)
        "GPU 1: AMD Radeon RX 7700S; GPU 0: AMD Radeon 780M (reported as gfx1103 in the logs)",
        "Radeon RX 7700S beside the integrated GPU, which shows up as gfx1103",
    ],
)
def test_prose_target_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "rocm.igpu-visible" not in _causes(tmp_path, line + "\n")
    # (fails without glearn52a) the same words for a discrete card and an APU target name it
    assert _causes(tmp_path, "My Radeon RX 7800 XT reports as gfx1036.\n") == ["rocm.igpu-visible"]


# ------------------------------------------------------------------ Slurm's ROCm mask on an NVIDIA node, Ollama

UUID = "GPU-5c1f07a2-9b3d-4e61-8f20-7d9e4ab3c118"
SUBPROC = (
    "time=2025-07-02T10:11:12.345+02:00 level=DEBUG source=server.go:439 msg=subprocess "
    "PATH=/usr/bin:/bin {env} OLLAMA_DEBUG=1 OLLAMA_HOST=0.0.0.0:11434 "
    "LD_LIBRARY_PATH=/opt/ollama/lib/ollama:/opt/ollama/lib/ollama/cuda_v12"
)


@pytest.mark.parametrize(
    "env",
    [
        f"ROCR_VISIBLE_DEVICES=0 CUDA_VISIBLE_DEVICES={UUID} GPU_DEVICE_ORDINAL=0",
        f"CUDA_VISIBLE_DEVICES={UUID} GPU_DEVICE_ORDINAL=0 ROCR_VISIBLE_DEVICES=0",
        f'HIP_VISIBLE_DEVICES="" CUDA_VISIBLE_DEVICES={UUID}',
    ],
)
def test_ollama_runner_with_a_rocm_mask_on_an_nvidia_gpu(tmp_path: Path, env: str) -> None:
    assert _causes(tmp_path, SUBPROC.format(env=env) + "\n") == ["rocm.visible-devices-mismatch"]
    # a release in the window of the mixed-loading guard keeps it
    started = 'time=2025-07-02T10:11:00.000+02:00 level=INFO source=routes.go:1288 msg="Listening on [::]:11434 (version 0.10.1)"\n'
    assert _causes(tmp_path, started + SUBPROC.format(env=env) + "\n") == ["rocm.visible-devices-mismatch"]


@pytest.mark.parametrize("version", ["0.9.2", "0.11.5", "0.12.3", "0.13.0"])
def test_ollama_release_without_the_mixed_loading_guard_is_a_note(tmp_path: Path, version: str) -> None:
    env = f"ROCR_VISIBLE_DEVICES=0 CUDA_VISIBLE_DEVICES={UUID} GPU_DEVICE_ORDINAL=0"
    started = f'time=2025-10-02T10:11:00.000+02:00 level=INFO source=routes.go:1288 msg="Listening on 127.0.0.1:11434 (version {version})"\n'
    assert _causes(tmp_path, started + SUBPROC.format(env=env) + "\n") == []
    assert _causes(tmp_path, SUBPROC.format(env=env) + "\n") == ["rocm.visible-devices-mismatch"]


def test_rocm_mask_beside_nvidia_uuid_outside_ollama_is_a_note(tmp_path: Path) -> None:
    # a CUDA program ignores the ROCm mask Slurm exports beside its own
    line = f"srun: job 4242 env: CUDA_VISIBLE_DEVICES={UUID} ROCR_VISIBLE_DEVICES=0 GPU_DEVICE_ORDINAL=0\n"
    assert _causes(tmp_path, line) == []
    assert any("Slurm's gres/gpu" in n for n in _notes(tmp_path, line))
    # and an NVIDIA mask alone is nothing of this
    assert _causes(tmp_path, SUBPROC.format(env=f"CUDA_VISIBLE_DEVICES={UUID}") + "\n") == []


# ------------------------------------------------------------------ a pod that requested nvidia.com/gpu without libcuda

NO_LIBCUDA = "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory\n"


@pytest.mark.parametrize(
    "request_text",
    [
        "    resources:\n      limits:\n        nvidia.com/gpu: 1\n",
        "Limits:\n      nvidia.com/gpu:  2\n",
        '      resources: {"limits": {"nvidia.com/gpu": "1"}}\n',
        "helm install vllm ./chart --set resources.limits.nvidia.com/gpu=1\n",
    ],
)
def test_pod_gpu_request_and_no_libcuda_is_the_runtime_class(tmp_path: Path, request_text: str) -> None:
    found = _causes(tmp_path, request_text + NO_LIBCUDA)
    assert found[:1] == ["k8s.nvidia-runtime-class-missing"]
    assert "runtime.nvidia-toolkit-missing" not in found


def test_pod_runtime_class_neighbours(tmp_path: Path) -> None:
    # no GPU request: the toolkit reading stays
    assert "k8s.nvidia-runtime-class-missing" not in _causes(tmp_path, NO_LIBCUDA)
    # an AMD request is not the NVIDIA runtime class
    assert "k8s.nvidia-runtime-class-missing" not in _causes(tmp_path, "  limits:\n    amd.com/gpu: 1\n" + NO_LIBCUDA)
    # GKE mounts the driver elsewhere
    gke = "GKE node pool with nvidia.com/gpu: 1\n" + NO_LIBCUDA
    assert "k8s.nvidia-runtime-class-missing" not in _causes(tmp_path, gke)
    # driver capabilities without compute in the pod spec: the setting is the cause (gcaps), not the runtime class
    caps = "NVIDIA_DRIVER_CAPABILITIES=graphics,video\n"
    assert _causes(tmp_path, caps + "  limits:\n    nvidia.com/gpu: 1\n" + NO_LIBCUDA)[:1] == ["nvidia.driver-capabilities-missing"]
    # (fails without glearn52a) the request alone with the missing driver names it
    assert _causes(tmp_path, "  limits:\n    nvidia.com/gpu: 1\n" + NO_LIBCUDA)[:1] == ["k8s.nvidia-runtime-class-missing"]
