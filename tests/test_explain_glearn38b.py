"""Issue 13, heldout38 lessons (glearn38b): AMD/ROCm and the open-file limit.

Lines are written from the code that prints them (not copied from the heldout38 logs):
- ggml's HIP device list before Feb 2025 ("  Device %d: %s, compute capability %d.%d[, VMM: %s]", prop.name the
  marketing name) names a Ryzen APU's graphics "AMD Radeon Graphics" with its gfx version (gfx1036 -> 10.3,
  gfx1103 -> 11.0, gfx115x -> 11.5); ggml's CUDA_CHECK of late 2023 ("CUDA error %d at %s:%d: %s", also in HIP
  builds). Beside a named discrete Radeon and "found N ROCm devices" (N >= 2), a failure names rocm.igpu-visible;
- the same in words (the iGPU as a ROCm/HIP device next to the discrete GPU);
- Ollama's "unsupported Radeon iGPU detected skipping": its runner never saw the iGPU;
- ROCm under WSL before 7.1 has no HSA_ENABLE_DXG_DETECTION (librocdxg needs the ROCm 7.1 runtime feature);
- torch's MapAllocator "unable to open shared memory object <..> in read-write mode: Too many open files (24)": the
  limit or a leak (file_descriptor strategy); the limit is named only when the log shows a low one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

IGPU = "rocm.igpu-visible"
DXG = "rocm.wsl-dxg-detection-off"
NOFILE = "limits.nofile-too-low"

# --- ggml's older device list: a named dGPU and the APU's generic "AMD Radeon Graphics" -------------------------

_LIST_2023 = (
    "ggml_init_cublas: found 2 ROCm devices:\n"
    "  Device 0: AMD Radeon RX 7900 XTX, compute capability 11.0\n"
    "  Device 1: AMD Radeon Graphics, compute capability 10.3\n"
)
_LIST_2024 = (
    "ggml_cuda_init: found 2 ROCm devices:\n"
    "  Device 0: AMD Radeon RX 6800 XT, compute capability 10.3, VMM: no\n"
    "  Device 1: AMD Radeon Graphics, compute capability 11.0, VMM: no\n"
)
_LIST_STRIX = (
    "ggml_cuda_init: found 3 ROCm devices:\n"
    "  Device 0: AMD Radeon PRO W7800, compute capability 11.0, VMM: no\n"
    "  Device 1: AMD Radeon PRO W7800, compute capability 11.0, VMM: no\n"
    "  Device 2: AMD Radeon Graphics, compute capability 11.5, VMM: no\n"
)

_FAILS = [
    # ggml CUDA_CHECK, late 2023 (the HIP build keeps the word CUDA)
    "CUDA error 98 at /build/llama.cpp/ggml-cuda.cu:7034: invalid device function\ncurrent device: 1\n",
    # ggml_cuda_error, 2024, before GGML_CUDA_NAME
    "CUDA error: invalid device function\n  current device: 1, in function ggml_cuda_op_mul_mat at ggml-cuda.cu:9512\n",
    # ggml_cuda_error with GGML_CUDA_NAME = ROCm
    "ROCm error: invalid device function\n  current device: 1, in function ggml_cuda_compute_forward at /src/ggml/src/ggml-cuda/ggml-cuda.cu:2300\n",
    "Segmentation fault (core dumped)\n",
]


@pytest.mark.parametrize("listing", [_LIST_2023, _LIST_2024, _LIST_STRIX], ids=["2023", "2024-vmm", "strix-11.5"])
@pytest.mark.parametrize("fail", _FAILS, ids=["cuda-check-2023", "cuda-error-2024", "rocm-error", "segfault"])
def test_generic_igpu_name_beside_a_named_dgpu_and_a_failure_names_igpu(tmp_path: Path, listing: str, fail: str) -> None:
    got = _findings(tmp_path, listing + fail)
    assert got and got[0] == (IGPU, "suggests"), got


def test_generic_igpu_listing_without_a_failure_stays_clean(tmp_path: Path) -> None:
    assert _causes(tmp_path, _LIST_2024 + "llama_model_load: loaded meta data with 21 key-value pairs\n") == []
    assert IGPU in _causes(tmp_path, _LIST_2024 + _FAILS[0])


@pytest.mark.parametrize(
    "listing",
    [
        # discrete boards newer than the image's amdgpu.ids print the generic name too (R9700 / RX 9070: 12.0)
        "ggml_cuda_init: found 2 ROCm devices:\n"
        "  Device 0: AMD Radeon RX 7900 XTX, compute capability 11.0, VMM: no\n"
        "  Device 1: AMD Radeon Graphics, compute capability 12.0, VMM: no\n",
        # one device: an APU alone, whatever the prose says about a discrete card elsewhere
        "ggml_cuda_init: found 1 ROCm devices:\n"
        "  Device 0: AMD Radeon Graphics, compute capability 11.0, VMM: no\n"
        "I also tried my old Radeon RX 580 in another box.\n",
        # two discrete boards, no generic name
        "ggml_cuda_init: found 2 ROCm devices:\n"
        "  Device 0: AMD Radeon RX 6800 XT, compute capability 10.3, VMM: no\n"
        "  Device 1: AMD Radeon RX 6800, compute capability 10.3, VMM: no\n",
    ],
    ids=["rdna4-generic-name", "one-device", "two-dgpus"],
)
def test_generic_name_that_is_not_an_igpu_beside_a_dgpu_stays_clean(tmp_path: Path, listing: str) -> None:
    assert IGPU not in _causes(tmp_path, listing + _FAILS[0])
    assert IGPU in _causes(tmp_path, _LIST_2023 + _FAILS[0])  # the same failure beside an APU's generic name


def test_old_ggml_cuda_check_alone_names_nothing(tmp_path: Path) -> None:
    assert _causes(tmp_path, "CUDA error 2 at /app/llama.cpp/ggml-cuda.cu:7911: out of memory\ncurrent device: 0\n") == []
    assert IGPU in _causes(tmp_path, _LIST_2023 + "CUDA error 2 at /app/llama.cpp/ggml-cuda.cu:7911: out of memory\n")


# --- the iGPU enumerated beside the discrete GPU, in words ---------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "On these boards the discrete card is ROCm device 0 and the iGPU is ROCm device 1, so loading crashes unless HIP_VISIBLE_DEVICES=0.",
        "This happens when ROCm enumerates both the discrete GPU and the integrated GPU of the Ryzen 9 9950X.",
        "It looks like HIP is using the integrated graphics rather than the discrete RX 6600.",
        "The integrated GPU gets picked up as a compute device next to the dGPU and the model load segfaults.",
    ],
    ids=["device-numbers", "enumerates-both", "hip-using", "picked-up"],
)
def test_igpu_as_a_rocm_device_beside_the_dgpu_in_words_names_igpu(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line + "\n")
    assert got and got[0] == (IGPU, "suggests"), got


@pytest.mark.parametrize(
    "line",
    [
        # an APU alone: no discrete GPU named on the line
        "ROCm detects the integrated GPU of my Ryzen 7 8700G as gfx1103 and it works with HSA_OVERRIDE_GFX_VERSION.",
        # the iGPU in words without ROCm/HIP enumerating it
        "I disabled the integrated graphics in the BIOS and kept the discrete GPU for the display.",
    ],
)
def test_igpu_words_without_the_dgpu_or_rocm_stay_clean(tmp_path: Path, line: str) -> None:
    assert IGPU not in _causes(tmp_path, line + "\n")
    assert IGPU in _causes(tmp_path, "ROCm enumerates both the discrete GPU and the integrated GPU here.\n")


def test_ollama_skipping_the_igpu_is_not_igpu_visible(tmp_path: Path) -> None:
    text = (
        'time=2024-11-02T10:00:00.000Z level=INFO source=amd_linux.go:297 msg="unsupported Radeon iGPU detected skipping" id=1 total="512.0 MiB"\n'
        "ggml_cuda_init: found 2 ROCm devices:\n"
        "  Device 0: AMD Radeon RX 7900 XTX, compute capability 11.0, VMM: no\n"
        "  Device 1: AMD Radeon Graphics, compute capability 11.0, VMM: no\n"
        "ROCm error: invalid device function\n"
    )
    assert IGPU not in _causes(tmp_path, text)
    assert IGPU in _causes(tmp_path, text.split("\n", 1)[1])


# --- WSL: no HSA_ENABLE_DXG_DETECTION before ROCm 7.1 -------------------------------------------------------------

_WSL_NO_GPU = (
    "WSL environment detected.\n"
    "hsa api call failure at: /long_pathname_so_that_rpms_can_package_the_debug_info/src/rocminfo/rocminfo.cc:1306\n"
    "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed to allocate the necessary resources. This "
    "error may also occur when the core runtime library needs to spawn threads or create internal OS-specific events.\n"
)


@pytest.mark.parametrize(
    "version",
    ["ROCm 6.1.3\n", "ROCm Version: ROCm 6.2.0\n", "ls /opt/rocm-6.4.1/bin\n", "torch 2.4.1+rocm6.1\n", "ROCm 7.0.2\n"],
)
def test_wsl_rocm_before_7_1_is_not_dxg_detection_off(tmp_path: Path, version: str) -> None:
    assert DXG not in _causes(tmp_path, version + _WSL_NO_GPU)


@pytest.mark.parametrize("version", ["ROCm 7.1.1\n", "ls /opt/rocm-7.2.0/lib\n", "ROCm 7.13.0 preview\n", ""])
def test_wsl_rocm_7_1_or_unknown_still_names_dxg_detection_off(tmp_path: Path, version: str) -> None:
    got = _findings(tmp_path, version + _WSL_NO_GPU)
    assert got and got[0] == (DXG, "suggests"), got
    assert DXG not in _causes(tmp_path, "ROCm 6.2.0\n" + version + _WSL_NO_GPU)  # a 6.x release named beside it


# --- torch's shared-memory EMFILE: the limit only with a low limit in the log ---------------------------------------

_SHM_EMFILE = (
    "  File \"/usr/local/lib/python3.10/dist-packages/torch/multiprocessing/reductions.py\", line 358, in reduce_storage\n"
    "    fd, size = storage._share_fd_cpu_()\n"
    "RuntimeError: unable to open shared memory object </torch_5120_1873002211_310> in read-write mode: Too many open files (24)\n"
)


def test_shm_object_emfile_alone_is_a_note(tmp_path: Path) -> None:
    assert _causes(tmp_path, _SHM_EMFILE) == []
    assert any("file_descriptor sharing strategy" in n for n in _notes(tmp_path, _SHM_EMFILE))


@pytest.mark.parametrize(
    "limit",
    [
        "$ ulimit -n 1024\n",
        "open files                      (-n) 1024\n",
        "docker run --gpus all --ulimit nofile=4096:4096 graphstorm:local\n",
        "LimitNOFILE=8192\n",
        "*    soft    nofile    4096\n",
    ],
    ids=["ulimit-n", "ulimit-a", "docker-ulimit", "systemd", "limits-conf"],
)
def test_shm_object_emfile_with_a_low_limit_names_nofile(tmp_path: Path, limit: str) -> None:
    got = _findings(tmp_path, limit + _SHM_EMFILE)
    assert got and got[0] == (NOFILE, "suggests"), got
    assert _causes(tmp_path, _SHM_EMFILE) == []  # the limit is what names it


def test_shm_object_emfile_with_a_high_limit_stays_a_note(tmp_path: Path) -> None:
    assert _causes(tmp_path, "open files                      (-n) 1048576\n" + _SHM_EMFILE) == []


@pytest.mark.parametrize(
    "line",
    [
        # the other EMFILE forms keep naming the limit (torch's own DataLoader advice, Python's errno, ancdata)
        "RuntimeError: Too many open files. Communication with the workers is no longer possible. Please increase the "
        "limit using `ulimit -n` in the shell or change the sharing strategy by calling "
        "`torch.multiprocessing.set_sharing_strategy('file_system')` at the beginning of your code\n",
        "OSError: [Errno 24] Too many open files: '/data/shard_0001.bin'\n",
        "RuntimeError: received 0 items of ancdata\n",
    ],
)
def test_other_emfile_forms_still_name_nofile(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line)[:1] == [NOFILE]
    assert NOFILE not in _causes(tmp_path, _SHM_EMFILE)  # unlike the shared-memory form without a limit


def test_shm_object_enoent_is_not_nofile(tmp_path: Path) -> None:
    line = "RuntimeError: unable to open shared memory object </torch_5120_1873002211_310> in read-write mode: No such file or directory (2)\n"
    assert NOFILE not in _causes(tmp_path, line)
    # nor the same object with EMFILE and no limit in the log (a note, not the limit)
    assert NOFILE not in _causes(tmp_path, line.replace("No such file or directory (2)", "Too many open files (24)"))
