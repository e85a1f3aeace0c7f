"""Issue 13, gnew46: container/host causes heldout46's collectors and earlier rounds' dropped leads left uncovered.

Lines are written from the format strings of the code that prints them (never copied from a collected log):

- host.cpu-avx-missing: ollama/ollama gpu/gpu.go GetGPUInfo (slog.Warn "CPU does not have AVX or AVX2, disabling GPU
  support." v0.1.23-v0.1.44; slog.Warn "CPU does not have minimum vector extensions, GPU inference disabled" with
  required=/detected= attributes v0.1.45-v0.3; discover/gpu.go fmt.Errorf "CPU does not have minimum vector
  extensions, GPU inference disabled.  Required:%s  Detected:%s" v0.5.0) behind slog's text handler prefix
  (time=... level=WARN source=gpu.go:N msg="..."); tensorflow/core/platform/cpu_feature_guard.cc CheckFeatureOrDie
  ("The TensorFlow library was compiled to use " << feature_name << " instructions, but these aren't available on
  your machine.", LOG(FATAL) behind TensorFlow's "<date> <time>: F <file>:<line>] " prefix).
- hailo.driver-mismatch: hailo-ai/hailort libhailort/src/vdma/driver/hailort_driver.cpp validate_driver_version
  (CHECK -> "CHECK failed - Driver version ({}.{}.{}) is different from library version ({}.{}.{})") and the
  constructor's "Driver version mismatch, status {}" with hailo_status printed as NAME(code), behind HailoRT's
  "[HailoRT] [error] " console prefix; hef.cpp's DFC line for the look-alike.
- fs.jit-cache-other-owner: CPython's PermissionError text for EACCES ("[Errno 13] Permission denied: '%s'") on the
  default cache paths of torch/utils/cpp_extension.py get_default_build_root (tempfile.gettempdir()/torch_extensions,
  its per-extension lock file), Triton 1.x (TRITON_CACHE_DIR default '/tmp/triton/', filelock's <hash>.lock) and
  torch/_inductor/runtime/cache_dir_utils.py default_cache_dir (tempfile.gettempdir()/torchinductor_<user>).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_AVX = "host.cpu-avx-missing"
_HAILO = "hailo.driver-mismatch"
_JIT = "fs.jit-cache-other-owner"


def _guarded(entry: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew46)."""
    assert entry in _ids(), entry


def test_the_new_readings_are_loaded() -> None:
    got = _ids()
    for sid in (
        "ollama.cpu-without-avx-gpu-disabled",
        "tensorflow.cpu-feature-guard-missing-instructions",
        "hailort.driver-version-mismatch",
        "jit.shared-tmp-cache-denied",
    ):
        assert sid in got, sid


def test_the_new_causes_have_remedies() -> None:
    from tpdoctor.explain.signatures import knowledge_base
    from tpdoctor.model.fixes import remedies

    kb = knowledge_base()
    named = {c for s in kb.signatures for c in s.causes} | {c.emit for c in kb.correlations if c.emit}
    for cause in (_AVX, _HAILO, _JIT):
        assert cause in named, cause
        assert remedies(cause), cause


# --- host.cpu-avx-missing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # Ollama 0.1.23-0.1.44 in a VM with a generic CPU model and a passed-through GPU
        'time=2024-03-01T09:12:44.101Z level=INFO source=gpu.go:99 msg="Nvidia GPU detected"\n'
        'time=2024-03-01T09:12:44.102Z level=INFO source=cpu_common.go:18 msg="CPU does not have vector extensions"\n'
        'time=2024-03-01T09:12:44.102Z level=WARN source=gpu.go:128 msg="CPU does not have AVX or AVX2, disabling GPU support."\n',
        # Ollama 0.1.45-0.3: slog attributes after the message
        'time=2024-09-10T18:01:02.003Z level=WARN source=gpu.go:222 msg="CPU does not have minimum vector extensions, '
        'GPU inference disabled" required=avx detected="no vector extensions"\n',
        # Ollama 0.5.0: the error's text as the message
        'time=2024-12-05T07:30:00.000Z level=WARN source=gpu.go:251 msg="CPU does not have minimum vector extensions, '
        'GPU inference disabled.  Required:avx  Detected:no vector extensions"\n',
    ],
)
def test_ollama_refusing_the_gpu_for_want_of_avx_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_AVX, "proves"), got


