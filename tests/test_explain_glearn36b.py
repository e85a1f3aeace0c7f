"""Issue 13, heldout36 lessons (glearn36b): a GPU's compute mode refusing a context, EMFILE in musl's words,
GPU models counted after the number, Apptainer/Singularity without --nv in JAX's words.

Lines are written from the code that prints them (not copied from the heldout36 logs):
- OpenMM's CUDA platform (platforms/cuda/src/CudaContext.cpp): 7.0+ tries cuCtxCreate on each GPU and throws "No
  compatible CUDA device is available" (no DeviceIndex) or "The requested CUDA device could not be loaded" (a
  DeviceIndex); 5.x-6.3 wrapped cuCtxCreate in CHECK_RESULT: "Error initializing Context: CUDA_ERROR_INVALID_DEVICE
  (101) at <file>:<line>". OpenMM's OpenCL platform (OpenCLContext.cpp): "Error initializing context: clCreateContext
  (-33)". A GPU in EXCLUSIVE_PROCESS mode refuses the second context; with MPS in the log it is the MPS server;
- musl's strerror(EMFILE) "No file descriptors available" (src/errno/__strerror.h), printed by Rust's std as
  "<strerror> (os error 24)" and Python as "[Errno 24] <strerror>";
- "4090 X 4": the GeForce / RTX A-series model counted after the number, which selects the P2P reading of a hang;
- JAX's "Unable to initialize backend 'cuda': FAILED_PRECONDITION: No visible GPU devices." with an Apptainer
  command (or the report) missing --nv.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings

# --- OpenMM's CUDA and OpenCL context refused: the GPU's compute mode ---


@pytest.mark.parametrize(
    "line",
    [
        # OpenMM 7.0+: every GPU refused a context (no DeviceIndex), as a test binary, Python and AlphaFold's relax print it
        "exception: No compatible CUDA device is available",
        "openmm.OpenMMException: No compatible CUDA device is available",
        "CUDA platform error: No compatible CUDA device is available",
        "I1104 17:02:44.918273 140211 amber_minimize.py:417] No compatible CUDA device is available",
        # OpenMM 7.0+: the one GPU asked for (DeviceIndex / CudaDeviceIndex) refused it
        "exception: The requested CUDA device could not be loaded",
        "Exception: The requested CUDA device could not be loaded",
        # OpenMM 5.x-6.3: cuCtxCreate inside CHECK_RESULT ("<prefix>: <CUresult> (<n>) at <file>:<line>")
        "exception: Error initializing Context: CUDA_ERROR_INVALID_DEVICE (101) at /usr/src/openmm/platforms/cuda/src/CudaContext.cpp:142",
        "Exception: Error initializing Context: CUDA_ERROR_INVALID_DEVICE (101) at C:\\openmm\\platforms\\cuda\\src\\CudaContext.cpp:149",
        # the OpenCL platform: clCreateContext refusing a GPU of its own list (CL_INVALID_DEVICE)
        "OpenCL platform error: Error initializing context: clCreateContext (-33)",
        "simtk.openmm.OpenMMException: Error initializing context: clCreateContext (-33)",
    ],
)
def test_openmm_context_refused_names_the_compute_mode(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[:1] == [("nvidia.compute-mode-exclusive", "suggests")]


def test_openmm_context_refused_under_mps_is_the_mps_server(tmp_path: Path) -> None:
    text = (
        "$ sudo nvidia-cuda-mps-control -d\n"
        "exception: The requested CUDA device could not be loaded\n"
    )
    got = _causes(tmp_path, text)
    assert got[:1] == ["nvidia.mps-not-shared"]
    assert "nvidia.compute-mode-exclusive" not in got


@pytest.mark.parametrize(
    "text",
    [
        # other OpenMM failures at the same place are not a refused context
        "exception: Illegal value for DeviceIndex: 3\n",
        "openmm.OpenMMException: There is no registered Platform called \"CUDA\"\n",
        "OpenCL platform error: Error initializing context: clGetPlatformIDs (-1001)\n",
        "openmm.OpenMMException: No compatible OpenCL device is available\n",
        # another program's clCreateContext -33 (a device of another platform, a wrong index)
        "OpenCL clCreateContext error -33 at /src/whisper.cpp/ggml-opencl.c:213\n",
        # a healthy testInstallation
        "1 Reference - Successfully computed forces\n2 CPU - Successfully computed forces\n"
        "3 CUDA - Successfully computed forces\n4 OpenCL - Successfully computed forces\n",
    ],
)
def test_openmm_neighbours_are_not_the_compute_mode(tmp_path: Path, text: str) -> None:
    assert "nvidia.compute-mode-exclusive" not in _causes(tmp_path, text)


def test_invalid_device_outside_openmm_context_creation_stays_a_mask(tmp_path: Path) -> None:
    # CUDA_ERROR_INVALID_DEVICE elsewhere is still read by the code tables (an index beyond the visible GPUs)
    line = "RuntimeError: CUDA error: CUDA_ERROR_INVALID_DEVICE (101) when calling cuDeviceGet(&dev, 3)\n"
    assert "nvidia.compute-mode-exclusive" not in _causes(tmp_path, line)


@pytest.mark.parametrize(
    "line",
    [
        # TensorFlow / XLA stream_executor (TF 1.13+: "<name>: <string>"; TF 1.x before: cuCtxCreate)
        "E1203 09:41:17.402113 3141 platform_util.cc:256] unable to create StreamExecutor for CUDA:1: failed initializing "
        "StreamExecutor for CUDA device ordinal 1: Internal: failed call to cuDevicePrimaryCtxRetain: "
        "CUDA_ERROR_INVALID_DEVICE: invalid device ordinal",
        "E tensorflow/stream_executor/cuda/cuda_driver.cc:509] failed call to cuCtxCreate: CUDA_ERROR_INVALID_DEVICE",
        # numba's CudaAPIError ("[<code>] Call to <fn> results in <name>")
        "numba.cuda.cudadrv.driver.CudaAPIError: [101] Call to cuDevicePrimaryCtxRetain results in CUDA_ERROR_INVALID_DEVICE",
        "numba.cuda.cudadrv.error.CudaAPIError: [101] Call to cuCtxCreate results in CUDA_ERROR_INVALID_DEVICE",
    ],
)
def test_driver_api_context_refused_names_the_compute_mode(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[:1] == [("nvidia.compute-mode-exclusive", "suggests")]


@pytest.mark.parametrize(
    "shown",
    [
        "| 41%   36C    P8    12W / 250W |     97MiB /  1985MiB |      N/A      Default |\n",
        "|  30%   38C    P2    55W / 350W |   1024MiB / 24576MiB |      3%      Default |\n",
        "    Compute Mode                          : Default\n",
    ],
)
@pytest.mark.parametrize(
    "line",
    [
        "exception: No compatible CUDA device is available\n",
        "E tensorflow/stream_executor/cuda/cuda_driver.cc:509] failed call to cuCtxCreate: CUDA_ERROR_INVALID_DEVICE\n",
        "OpenCL platform error: Error initializing context: clCreateContext (-33)\n",
    ],
)
def test_refused_context_on_a_default_mode_gpu_is_not_the_compute_mode(tmp_path: Path, shown: str, line: str) -> None:
    got = _causes(tmp_path, shown + line)
    assert "nvidia.compute-mode-exclusive" not in got
    assert "cuda.visible-devices-mismatch" not in got


def test_refused_context_with_exclusive_mode_shown_names_it(tmp_path: Path) -> None:
    text = (
        "| N/A   34C    P0    39W / 250W |      0MiB / 16280MiB |      0%   E. Process |\n"
        "exception: The requested CUDA device could not be loaded\n"
    )
    assert _causes(tmp_path, text)[:1] == ["nvidia.compute-mode-exclusive"]


# --- EMFILE in musl's words (Alpine images, static Rust tools such as uv) ---


@pytest.mark.parametrize(
    "text",
    [
        # Rust std's io::Error Display on a musl target: "<strerror> (os error <n>)", in uv's anyhow chain
        "error: Failed to bytecode-compile Python file in: /opt/venv/lib/python3.11/site-packages\n"
        "  Caused by: Failed to start Python interpreter to run compile script\n"
        "  Caused by: No file descriptors available (os error 24)\n",
        "error: failed to read from file `/root/.cache/uv/wheels-v5/pypi/numpy/METADATA`: No file descriptors available (os error 24)\n",
        # CPython on Alpine
        "OSError: [Errno 24] No file descriptors available: '/data/shards/part-00017.arrow'\n",
        # inside a docker build step
        "#12 88.41 error: No file descriptors available (os error 24)\n",
    ],
)
def test_musl_emfile_is_the_open_file_limit(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [("limits.nofile-too-low", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # inotify's EMFILE is fs.inotify.max_user_instances, not RLIMIT_NOFILE
        "Failed to allocate directory watch: No file descriptors available\n",
        "inotify_init1 failed: No file descriptors available (os error 24)\n",
        # ENFILE in musl's words is the whole host's table, not the container's limit
        "OSError: [Errno 23] Too many open files in system\n",
    ],
)
def test_musl_emfile_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "limits.nofile-too-low" not in _causes(tmp_path, text)


# --- GeForce / RTX A-series counted after the model: the same selecting fact for a hang ---


@pytest.mark.parametrize(
    "gpus",
    ["GPU: 4090 X 4", "GPUs: 3090 x 2", "hardware: A6000 * 8", "box: 4080 × 4"],
)
def test_model_counted_after_selects_p2p_for_a_hang(tmp_path: Path, gpus: str) -> None:
    text = f"Training hangs on the first step\n{gpus}\nsingle GPU works fine\n"
    assert _causes(tmp_path, text)[:1] == ["nccl.p2p-unsupported"]


@pytest.mark.parametrize(
    "gpus",
    [
        "render size 3080 x 2048",  # a size, not a count
        "the 4090 x 4 benchmark finished in 32 s",  # no hang
    ],
)
def test_model_counted_after_neighbours_stay_clean(tmp_path: Path, gpus: str) -> None:
    text = gpus + "\n"
    assert _causes(tmp_path, text) == []


def test_size_after_a_model_number_is_not_a_count_in_a_hang(tmp_path: Path) -> None:
    text = "The renderer hangs at frame 1\nresolution 3080 x 2048\n"
    assert "nccl.p2p-unsupported" not in _causes(tmp_path, text)


# --- Apptainer / Singularity without --nv, in JAX's words ---

JAX_NO_GPU = (
    "RuntimeError: Unable to initialize backend 'cuda': FAILED_PRECONDITION: No visible GPU devices. "
    "(set JAX_PLATFORMS='' to automatically choose an available backend)\n"
)


@pytest.mark.parametrize(
    "lead",
    [
        "$ apptainer exec /scratch/images/colabfold.sif python predict.py\n",
        "singularity run alphafold.sif --fasta_paths=q.fasta\n",
        "The --nv flag of Singularity is required here.\n",
        "Running it through apptainer without --nv.\n",
    ],
)
def test_apptainer_without_nv_and_jax_no_gpu_says_nv(tmp_path: Path, lead: str) -> None:
    got = _findings(tmp_path, lead + JAX_NO_GPU)
    assert got[:1] == [("device.nvidia-node-missing", "suggests")]
    assert _message_has_nv(tmp_path, lead + JAX_NO_GPU)


def _message_has_nv(tmp_path: Path, text: str) -> bool:
    from tpdoctor.explain import explain

    log = tmp_path / "m.log"
    log.write_text(text, encoding="utf-8")
    return any("Add --nv" in f.message or "apptainer exec --nv" in f.message for f in explain([str(log)]).findings)


def test_apptainer_with_nv_gets_no_nv_message(tmp_path: Path) -> None:
    text = "$ apptainer exec --nv /scratch/images/colabfold.sif python predict.py\n" + JAX_NO_GPU
    assert not _message_has_nv(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # the report naming --nv without a no-GPU line
        "Singularity's --nv option is needed to use the GPU.\n",
        "apptainer exec --nv vllm.sif vllm serve m --tensor-parallel-size 2\nINFO 01-01 Started server process\n",
    ],
)
def test_apptainer_nv_words_alone_stay_clean(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text) == []
