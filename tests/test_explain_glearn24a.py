"""Issue 13, heldout24 lessons (glearn24a): GPU visibility, driver and runtime-injection families.

Lines are written from the code that prints them (not copied from the heldout24 logs); each test pairs a form that
must be named with a neighbour that must stay clean, so every test fails without the change:
- DCGM's host engine failing to initialise NVML (DCGM 2.x DcgmHostEngineHandler: "Error: Failed to initialize NVML";
  dcgmStartEmbedded's DCGM_ST_INIT_ERROR "DCGM initialization error" as the embedded callers print it): a container
  given no GPU;
- TensorFlow's cuDNN init (stream_executor/cuda/cuda_dnn.cc: "possibly insufficient driver version: %s", TF 2.x/XLA
  "Possibly ..."): the host driver is older than the runtime;
- kmod/systemd failing to load the NVIDIA kernel module (tools/modprobe.c "could not insert '%s': ...", insmod.c,
  libkmod "could not find module by name='%s'", systemd-modules-load "Failed to insert module '%s': %m"): no driver;
- NVIDIA_DRIVER_CAPABILITIES without compute, said in words;
- torch.cuda.set_device(rank) with the global rank beside "invalid device ordinal": a program bug, not the mask;
- more torchrun ranks per node than the GPUs the report counts ("3090 24g*2", "2x4090", "dual 3090s").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import notes as _notes

# --- DCGM embedded host engine without NVML (NVIDIA/DCGM DcgmHostEngineHandler.cpp, dcgm_errors.c, sdk_samples) ---
DCGM_FORMS = [
    # DCGM 2.x: the constructor's std::runtime_error, as the C++ runtime or a wrapper prints it
    "terminate called after throwing an instance of 'std::runtime_error'\n  what():  Error: Failed to initialize NVML\n",
    "2024-05-02 10:11:12 ERROR Error: Failed to initialize NVML\n",
    # sdk_samples: "Error starting embedded DCGM engine. Return: " << errorString(DCGM_ST_INIT_ERROR)
    "Error starting embedded DCGM engine. Return: DCGM initialization error\n",
    # a .NET caller raising the same error (Triton's memory analyzer)
    "Unhandled exception. System.TypeInitializationException: The type initializer for 'GpuMetrics' threw an exception.\n"
    " ---> System.InvalidOperationException: Error starting embedded DCGM engine. DCGM initialization error.\n",
]
DCGM_NEIGHBOURS = [
    # DCGM's healthy start-up and its own info lines
    "Initializing NVML with NVML_INIT_FLAG_NO_GPUS and NVML_INIT_FLAG_NO_ATTACH flags.\nNVML initialized successfully\n",
    "Failed to initialize NVML system event thread\n",
    # another DCGM error code: not NVML missing
    "Error starting embedded DCGM engine. Return: Host engine is running as non-root\n",
]


@pytest.mark.parametrize("form", DCGM_FORMS)
@pytest.mark.parametrize("neighbour", DCGM_NEIGHBOURS)
def test_dcgm_without_nvml_is_no_gpu_in_the_container(tmp_path: Path, form: str, neighbour: str) -> None:
    assert _causes(tmp_path, form)[:1] == ["device.nvidia-node-missing"]
    assert _causes(tmp_path, neighbour) == []


def test_nvml_version_mismatch_is_not_read_as_dcgm_no_gpu(tmp_path: Path) -> None:
    assert _causes(tmp_path, DCGM_FORMS[2])[:1] == ["device.nvidia-node-missing"]
    got = _causes(tmp_path, "Failed to initialize NVML: Driver/library version mismatch\n")
    assert got[:1] != ["device.nvidia-node-missing"]


# --- TensorFlow's cuDNN init (tensorflow stream_executor/cuda/cuda_dnn.cc CudnnSupport::Init) ---
TS = "2019-11-04 08:01:02.345678: E tensorflow/stream_executor/cuda/cuda_dnn.cc:{n}] "


@pytest.mark.parametrize(
    "form",
    [
        # TF 1.x: lower case, DriverVersionToString gives three fields
        TS.format(n=385) + "could not create cudnn handle: CUDNN_STATUS_NOT_INITIALIZED\n"
        + TS.format(n=393) + "possibly insufficient driver version: 390.48.0\n",
        # TF 2.x / XLA: capitalised
        TS.format(n=329) + "Could not create cudnn handle: CUDNN_STATUS_NOT_INITIALIZED\n"
        + TS.format(n=337) + "Possibly insufficient driver version: 410.79.0\n",
        "E external/local_xla/xla/stream_executor/cuda/cuda_dnn.cc:535] Possibly insufficient driver version: 450.51.6\n",
    ],
)
@pytest.mark.parametrize(
    "neighbour",
    [
        # cuDNN failing for another reason (often memory): no driver version printed
        TS.format(n=329) + "Could not create cudnn handle: CUDNN_STATUS_INTERNAL_ERROR\n",
        # the driver version could not be read: nothing says it is old
        TS.format(n=333) + "Error retrieving driver version: Permission denied: could not open driver version path for reading: /proc/driver/nvidia/version\n",
    ],
)
def test_tf_cudnn_possibly_insufficient_driver_is_driver_too_old(tmp_path: Path, form: str, neighbour: str) -> None:
    assert _causes(tmp_path, form)[:1] == ["cuda.driver-too-old"]
    assert "cuda.driver-too-old" not in _causes(tmp_path, neighbour)


# --- the NVIDIA kernel module not loading (kmod tools/modprobe.c, tools/insmod.c, libkmod; systemd-modules-load) ---
@pytest.mark.parametrize(
    "form",
    [
        # modprobe, -ENOENT
        "modprobe: ERROR: could not insert 'nvidia_uvm': Unknown symbol in module, or unknown parameter (see dmesg)\n",
        # modprobe, strerror(-err)
        "modprobe: ERROR: could not insert 'nvidia': No such device\n",
        "modprobe: ERROR: could not insert 'nvidia_drm': Invalid argument\n",
        # libkmod: the module is not built for this kernel
        "modprobe: ERROR: ../libkmod/libkmod-module.c:832 kmod_module_insert_module() could not find module by name='nvidia_535_uvm'\n",
        # insmod: mod_strerror
        "insmod: ERROR: could not insert module /lib/modules/6.5.0-41-generic/updates/dkms/nvidia.ko: Invalid module format\n",
        "insmod: ERROR: could not insert module /lib/modules/6.5.0-41-generic/kernel/nvidia-550/nvidia-uvm.ko.zst: Module has wrong symbol version\n",
        # systemd-modules-load: %m
        "Jan 02 10:11:12 gpu01 systemd-modules-load[401]: Failed to insert module 'nvidia_drm': Exec format error\n",
    ],
)
@pytest.mark.parametrize(
    "neighbour",
    [
        # already loaded: fine
        "modprobe: ERROR: could not insert 'nvidia_uvm': Module already in kernel\n",
        # modprobe inside a container without CAP_SYS_MODULE: says nothing about the host's module
        "modprobe: ERROR: could not insert 'nvidia_uvm': Operation not permitted\n",
        # another driver's module
        "modprobe: ERROR: could not insert 'ib_umad': Unknown symbol in module, or unknown parameter (see dmesg)\n",
    ],
)
def test_nvidia_module_not_loading_is_no_driver(tmp_path: Path, form: str, neighbour: str) -> None:
    assert _causes(tmp_path, form)[:1] == ["device.no-driver"]
    assert "device.no-driver" not in _causes(tmp_path, neighbour)


def test_unsigned_nvidia_module_stays_secure_boot(tmp_path: Path) -> None:
    form = "modprobe: ERROR: could not insert 'nvidia_modeset': Unknown symbol in module, or unknown parameter (see dmesg)\n"
    assert _causes(tmp_path, form)[:1] == ["device.no-driver"]
    got = _causes(tmp_path, "modprobe: ERROR: could not insert 'nvidia': Key was rejected by service\n")
    assert "device.no-driver" not in got and got[:1] == ["host.secure-boot-unsigned-module"]


# --- NVIDIA_DRIVER_CAPABILITIES without compute, in words ---
@pytest.mark.parametrize(
    "form",
    [
        "The agent cannot detect the GPU because the `NVIDIA_DRIVER_CAPABILITIES` environment variable is set only to `utility` in its Dockerfile.\n",
        "NVIDIA_DRIVER_CAPABILITIES is only utility in this image, so CUDA finds no device\n",
        "Our base image sets NVIDIA_DRIVER_CAPABILITIES without compute and torch sees no GPU.\n",
        "NVIDIA_DRIVER_CAPABILITIES does not include compute here\n",
    ],
)
@pytest.mark.parametrize(
    "neighbour",
    [
        "NVIDIA_DRIVER_CAPABILITIES=compute,utility\nNVIDIA_VISIBLE_DEVICES=all\n",
        "It should be set to `utility,compute`: NVIDIA_DRIVER_CAPABILITIES is set only to utility,compute in the fixed image.\n",
        "NVIDIA_DRIVER_CAPABILITIES is set only to compute in the job, which is all it needs.\n",
    ],
)
def test_caps_without_compute_in_words(tmp_path: Path, form: str, neighbour: str) -> None:
    assert _causes(tmp_path, form)[:1] == ["nvidia.driver-capabilities-missing"]
    assert "nvidia.driver-capabilities-missing" not in _causes(tmp_path, neighbour)


# --- torch.cuda.set_device with the global rank (torch c10/cuda "CUDA error: invalid device ordinal") ---
ORDINAL = "RuntimeError: CUDA error: invalid device ordinal\n"


@pytest.mark.parametrize(
    "said",
    [
        "`torch.cuda.set_device(rank)` should use `local_rank` instead of `rank` on multi-node runs.\n",
        "The script calls torch.cuda.set_device(args.rank) where it needs args.local_rank.\n",
        "torch.cuda.set_device(dist.get_rank())  # uses the global rank, not LOCAL_RANK\n",
    ],
)
def test_set_device_with_global_rank_is_a_program_bug(tmp_path: Path, said: str) -> None:
    assert _causes(tmp_path, ORDINAL)[:1] == ["cuda.visible-devices-mismatch"]
    assert _causes(tmp_path, said + ORDINAL) == []
    assert any("global rank" in n for n in _notes(tmp_path, said + ORDINAL))


def test_set_device_with_local_rank_keeps_the_mask(tmp_path: Path) -> None:
    said = "`torch.cuda.set_device(rank)` should use `local_rank` instead of `rank`\n"
    assert _causes(tmp_path, said + ORDINAL) == []
    good = "torch.cuda.set_device(local_rank)  # LOCAL_RANK from torchrun\n"
    assert _causes(tmp_path, good + ORDINAL)[:1] == ["cuda.visible-devices-mismatch"]


# --- more torchrun ranks per node than the GPUs the report counts (torch/distributed/run.py --nproc-per-node) ---
RUN = "torchrun --standalone --nnodes=1 --nproc_per_node={n} finetune.py --deepspeed ds.json\n"


@pytest.mark.parametrize(
    ("hardware", "nproc"),
    [
        ("OS: CentOS 7.9, GPU: 3090 24g*2\n", 8),
        ("服务器配置 A100 80G*4\n", 8),
        ("V100 32GB*2, driver 535\n", 4),
        ("Running on a box with 2x4090\n", 4),
        ("We have dual 3090s in this workstation\n", 8),
    ],
)
def test_nproc_above_the_stated_gpu_count(tmp_path: Path, hardware: str, nproc: int) -> None:
    text = hardware + RUN.format(n=nproc) + ORDINAL
    assert _causes(tmp_path, text)[:1] == ["vllm.tp-exceeds-visible-gpus"]
    # the same run on as many GPUs as ranks: the count is not why
    fits = hardware + RUN.format(n=2) + ORDINAL
    assert "vllm.tp-exceeds-visible-gpus" not in _causes(tmp_path, fits)


# --- a 0-byte driver library left in the image (runc's file mountpoints) and no NVIDIA runtime to mount over it ---
@pytest.mark.parametrize(
    "form",
    [
        # ld.so: "error while loading shared libraries: %s: %s"
        "/opt/app/bin/server: error while loading shared libraries: /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1: file too short\n",
        # dlopen through ctypes / Python extension import
        "OSError: /usr/lib/x86_64-linux-gnu/libcuda.so.1: file too short\n",
        "ImportError: /usr/lib64/libcuda.so.1: file too short\n",
        "./main: error while loading shared libraries: /usr/lib/powerpc64le-linux-gnu/libnvidia-ptxjitcompiler.so.1: file too short\n",
    ],
)
@pytest.mark.parametrize(
    "neighbour",
    [
        # an application's own library truncated (a broken download): not the driver
        "python3: error while loading shared libraries: /opt/conda/lib/libtorch_cuda.so: file too short\n",
        "OSError: /usr/local/lib/python3.10/dist-packages/nvidia/cudnn/lib/libcudnn.so.8: file too short\n",
    ],
)
def test_empty_driver_library_is_no_nvidia_runtime(tmp_path: Path, form: str, neighbour: str) -> None:
    assert _causes(tmp_path, form)[:1] == ["runtime.nvidia-toolkit-missing"]
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, neighbour)


def test_jetson_csv_file_too_short_keeps_its_cause(tmp_path: Path) -> None:
    x86 = "OSError: /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1: file too short\n"
    assert _causes(tmp_path, x86)[:1] == ["runtime.nvidia-toolkit-missing"]
    jetson = "python3: error while loading shared libraries: /usr/lib/aarch64-linux-gnu/libcudnn.so.8: file too short\n"
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, jetson)
