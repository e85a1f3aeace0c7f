"""Issue 13, heldout35 lessons (glearn35a): images, builds, caches and driver libraries.

Lines are written from the code that prints them (not copied from the heldout35 logs):
- CV toolkits' CUDA ops built CPU-only (open-mmlab/mmcv mmcv/ops/csrc/pytorch/nms.cpp AT_ERROR("<op> is not compiled with
  GPU support") <= 1.3.x, pytorch_device_registry.hpp "<op>_impl: implementation for device cuda:N not found." >= 1.4;
  detectron2 "Detectron2 is not compiled with GPU support!"; maskrcnn-benchmark "Not compiled with GPU support"): their
  setup.py compiles CUDA only when a GPU is visible at build time or FORCE_CUDA=1;
- a traceback through getpass.getuser()'s passwd lookup (CPython Lib/getpass.py `return pwd.getpwuid(os.getuid())[0]`,
  torch inductor's `sanitized_username = re.sub(..., getpass.getuser())`): a UID with no passwd entry;
- Magnum's windowless EGL context (mosra/magnum WindowlessEglApplication.cpp): no NVIDIA EGL device for the CUDA device;
- Triton's "Triton Error [CUDA]: device kernel image is invalid" (driver.c gpuAssert + cuGetErrorString(200));
- GKE named in lower case and libcuda said to be missing; OpenShift and a PermissionError on a home/cache path;
- Gloo told to bind an IPoIB interface (ib0) that no setting in the log names (YOLOX 0.1.0's configure_nccl set it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

# --- ops built without CUDA ---
OPS = [
    "RuntimeError: roi_align is not compiled with GPU support",
    "RuntimeError: DeformConv is not compiled with GPU support",
    "RuntimeError: nms_impl: implementation for device cuda:0 not found.",
    "RuntimeError: Detectron2 is not compiled with GPU support!",
    "RuntimeError: Not compiled with GPU support (nms at maskrcnn_benchmark/csrc/nms.h:22)",
]


@pytest.mark.parametrize("line", OPS)
@pytest.mark.parametrize(
    "context",
    [
        "Step 7/9 : RUN pip install mmcv-full==1.3.7\n",
        "RUN pip install -e /detectron2_repo\n",
        "docker run --gpus all -it my-det-image python tools/test.py\n",
        "I built the image on a CI machine without a GPU and now it fails on the GPU server.\n",
        "镜像在安装时没有 GPU，放到 GPU 服务器上运行报错\n",
    ],
)
def test_ops_without_cuda_in_an_image_is_the_gpu_less_build(tmp_path: Path, line: str, context: str) -> None:
    assert findings(tmp_path, context + line + "\n")[:1] == [("runtime.build-without-gpu", "suggests")]


@pytest.mark.parametrize("line", OPS)
def test_ops_without_cuda_alone_is_a_note(tmp_path: Path, line: str) -> None:
    # no container, image or build in the log: a CPU wheel or a build on a CPU node, not a container cause
    assert causes(tmp_path, line + "\n") == []
    assert any("built without CUDA" in n for n in notes(tmp_path, line + "\n"))


def test_ops_neighbours_stay_clean(tmp_path: Path) -> None:
    # the CPU device's own "not found" and MMCV's environment banner are no build failure (the CUDA form beside them is)
    assert causes(tmp_path, "RUN pip install mmcv-full\n" + OPS[2] + "\n")[:1] == ["runtime.build-without-gpu"]
    text = (
        "MMCV CUDA Compiler: 11.1\n"
        "MMCV Compiler: GCC 7.3\n"
        "torch.cuda.is_available(): True\n"
        "RuntimeError: nms_impl: implementation for device cpu not found.\n"
    )
    assert causes(tmp_path, text) == []


# --- the passwd lookup in a traceback ---
@pytest.mark.parametrize(
    "frames",
    [
        '  File "/usr/lib/python3.12/getpass.py", line 169, in getuser\n    return pwd.getpwuid(os.getuid())[0]\n',
        '  File "/opt/conda/lib/python3.10/getpass.py", line 169, in getuser\n    return pwd.getpwuid(os.getuid())[0]\n',
        '  File "/usr/local/lib/python3.11/site-packages/torch/_inductor/runtime/cache_dir_utils.py", line 20, in default_cache_dir\n'
        "    sanitized_username = re.sub(r'[\\\\/:*?\"<>|]', \"_\", getpass.getuser())\n",
    ],
)
def test_traceback_through_getuser_passwd_lookup_is_the_arbitrary_uid(tmp_path: Path, frames: str) -> None:
    text = "Traceback (most recent call last):\n" + frames
    assert causes(tmp_path, text)[:1] == ["fs.home-unwritable-arbitrary-uid"]


def test_passwd_lookup_in_words_or_code_stays_clean(tmp_path: Path) -> None:
    assert causes(tmp_path, "    return pwd.getpwuid(os.getuid())[0]\n")[:1] == ["fs.home-unwritable-arbitrary-uid"]
    text = (
        "We read the user name with pwd.getpwuid(os.getuid())[0] in our launcher, which works.\n"
        "user = getpass.getuser()\n"
        "INFO 10-01 12:00:00 cache dir /tmp/torchinductor_vllm\n"
    )
    assert causes(tmp_path, text) == []


# --- Magnum's EGL device selection ---
EGL = [
    "Platform::WindowlessEglApplication::tryCreateContext(): unable to find CUDA device 0 among 2 EGL devices in total",
    "Platform::WindowlessEglApplication::tryCreateContext(): unable to find EGL device for CUDA device 1",
    "Platform::WindowlessEglApplication::tryCreateContext(): no EGL devices found, likely a driver issue; enable --magnum-gpu-validation to see additional info",
]


@pytest.mark.parametrize("line", EGL)
def test_magnum_no_nvidia_egl_device_is_the_missing_gl_libraries(tmp_path: Path, line: str) -> None:
    text = line + "\nWindowlessContext: Unable to create windowless context\n"
    assert causes(tmp_path, text)[:1] == ["nvidia.host-driver-library-missing"]


@pytest.mark.parametrize("line", EGL[:2])
def test_magnum_egl_with_caps_without_graphics_is_the_capability(tmp_path: Path, line: str) -> None:
    text = "NVIDIA_DRIVER_CAPABILITIES=compute,utility\n" + line + "\n"
    assert causes(tmp_path, text)[:1] == ["nvidia.driver-capabilities-missing"]


def test_magnum_egl_with_a_version_mismatch_is_the_mismatch(tmp_path: Path) -> None:
    text = "Failed to initialize NVML: Driver/library version mismatch\n" + EGL[0] + "\n"
    got = causes(tmp_path, text)
    assert causes(tmp_path, EGL[0] + "\n")[:1] == ["nvidia.host-driver-library-missing"]
    assert got[:1] == ["nvidia.driver-library-mismatch"]
    assert "nvidia.host-driver-library-missing" not in got


def test_magnum_egl_found_device_stays_clean(tmp_path: Path) -> None:
    assert causes(tmp_path, EGL[1] + "\n")[:1] == ["nvidia.host-driver-library-missing"]
    text = (
        "Platform::WindowlessEglApplication: found 3 EGL devices, choosing EGL device 1 for CUDA device 0\n"
        "Renderer: NVIDIA A100-SXM4-40GB/PCIe/SSE2 by NVIDIA Corporation\n"
        "OpenGL version: 4.6.0 NVIDIA 535.104.05\n"
    )
    assert causes(tmp_path, text) == []


# --- Triton's CUDA_ERROR_INVALID_IMAGE ---
@pytest.mark.parametrize(
    "line",
    [
        "RuntimeError: Triton Error [CUDA]: device kernel image is invalid",
        "E   RuntimeError: Triton Error [CUDA]: device kernel image is invalid.",
        "torch._dynamo.exc.BackendCompilerFailed: backend='inductor' raised: RuntimeError: Triton Error [CUDA]: device kernel image is invalid",
    ],
)
def test_triton_invalid_image_suggests_the_old_driver(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [("cuda.driver-too-old", "suggests")]


def test_triton_other_cuda_errors_are_not_the_driver(tmp_path: Path) -> None:
    assert causes(tmp_path, "RuntimeError: Triton Error [CUDA]: device kernel image is invalid\n")[:1] == ["cuda.driver-too-old"]
    for line in ("RuntimeError: Triton Error [CUDA]: invalid argument", "RuntimeError: Triton Error [CUDA]: context is destroyed"):
        assert "cuda.driver-too-old" not in causes(tmp_path, line + "\n")


# --- GKE and libcuda said to be missing ---
@pytest.mark.parametrize(
    "text",
    [
        "run this pod on gke\nError:\ntgi server complains about a missing libcuda.so file.\n",
        "We deploy in GKE Autopilot with nvidia.com/gpu: 1 and libcuda.so.1 is missing in the container.\n",
    ],
)
def test_gke_with_libcuda_missing_in_words_is_the_driver_dir(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text)[:1] == ["nvidia.driver-libs-off-library-path"]


def test_libcuda_missing_in_words_alone_names_nothing(tmp_path: Path) -> None:
    assert causes(tmp_path, "on gke\nthe server complains about a missing libcuda.so file\n")[:1] == ["nvidia.driver-libs-off-library-path"]
    assert causes(tmp_path, "the server complains about a missing libcuda.so file\n") == []


def test_gke_with_libcuda_on_the_path_is_not_the_driver_dir(tmp_path: Path) -> None:
    assert causes(tmp_path, "on gke\nlibcuda.so.1 is missing\n")[:1] == ["nvidia.driver-libs-off-library-path"]
    text = "on gke\nLD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib\nlibcuda.so.1 is missing\n"
    assert "nvidia.driver-libs-off-library-path" not in causes(tmp_path, text)


# --- OpenShift and a PermissionError ---
@pytest.mark.parametrize(
    "line",
    [
        "Deploying on an OpenShift 4.18 cluster fails with OSError: PermissionError.",
        "OpenShift AI workbench\nPermissionError: [Errno 13] Permission denied: '/home/user/.triton'",
    ],
)
def test_openshift_permission_error_is_the_arbitrary_uid(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == ["fs.home-unwritable-arbitrary-uid"]


@pytest.mark.parametrize(
    "text",
    [
        "OpenShift 4.14\nPermissionError: [Errno 13] Permission denied: '/models/llama-3/config.json'\n",
        "PermissionError: [Errno 13] Permission denied\n",
        "Deployed with the OpenShift console; the pod is Running and serves requests.\n",
    ],
)
def test_openshift_neighbours_are_not_the_arbitrary_uid(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, "OpenShift 4.14\nPermissionError: [Errno 13] Permission denied: '/home/vllm/.cache'\n")[:1] == [
        "fs.home-unwritable-arbitrary-uid"
    ]
    assert "fs.home-unwritable-arbitrary-uid" not in causes(tmp_path, text)


# --- Gloo and an IPoIB interface nobody in the log set ---
GLOO = "RuntimeError: [enforce fail at /pytorch/third_party/gloo/gloo/transport/tcp/device.cc:83] ifa != nullptr. Unable to find address for: {}"


@pytest.mark.parametrize("iface", ["ib0", "ib1", "ibp65s0"])
def test_gloo_ipoib_without_a_setting_is_a_note(tmp_path: Path, iface: str) -> None:
    text = GLOO.format(iface) + "\n"
    assert causes(tmp_path, text) == []
    assert any("IPoIB" in n for n in notes(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        "export GLOO_SOCKET_IFNAME=ib0\n" + GLOO.format("ib0") + "\n",
        "docker run -e NCCL_SOCKET_IFNAME=ib0 -e GLOO_SOCKET_IFNAME=ib0 img\n" + GLOO.format("ib0") + "\n",
        GLOO.format("eno1") + "\n",
        GLOO.format("enp1s0f1np1") + "\n",
        # an NCCL-style exclusion Gloo took as a name (the form gloo.interface-not-found-any-form reads)
        "RuntimeError: [enforce fail at ../gloo/transport/tcp/device.cc:84]\n  ifa != nullptr. Unable to find address for: ^lo\n",
    ],
)
def test_gloo_interface_set_or_not_ipoib_stays_wrong_interface(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, GLOO.format("ib0") + "\n") == []  # the bare IPoIB name is the note above
    assert causes(tmp_path, text)[:1] == ["network.wrong-interface"]
