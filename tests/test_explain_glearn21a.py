"""Issue 13, heldout21 lessons (glearn21a): the NVIDIA runtime not used, Jetson csv-mode mounts, builds, Slurm.

Lines are written from the code that prints them (not copied from the heldout21 logs):
- NVIDIA/k8s-device-plugin main.go: v1.8 log.Println("Loading NVML") then the binding's error alone
  (gpu-monitoring-tools bindings/go/nvml errors.New("could not load NVML library")), v1.9-v1.10
  "Failed to start nvml with error: %s.", v1.11-v0.11 "Failed to initialize NVML: %v." (Go log / klog prefixes);
- Tegra-only L4T libraries (OE4T/meta-tegra TEGRA_LIBRARIES_TO_INSTALL) reach a container only through the NVIDIA
  runtime's csv mode; glibc dlerror "<lib>: cannot open shared object file: No such file or directory";
- glibc elf/dl-load.c open_verify "file too short" on a Jetson image's 0-byte placeholder (ld.so "error while loading
  shared libraries: %s: %s", dlopen "%s: %s");
- a CUDA toolkit library missing in a docker build step (build steps run without the NVIDIA runtime);
- a Slurm job (slurm-%j.out, "Submitted batch job %u", SLURM_JOB_ID, prose) with no GPU request.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings

NOT_FOUND = ": cannot open shared object file: No such file or directory"


# ---------------------------------------------------------------- device plugin: NVML not loadable


@pytest.mark.parametrize(
    "line",
    [
        # v1.8: Go log prefix, the binding's error alone after "Loading NVML"
        "2018/01/04 10:00:00 could not load NVML library",
        # v1.9-v1.10
        "2018/06/11 07:12:45 Failed to start nvml with error: could not load NVML library.",
        # v1.11-v0.11, log and klog prefixes
        "2020/02/03 04:05:06 Failed to initialize NVML: could not load NVML library.",
        "E0203 04:05:06.789012       1 main.go:120] Failed to initialize NVML: could not load NVML library.",
    ],
)
def test_device_plugin_crash_with_nvml_not_loadable_names_the_runtime(tmp_path: Path, line: str) -> None:
    text = (
        "NAME                                   READY   STATUS             RESTARTS   AGE\n"
        "nvidia-device-plugin-daemonset-7xk2q   0/1     CrashLoopBackOff   4          3m\n"
        "$ kubectl logs nvidia-device-plugin-daemonset-7xk2q\n"
        "2018/01/04 10:00:00 Loading NVML\n" + line + "\n"
    )
    assert _causes(tmp_path, text)[0] == "runtime.nvidia-toolkit-missing"


@pytest.mark.parametrize(
    "text",
    [
        # a healthy plugin start
        "2020/02/03 04:05:06 Loading NVML\n2020/02/03 04:05:06 Starting FS watcher.\n"
        "2020/02/03 04:05:06 Starting to serve on /var/lib/kubelet/device-plugins/nvidia.sock\n"
        "2020/02/03 04:05:06 Registered device plugin with Kubelet\n",
        # NVML present but not supported (WSL2, GeForce health checks): not the runtime
        "2020/02/03 04:05:06 Loading NVML\n2020/02/03 04:05:06 Failed to initialize NVML: Not Supported.\n",
    ],
)
def test_device_plugin_neighbours_do_not_name_the_runtime(tmp_path: Path, text: str) -> None:
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, text)


# ---------------------------------------------------------------- Jetson: Tegra libraries and libcuda not mounted


@pytest.mark.parametrize(
    "line",
    [
        "ImportError: libnvdla_compiler.so" + NOT_FOUND,
        "./detectnet: error while loading shared libraries: libnvrm_gpu.so" + NOT_FOUND,
        "OSError: libnvbufsurface.so.1.0.0" + NOT_FOUND,
        "gst-launch-1.0: error while loading shared libraries: libnvos.so" + NOT_FOUND,
        "ImportError: libnvmedia_tensor.so" + NOT_FOUND,
    ],
)
def test_tegra_library_missing_in_container_is_the_runtime_not_used(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[0] == "runtime.jetson-gpus-flag"


def test_libcuda_missing_on_jetson_is_the_runtime_not_used(tmp_path: Path) -> None:
    text = (
        "Jetson AGX Orin, JetPack 5.1, docker compose up\n"
        "app_1  | python3: error while loading shared libraries: libcuda.so.1" + NOT_FOUND + "\n"
    )
    assert _causes(tmp_path, text)[0] == "runtime.jetson-gpus-flag"


@pytest.mark.parametrize(
    "text",
    [
        # x86: libcuda without a Jetson in sight stays the toolkit
        "python3: error while loading shared libraries: libcuda.so.1" + NOT_FOUND + "\n",
    ],
)
def test_libcuda_missing_elsewhere_is_not_jetson(tmp_path: Path, text: str) -> None:
    got = _causes(tmp_path, text)
    assert got and got[0] == "runtime.nvidia-toolkit-missing"
    assert "runtime.jetson-gpus-flag" not in got


@pytest.mark.parametrize(
    "text",
    [
        # ldconfig listing the Tegra libraries: healthy
        "\tlibnvdla_compiler.so (libc6,AArch64) => /usr/lib/aarch64-linux-gnu/tegra/libnvdla_compiler.so\n",
        "\tlibnvrm_gpu.so (libc6,AArch64) => /usr/lib/aarch64-linux-gnu/tegra/libnvrm_gpu.so\n",
        # a look-alike name that is no Tegra library
        "ImportError: libnvrmx.so" + NOT_FOUND + "\n",
    ],
)
def test_tegra_library_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "runtime.jetson-gpus-flag" not in _causes(tmp_path, text)


# ---------------------------------------------------------------- Jetson: 0-byte placeholders ("file too short")


@pytest.mark.parametrize(
    "line",
    [
        # ld.so form
        "./imagenet: error while loading shared libraries: /usr/lib/aarch64-linux-gnu/libnvinfer.so.8: file too short",
        "python3: error while loading shared libraries: /usr/local/cuda-10.2/targets/aarch64-linux/lib/libcublas.so.10: file too short",
        # dlopen / ctypes form
        "OSError: /usr/lib/aarch64-linux-gnu/libcudnn.so.8: file too short",
        "ImportError: /usr/lib/aarch64-linux-gnu/libnvonnxparser.so.8: file too short",
        # pasted without the colon
        "./app: error while loading shared libraries: /usr/lib/aarch64-linux-gnu/libnvinfer_plugin.so.7.1.3 file too short",
    ],
)
def test_empty_jetson_placeholder_is_a_host_library_missing(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[0] == "nvidia.host-driver-library-missing"


@pytest.mark.parametrize(
    "line",
    [
        # x86 libraries or non-CUDA libraries: a truncated download or a broken image, not csv mode
        "python: error while loading shared libraries: /usr/lib/x86_64-linux-gnu/libnvinfer.so.8: file too short",
        "python3: error while loading shared libraries: /usr/lib/aarch64-linux-gnu/libpython3.8.so.1.0: file too short",
        "ImportError: /opt/venv/lib/python3.10/site-packages/torch/lib/libtorch_cuda.so: file too short",
    ],
)
def test_file_too_short_elsewhere_is_not_a_host_library(tmp_path: Path, line: str) -> None:
    assert "nvidia.host-driver-library-missing" not in _causes(tmp_path, line + "\n")


# ---------------------------------------------------------------- docker build steps without the NVIDIA runtime


@pytest.mark.parametrize(
    "text",
    [
        "The package is installed inside a docker image; its setup.py imports torch:\n"
        "OSError: libcurand.so.10" + NOT_FOUND + "\n",
        "It fails during docker build:\nImportError: libcublas.so.10" + NOT_FOUND + "\n",
        "Step 7/9 : RUN python3 setup.py install\n ---> Running in 1a2b3c4d\n"
        "OSError: libcudart.so.10.2" + NOT_FOUND + "\n"
        "The command '/bin/sh -c python3 setup.py install' returned a non-zero code: 1\n",
        "#8 [5/6] RUN pip3 install .\n#8 2.31 ImportError: libnvdla_compiler.so" + NOT_FOUND + "\n",
    ],
)
def test_cuda_library_missing_in_a_build_step(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text)[0] == "runtime.build-without-gpu"


@pytest.mark.parametrize(
    "text",
    [
        # the image was built, the error is at run time
        "I ran docker build -t app . and then docker run app:\nOSError: libcurand.so.10" + NOT_FOUND + "\n",
        # no build at all
        "OSError: libcurand.so.10" + NOT_FOUND + "\n",
    ],
)
def test_cuda_library_missing_without_a_build_is_not_a_build(tmp_path: Path, text: str) -> None:
    assert "runtime.build-without-gpu" not in _causes(tmp_path, text)


# ---------------------------------------------------------------- Slurm jobs without a GPU request

SMI = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)


@pytest.mark.parametrize(
    "context",
    [
        "==> slurm-4711.out <==",
        "$ cat slurm-4711_3.out",
        "Submitted batch job 4711",
        "SLURM_JOB_ID=4711",
        "I submitted the prediction via slurm and checked the output file.",
    ],
)
def test_slurm_job_without_gpu_request_nvidia_smi(tmp_path: Path, context: str) -> None:
    assert _findings(tmp_path, context + "\n" + SMI + "\n") == [("slurm.job-without-gpu", "suggests")]


def test_slurm_job_without_gpu_request_torch(tmp_path: Path) -> None:
    text = (
        "Submitted batch job 4711\n"
        "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx\n"
    )
    assert _causes(tmp_path, text)[0] == "slurm.job-without-gpu"


@pytest.mark.parametrize(
    "text",
    [
        # the job asked for a GPU: the driver is the suspect again
        "#SBATCH --gres=gpu:1\n#SBATCH --time=01:00:00\n==> slurm-4711.out <==\n" + SMI + "\n",
        "$ sbatch --gpus-per-node=1 run.sh\nSubmitted batch job 4711\n" + SMI + "\n",
        # no Slurm at all
        SMI + "\n",
        # Slurm named in passing, not as this job
        "We also have a slurm cluster.\n" + SMI + "\n",
    ],
)
def test_nvidia_smi_without_slurm_job_or_with_request_stays_driver(tmp_path: Path, text: str) -> None:
    got = _causes(tmp_path, text)
    assert got and got[0] == "device.no-driver"
    assert "slurm.job-without-gpu" not in got