@pytest.mark.parametrize("feature", ["AVX", "AVX2", "SSE4.1", "FMA"])
def test_tensorflow_aborting_for_a_missing_instruction_set_suggests_it(tmp_path: Path, feature: str) -> None:
    text = (
        f"2024-05-02 11:03:27.418223: F tensorflow/core/platform/cpu_feature_guard.cc:37] The TensorFlow library was "
        f"compiled to use {feature} instructions, but these aren't available on your machine.\n"
        "Aborted (core dumped)\n"
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_AVX, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # a healthy TensorFlow start: the CPU has more than the binary uses
        "2024-05-02 11:03:27.418223: I tensorflow/core/platform/cpu_feature_guard.cc:142] Your CPU supports "
        "instructions that this TensorFlow binary was not compiled to use: AVX2 FMA\n",
        "2024-05-02 11:03:27.418223: I tensorflow/core/platform/cpu_feature_guard.cc:193] This TensorFlow binary is "
        "optimized with oneAPI Deep Neural Network Library (oneDNN) to use the following CPU instructions in "
        "performance-critical operations:  AVX2 AVX512F FMA\n",
        # Ollama's detection step alone (a CPU-only host prints it) and its runner list
        'time=2024-03-01T09:12:44.102Z level=INFO source=cpu_common.go:18 msg="CPU does not have vector extensions"\n',
        'time=2024-03-01T09:12:43.004Z level=INFO source=payload_common.go:146 msg="Dynamic LLM libraries '
        '[cuda_v11 cpu_avx cpu cpu_avx2 rocm_v60002]"\n',
        # Ollama on a CPU with AVX2 using the GPU
        'time=2024-09-10T18:01:02.003Z level=INFO source=types.go:107 msg="inference compute" id=GPU-1 '
        'library=cuda variant=v12 compute=8.6 driver=12.4 name="NVIDIA GeForce RTX 3060" total="11.8 GiB"\n',
        # the question in prose
        "Does ollama need AVX or AVX2 for GPU support on an old Xeon?\n",
    ],
)
def test_avx_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("ollama.cpu-without-avx-gpu-disabled")
    assert _AVX not in _all(tmp_path, text)


# --- hailo.driver-mismatch ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # the CLI in a Frigate/Viseron container: the host driver newer than the image's HailoRT
        "[HailoRT] [error] CHECK failed - Driver version (4.23.0) is different from library version (4.22.0)\n"
        "[HailoRT] [error] Driver version mismatch, status HAILO_INVALID_DRIVER_VERSION(76)\n"
        "[HailoRT] [error] CHECK_SUCCESS failed with status=HAILO_INVALID_DRIVER_VERSION(76)\n"
        "[HailoRT CLI] [error] CHECK_SUCCESS failed with status=HAILO_INVALID_DRIVER_VERSION(76)\n",
        # an application's log quoting the CLI's stderr on one line (the driver older than the library)
        "2025-11-01 10:12:31.178 [ERROR   ] [app.components.hailo] - Failed running 'hailortcli fw-control identify': "
        "returncode=76 stderr=[HailoRT] [error] CHECK failed - Driver version (4.20.0) is different from library "
        "version (4.22.0)\n",
        # the status alone, from a Python binding
        "hailo_platform.pyhailort.pyhailort.HailoRTException: libhailort failed with error: 76 "
        "(HAILO_INVALID_DRIVER_VERSION)\n",
    ],
)
def test_hailort_refusing_another_driver_release_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_HAILO, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # a HEF compiled by another Dataflow Compiler release: the model, not the host driver
        "[HailoRT] [error] CHECK failed - DFC version from which this HEF was created (3.27.0) is different from "
        "library version (4.19.0), which is not allowed for this model.\n",
        # the hailort service daemon's version, another check
        "HailoRT Runtime Agent: Failed to create VDevice: HAILO_INVALID_SERVICE_VERSION\n",
        # a healthy identify
        "Executing on device: 0001:01:00.0\nIdentifying board\nControl Protocol Version: 2\n"
        "Firmware Version: 4.22.0 (release,app,extended context switch buffer)\nBoard Name: Hailo-8\n",
        # another vendor's version words
        "Driver version (550.54) is newer than the CUDA runtime library version (12.2)\n",
    ],
)
def test_hailo_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("hailort.driver-version-mismatch")
    assert _HAILO not in _all(tmp_path, text)


# --- fs.jit-cache-other-owner ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # torch's cpp_extension build root under /tmp, made by another user first (pytorch/pytorch#34238's shape)
        "  File \"/usr/lib/python3.8/os.py\", line 223, in makedirs\n    mkdir(name, mode)\n"
        "PermissionError: [Errno 13] Permission denied: '/tmp/torch_extensions/fused'\n",
        # its lock file
        "PermissionError: [Errno 13] Permission denied: '/tmp/torch_extensions/_prroi_pooling/lock'\n",
        # Triton 1.x's shared cache and its lock
        "PermissionError: [Errno 13] Permission denied: '/tmp/triton/0d3f5b1c9a7e4c2b8f6a0e1d3c5b7a9f.lock'\n",
        # Inductor's per-user-name directory made by another UID of that name
        "torch._inductor.exc.InductorError: PermissionError: [Errno 13] Permission denied: "
        "'/tmp/torchinductor_root/triton/0/ABCDEF'\n",
    ],
)
def test_a_jit_cache_of_another_uid_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_JIT, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # HOME at / (fs.home-unwritable-arbitrary-uid's reading) and caches under a home
        "PermissionError: [Errno 13] Permission denied: '/.triton'\n",
        "PermissionError: [Errno 13] Permission denied: '/home/user/.cache/torch_extensions/py310_cu121/fused_adam'\n",
        # other files under /tmp, and a user's own cache directory name
        "PermissionError: [Errno 13] Permission denied: '/tmp/tmpa1b2c3d4/model.bin'\n",
        "PermissionError: [Errno 13] Permission denied: '/tmp/triton_cache_user/abc'\n",
        # a read-only temp dir is another cause
        "OSError: [Errno 30] Read-only file system: '/tmp/torch_extensions'\n",
        # a healthy build
        "Using /tmp/torch_extensions as PyTorch extensions root...\nLoading extension module fused...\n",
    ],
)
def test_jit_cache_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("jit.shared-tmp-cache-denied")
    assert _JIT not in _all(tmp_path, text)
