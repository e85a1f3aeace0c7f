"""Issue 13, heldout38 lessons (glearn38a): the NVIDIA "no GPU in the container" family, which neighbour is first.

Lines are written from the code and docs that print them (not copied from the heldout38 logs):

- cudart's cudaGetErrorString for 35 ('CUDA driver version is insufficient for CUDA runtime version') as llama.cpp's
  CUDA_CHECK prints it ('CUDA error %d at %s:%d: %s') and as a program's own printf, torch c10/cuda's 'Found no NVIDIA
  driver on your system', glibc's dlopen error for libcuda.so.1, bash's 'command not found' for nvidia-smi;
- udocker (indigo-dc/udocker docs/user_manual.md section 5: only `udocker setup --nvidia` copies the host driver in);
- a host (no container named) where nvidia-smi is missing and CUDA finds no driver: device.no-driver first;
- a CPU run (`--device cpu`, an issue form's "CPU Only") whose CUDA build cannot load libcuda.so.1: clean;
- the NGC entrypoint banner ('The NVIDIA Driver was not detected ... Use the NVIDIA Container Toolkit'): the toolkit
  and the GPU request first (the dev logs with it say so);
- CUDA's initialisation returning 500 'named symbol not found' (torch's device_count_impl, ggml_cuda_init) in a
  Docker container under Windows / WSL2 (NVIDIA/nvidia-container-toolkit#520, Docker Desktop before 4.31).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

ERR35_GGML = ("CUDA error 35 at /build/llama.cpp/ggml-cuda.cu:478: CUDA driver version is insufficient for CUDA "
              "runtime version\ncurrent device: 0\n")
ERR35_PRINTF = "error: 35\nerror string: CUDA driver version is insufficient for CUDA runtime version\n"
NO_DRIVER_TORCH = ("RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU "
                   "and installed a driver from http://www.nvidia.com/Download/index.aspx\n")
LIBCUDA = "/opt/app/bin/server: error while loading shared libraries: libcuda.so.1: cannot open shared object file: No such file or directory\n"
TORCH_500 = ("/usr/lib/python3/site-packages/torch/cuda/__init__.py:128: UserWarning: CUDA initialization: Unexpected "
             "error from cudaGetDeviceCount(). Did you run some cuda functions before calling NumCudaDevices() that "
             "might have already set an error? Error 500: named symbol not found\n")
GGML_500 = "ggml_cuda_init: failed to initialize CUDA: named symbol not found\n"
NGC_BANNER = ("WARNING: The NVIDIA Driver was not detected.  GPU functionality will not be available.\n"
              "   Use the NVIDIA Container Toolkit to start this container with GPU support; see\n"
              "   https://docs.nvidia.com/datacenter/cloud-native/ .\n")


# --- udocker: no NVIDIA hook, the driver's libraries are copied in only by `udocker setup --nvidia` ---
@pytest.mark.parametrize(
    "run",
    [
        "$ udocker run -p 8080:8080 -v $HOME/data:/data vendor/server serve --device cuda\n",
        "!udocker --allow-root run -v /kaggle:/data vendor/server serve\n",
        "$ ./udocker.py run --hostenv mycontainer python3 train.py\n",
        "$ udocker --quiet run -e LD_LIBRARY_PATH=/usr/lib gpuimg ./cuda_app\n",
    ],
)
# (a bare missing libcuda already named the toolkit first before glearn38a: not a case here)
@pytest.mark.parametrize("symptom", [ERR35_GGML, NO_DRIVER_TORCH])
def test_udocker_without_nvidia_setup_is_the_missing_injection(tmp_path: Path, run: str, symptom: str) -> None:
    got = causes(tmp_path, run + symptom)
    assert got and got[0] == "runtime.nvidia-toolkit-missing", got
    assert "device.nvidia-node-missing" not in got
    assert "cuda.driver-too-old" not in got


def test_udocker_with_nvidia_setup_is_not_read_as_missing_injection(tmp_path: Path) -> None:
    text = ("$ udocker setup --nvidia mycontainer\n$ udocker run mycontainer ./cuda_app\n" + ERR35_GGML)
    # the driver files were copied in: the udocker rule says nothing, 35's own readings stay
    assert not any("udocker" in n for n in notes(tmp_path, text))
    assert causes(tmp_path, text)[:1] != ["runtime.nvidia-toolkit-missing"]


def test_plain_docker_word_in_udocker_is_not_the_udocker_rule(tmp_path: Path) -> None:
    # a docker run line is read by the command parser, not the udocker rule
    text = "$ docker run --gpus all vendor/server:latest serve\n" + ERR35_GGML
    assert not any("udocker" in n for n in notes(tmp_path, text))


# --- a host without a working driver: nvidia-smi missing + CUDA finds no driver, no container named ---
@pytest.mark.parametrize(
    "smi",
    [
        "bash: nvidia-smi: command not found\n",
        "bash: nvidia-smi: command not found...\n",
        "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA Display "
        "Driver is properly installed and present in your system.\n",
    ],
)
@pytest.mark.parametrize("symptom", [ERR35_PRINTF, NO_DRIVER_TORCH,
                                     "CUDA runtime error 100 at main.cu:12: no CUDA-capable device is detected\n"])
def test_host_without_driver_names_no_driver_first(tmp_path: Path, smi: str, symptom: str) -> None:
    text = "$ srun -n 4 ./cuda_hello\n" + symptom + smi
    got = causes(tmp_path, text)
    assert got and got[0] == "device.no-driver", got


@pytest.mark.parametrize(
    "context",
    [
        "$ docker run -it vendor/cuda-app:latest ./cuda_hello\n",
        "Running inside a podman container on the cluster.\n",
        "kubectl logs cuda-hello-7c9\n",
        "$ udocker run vendor/cuda-app ./cuda_hello\n",
    ],
)
def test_container_context_keeps_the_container_reading(tmp_path: Path, context: str) -> None:
    got = causes(tmp_path, context + ERR35_PRINTF + "bash: nvidia-smi: command not found\n")
    assert got and got[0] != "device.no-driver", got


def test_smi_missing_alone_is_not_no_driver(tmp_path: Path) -> None:
    # without CUDA's own failure the rule does not fire (nvidia-smi may simply not be installed in an image)
    got = causes(tmp_path, "bash: nvidia-smi: command not found\n")
    assert "device.no-driver" not in got


# --- a CPU run of a CUDA build: libcuda.so.1 missing is the wrong build, not a container GPU problem ---
@pytest.mark.parametrize(
    "cpu",
    [
        "$ docker run -it -p 8080:8080 vendor/server serve --model Some/Model --device cpu\n",
        "$ docker run -it -p 8080:8080 vendor/server serve --model Some/Model --device **cpu**\n",
        "$ ./server serve --device=cpu\n",
        "**Information about your GPU**\n\nCPU Only\n",
        "GPU:\n- CPU-only\n",
    ],
)
def test_cpu_run_libcuda_missing_is_clean(tmp_path: Path, cpu: str) -> None:
    got = causes(tmp_path, cpu + LIBCUDA)
    assert got == [], got


def test_cpu_run_with_libgomp_missing_too_is_clean(tmp_path: Path) -> None:
    text = ("/home/u/dist/llama-server: error while loading shared libraries: libgomp.so.1: cannot open shared object "
            "file: No such file or directory\n" + LIBCUDA + "**Information about your GPU**\nCPU Only\n")
    assert causes(tmp_path, text) == []


@pytest.mark.parametrize(
    "other",
    [
        "$ docker run -it vendor/server serve --device cuda\n",
        "The model runs on CPU only after the upgrade, the GPU is idle.\n",
        "$ docker run --device /dev/nvidia0 vendor/server serve\n",
    ],
)
def test_libcuda_missing_without_a_cpu_run_keeps_its_cause(tmp_path: Path, other: str) -> None:
    got = causes(tmp_path, other + LIBCUDA)
    assert got, got
    assert got[0] in {"runtime.nvidia-toolkit-missing", "device.nvidia-node-missing"}, got


# --- the NGC banner: the toolkit / GPU request first ---
@pytest.mark.parametrize(
    "run",
    [
        "$ docker run <image_name>\n",
        "$ docker run -it myimage:latest\n",
        "",
    ],
)
def test_ngc_banner_names_toolkit_first(tmp_path: Path, run: str) -> None:
    text = run + "\n==========\n== CUDA ==\n==========\n\nCUDA Version 12.4.1\n\n" + NGC_BANNER
    got = causes(tmp_path, text)
    assert got and got[0] in {"runtime.nvidia-toolkit-missing", "device.nvidia-node-missing"}, got
    if "docker run -it myimage" not in run:  # a parsed command without a request is the differential's
        assert got[0] == "runtime.nvidia-toolkit-missing", got


def test_ngc_banner_with_gpus_stays_benign(tmp_path: Path) -> None:
    text = "$ docker run --gpus all nvcr.io/nvidia/pytorch:24.05-py3\n" + NGC_BANNER
    assert causes(tmp_path, text) == []


# --- CUDA's init 500 in a container (WSL2 / Docker Desktop family) ---
@pytest.mark.parametrize(
    "context",
    [
        "docker部署时模型只能跑在CPU上\n",
        "Running the server with docker compose up\n",
        "I deploy it in a Docker container.\n",
        "podman run --device nvidia.com/gpu=all myimage\n",
    ],
)
@pytest.mark.parametrize("line", [TORCH_500, GGML_500])
def test_container_init_500_names_wsl_toolkit(tmp_path: Path, context: str, line: str) -> None:
    got = findings(tmp_path, context + line)
    assert got and got[0] == ("runtime.wsl-toolkit-predates-driver", "suggests"), got


@pytest.mark.parametrize("line", [TORCH_500, GGML_500])
def test_init_500_with_linux_driver_is_not_the_wsl_gap(tmp_path: Path, line: str) -> None:
    text = ("Running in a docker container\n"
            "| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |\n" + line)
    assert "runtime.wsl-toolkit-predates-driver" not in causes(tmp_path, text)


@pytest.mark.parametrize("line", [TORCH_500, GGML_500])
def test_init_500_without_container_names_nothing(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line) == []


def test_ggml_500_under_wsl_names_wsl_toolkit(tmp_path: Path) -> None:
    text = "Ubuntu 22.04 on WSL2, Docker Desktop\n" + GGML_500
    assert causes(tmp_path, text)[:1] == ["runtime.wsl-toolkit-predates-driver"]


def test_ggml_500_is_not_a_missing_uvm_node(tmp_path: Path) -> None:
    # before glearn38a the loose twin of ggml.cuda-init-device-path read 500 as 999/3 (missing /dev/nvidia-uvm)
    assert "device.nvidia-node-missing" not in causes(tmp_path, "docker logs xinference\n" + GGML_500)


def test_ggml_kernel_named_symbol_is_not_init(tmp_path: Path) -> None:
    # a kernel's 'named symbol not found' later in a run (a build for another arch) is another story
    text = ("docker run --gpus all img\nCUDA error: named symbol not found\n  current device: 0, in function "
            "ggml_cuda_op_mul_mat at ggml-cuda.cu:1500\n")
    assert "runtime.wsl-toolkit-predates-driver" not in causes(tmp_path, text)


# --- the host's CUDA told in words below the image's, and the container refusing to start ---
@pytest.mark.parametrize(
    "text",
    [
        "In the incident the assigned host supported CUDA 12.6 and the stock container refused to start.\n",
        "The node only supports CUDA 12.4, so the cu128 image fails to start.\n",
        "Our driver supports up to CUDA 11.8 and the pod would not start.\n",
    ],
)
def test_host_cuda_below_image_refused_is_driver_too_old(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [("cuda.driver-too-old", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        "The host supports CUDA 12.8 and the container starts fine.\n",
        "- host driver must be >= 570 (CUDA 12.8)\n",
        "The container refused to start because port 8080 is taken.\n",
    ],
)
def test_cuda_support_words_without_a_refusal_are_clean(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text) == []
