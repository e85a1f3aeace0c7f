"""Issue 13, heldout44 lessons (glearn44b): device / driver / build / graphics.

Lines are written from the code that prints them (not copied from the heldout44 logs):
- nvidia.uvm-lost-after-suspend: more ways a log says the host slept (a report's "put the computer to sleep",
  "suspend the laptop", "after waking up the computer"; systemd-sleep's "Suspending system..." / "System resumed."
  (<= v239) and "Entering sleep state 'suspend'..." / "System returned from sleep state." (v240+); logind's
  "The system will suspend now!") beside CUDA's unknown error at its first call;
- runtime.build-without-gpu: a CUDA extension build reading the GPU for its architectures (torch.utils.cpp_extension
  _get_cuda_arch_flags with TORCH_CUDA_ARCH_LIST unset, its empty-list IndexError at `arch_list[-1] += '+PTX'`, a
  setup.py that sets TORCH_CUDA_ARCH_LIST from torch.cuda.get_device_capability()) or a package built with FORCE_CUDA=1,
  where torch finds no driver;
- device.no-gpu: a process that cannot load NVML itself (pynvml's CDLL("libnvidia-ml.so.1") OSError, a binary's
  "error while loading shared libraries: libnvidia-ml.so.1");
- display.x11-unavailable: PyVista's "This system does not appear to be running an xserver" with a crash after it or
  a headless host said; the warning alone stays a note (EGL builds printed it before pyvista#1294).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all_causes
from explain_helpers import causes as _causes
from explain_helpers import notes as _notes

# --- nvidia.uvm-lost-after-suspend: the host slept, in more words ---
TF_UNKNOWN = "E tensorflow/stream_executor/cuda/cuda_driver.cc:351] failed call to cuInit: CUDA_ERROR_UNKNOWN\n"
TORCH_UNKNOWN = (
    "RuntimeError: CUDA unknown error - this may be due to an incorrectly set up environment, e.g. changing env variable "
    "CUDA_VISIBLE_DEVICES after program start. Setting the available devices to be zero.\n"
)


@pytest.mark.parametrize(
    "words",
    [
        "It works until I put the laptop to sleep; then the container only sees the CPU.",
        "Everything breaks once I put my computer into suspend with the notebook still running.",
        "it happens whenever I suspend the machine while the container is up",
        "after waking up the computer the GPU is gone inside nvidia-docker",
        "Dec 06 22:10:01 box systemd-sleep[4211]: Suspending system...",
        "Dec 06 23:01:17 box systemd-sleep[4211]: System resumed.",
        "Dec 06 22:10:01 box systemd-sleep[5120]: Entering sleep state 'suspend'...",
        "Dec 06 23:01:17 box systemd-sleep[5120]: System returned from sleep state.",
        "Broadcast message from root@box: The system will suspend now!",
    ],
)
@pytest.mark.parametrize("err", [TF_UNKNOWN, TORCH_UNKNOWN])
def test_cuda_unknown_after_the_host_slept_is_uvm_lost(tmp_path: Path, words: str, err: str) -> None:
    assert _causes(tmp_path, words + "\n" + err)[:1] == ["nvidia.uvm-lost-after-suspend"]


@pytest.mark.parametrize(
    "words",
    [
        "I suspend the container with docker pause and resume it later",
        "we suspend the job with scontrol and it never comes back",
        "I put the computer in the corner of the lab",
        "after waking the service with a request",
        "Dec 06 22:10:01 box systemd-logind[811]: Lid closed.",
    ],
)
def test_other_suspends_and_sleeps_do_not_name_uvm(tmp_path: Path, words: str) -> None:
    assert "nvidia.uvm-lost-after-suspend" not in _causes(tmp_path, words + "\n" + TF_UNKNOWN)


# --- runtime.build-without-gpu: the CUDA extension build reads the GPU ---
NO_DRIVER = (
    "AssertionError: \nFound no NVIDIA driver on your system. Please check that you\nhave an NVIDIA GPU and installed a "
    "driver from\nhttp://www.nvidia.com/Download/index.aspx\n"
)
ARCH_PROBE_TB = (
    "Traceback (most recent call last):\n"
    '  File "setup.py", line 61, in <module>\n'
    "    cmdclass={'build_ext': BuildExtension},\n"
    '  File "/opt/conda/lib/python3.7/site-packages/torch/utils/cpp_extension.py", line 1004, in _get_cuda_arch_flags\n'
    "    capability = torch.cuda.get_device_capability()\n"
    '  File "/opt/conda/lib/python3.7/site-packages/torch/cuda/__init__.py", line 292, in get_device_capability\n'
    "    prop = get_device_properties(device)\n"
)


def test_arch_probe_with_no_driver_is_a_build_without_gpu(tmp_path: Path) -> None:
    assert _causes(tmp_path, ARCH_PROBE_TB + NO_DRIVER)[:1] == ["runtime.build-without-gpu"]
    assert "device.nvidia-node-missing" not in _causes(tmp_path, ARCH_PROBE_TB + NO_DRIVER)


def test_setup_py_setting_arch_list_from_the_gpu_is_a_build_without_gpu(tmp_path: Path) -> None:
    text = (
        "  Preparing metadata (setup.py): started\n"
        "      No CUDA runtime is found, using CUDA_HOME='/usr/local/cuda-12.1'\n"
        "      Traceback (most recent call last):\n"
        '        File "/src/ops/setup.py", line 12, in <module>\n'
        "          os.environ['TORCH_CUDA_ARCH_LIST'] = '.'.join(map(str, torch.cuda.get_device_capability()))\n"
        '        File "/usr/lib/python3/site-packages/torch/cuda/__init__.py", line 435, in get_device_capability\n'
    )
    assert _causes(tmp_path, text)[:1] == ["runtime.build-without-gpu"]


def test_arch_list_not_set_warning_then_no_gpus_is_a_build_without_gpu(tmp_path: Path) -> None:
    text = (
        "UserWarning: TORCH_CUDA_ARCH_LIST is not set, all archs for visible cards are included for compilation. \n"
        "If this is not desired, please set os.environ['TORCH_CUDA_ARCH_LIST'].\n"
        "RuntimeError: No CUDA GPUs are available\n"
    )
    assert _causes(tmp_path, text)[:1] == ["runtime.build-without-gpu"]


def test_empty_arch_list_index_error_is_a_build_without_gpu(tmp_path: Path) -> None:
    text = (
        '  File "/usr/local/lib/python3.10/dist-packages/torch/utils/cpp_extension.py", line 1982, in _get_cuda_arch_flags\n'
        "    arch_list[-1] += '+PTX'\n"
        "IndexError: list index out of range\n"
    )
    assert _causes(tmp_path, text)[:1] == ["runtime.build-without-gpu"]


def test_force_cuda_package_build_with_no_driver_is_a_build_without_gpu(tmp_path: Path) -> None:
    text = "ENV FORCE_CUDA=\"1\"\nRUN python setup.py build_ext --inplace\n" + NO_DRIVER
    assert _causes(tmp_path, text)[:1] == ["runtime.build-without-gpu"]
    text = "export FORCE_CUDA=1\npip install -e .\n  Running setup.py install for maskrcnn-benchmark ... error\n" + NO_DRIVER
    assert _causes(tmp_path, text)[:1] == ["runtime.build-without-gpu"]


@pytest.mark.parametrize(
    "text",
    [
        # no build: a container started without a GPU
        "docker run -it pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime python train.py\n" + NO_DRIVER,
        # a build without FORCE_CUDA or an arch probe: where it ran is not shown
        "python setup.py install\n" + NO_DRIVER,
        # the arch probe in a container that asked for the GPU: not a build step
        "docker run --gpus all -it img python setup.py develop\n" + ARCH_PROBE_TB + NO_DRIVER,
    ],
)
def test_no_driver_without_a_gpu_less_build_is_not_named_a_build(tmp_path: Path, text: str) -> None:
    assert "runtime.build-without-gpu" not in _causes(tmp_path, text)


def test_healthy_extension_build_stays_clean(tmp_path: Path) -> None:
    text = (
        "  Building wheel for flash-attn (setup.py): started\n"
        "UserWarning: TORCH_CUDA_ARCH_LIST is not set, all archs for visible cards are included for compilation.\n"
        "FORCE_CUDA=1\n"
        "  Building wheel for flash-attn (setup.py): finished with status 'done'\n"
        "Successfully installed flash-attn-2.5.8\n"
    )
    assert _causes(tmp_path, text) == []


# --- device.no-gpu: a process that cannot load NVML itself ---
@pytest.mark.parametrize(
    "line",
    [
        "OSError: libnvidia-ml.so.1: cannot open shared object file: No such file or directory",
        "ImportError: libnvidia-ml.so.1: cannot open shared object file: No such file or directory",
        "/opt/tritonserver/bin/tritonserver: error while loading shared libraries: libnvidia-ml.so.1: cannot open shared object file: No such file or directory",
        "./dcgmi: error while loading shared libraries: libnvidia-ml.so: cannot open shared object file: No such file or directory",
    ],
)
def test_nvml_not_loadable_in_the_process_is_no_gpu(tmp_path: Path, line: str) -> None:
    text = (
        "docker run -it --rm nvcr.io/nvidia/tritonserver:24.07-trtllm-python-py3\n"
        '  File "/usr/local/lib/python3.10/dist-packages/pynvml/nvml.py", line 1798, in _LoadNvmlLibrary\n'
        '    nvmlLib = CDLL("libnvidia-ml.so.1")\n' + line + "\n"
    )
    assert _all_causes(tmp_path, text)[:1] == ["device.no-gpu"]


@pytest.mark.parametrize(
    "line",
    [
        # the hook: the host has no driver (its own signatures)
        "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: cannot open shared object file: no such file or directory: unknown",
        # NCCL's wrapper names the toolkit
        "misc/nvmlwrap.cc:38 NCCL WARN Failed to open libnvidia-ml.so.1: libnvidia-ml.so.1: cannot open shared object file: No such file or directory",
    ],
)
def test_other_nvml_load_failures_keep_their_causes(tmp_path: Path, line: str) -> None:
    assert "device.no-gpu" not in _all_causes(tmp_path, line + "\n")[:1]


# --- display.x11-unavailable: PyVista's headless warning ---
WARN = (
    "/usr/local/lib/python3.11/site-packages/pyvista/plotting/plotter.py:151: UserWarning: \n"
    "This system does not appear to be running an xserver.\n"
    "PyVista will likely segfault when rendering.\n\n"
    "Try starting a virtual frame buffer with xvfb, or using\n"
    "  ``pyvista.start_xvfb()``\n\n"
    "  warnings.warn(\n"
)


@pytest.mark.parametrize(
    "after",
    [
        "Segmentation fault (core dumped)\n",
        "The app works on my laptop, but once deployed to a server the 3D view stays blank.\n",
        "We run the plotting on a headless Ubuntu box.\n",
    ],
)
def test_pyvista_no_xserver_with_a_crash_or_headless_host_is_x11(tmp_path: Path, after: str) -> None:
    assert _causes(tmp_path, WARN + after)[:1] == ["display.x11-unavailable"]
    lower = WARN.replace("This system", "this system")
    assert _causes(tmp_path, lower + after)[:1] == ["display.x11-unavailable"]


def test_pyvista_warning_alone_is_a_note(tmp_path: Path) -> None:
    # an EGL build of VTK before pyvista#1294 printed it and rendered fine
    assert _causes(tmp_path, WARN) == []
    assert any("X server" in n for n in _notes(tmp_path, WARN))


def test_other_xserver_words_stay_clean(tmp_path: Path) -> None:
    text = "Xvfb is running on :99\nThe app was deployed to a server behind nginx.\nrendered 120 frames with the EGL backend\n"
    assert _causes(tmp_path, text) == []
