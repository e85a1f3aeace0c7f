"""Issue 13, gnew22: causes the catalogue lacked (heldout22's collectors' uncovered threads), read in the code that
prints them. Lines are written from the format strings, not copied from a log.

- mount.image-dir-shadowed: CPython importlib `No module named {!r}` (ModuleNotFoundError) and glibc dlerror
  `<lib>: cannot open shared object file: No such file or directory`, each only beside a quoted `docker run -v` /
  compose `volumes:` whose target is a directory the image fills (deploy/logquote.image_dir_shadowed: /opt, /usr,
  /usr/local, /lib, ipex-llm's /llm, SGLang's /sgl-workspace, /opt/intel/oneapi, site-packages).
- compose.gpu-reservation-incomplete: moby daemon/nvidia_linux.go setNvidiaGPUs `case req.Count == 0:
  NVIDIA_VISIBLE_DEVICES=void` (Engine >= 27.3); docker/compose copies an unset `count` as 0. A quoted compose
  reservation with neither count nor device_ids beside torch's `No CUDA GPUs are available` / `Found no NVIDIA
  driver on your system`; `tpdoctor audit` flags the same reservation.
- limits.nofile-too-low: torch/utils/data/dataloader.py _try_get_data's EMFILE message, CPython
  multiprocessing/reduction.py recvfds `received %d items of ancdata`, strerror(EMFILE) after NCCL's socket calls,
  Python's `[Errno 24]`, Go's lower-case `too many open files`; inotify's EMFILE stays clean.
- slurm.enroot-path-unusable: NVIDIA/enroot bin/enroot-switchroot.c sys_init `failed to execute: %s` (+ strerror
  EACCES on a noexec data path), squashfs-tools mksquashfs `Write failed because %s` / `Failed to write to output filesystem` and tar's
  `Cannot write: No space left on device`, behind pyxis's `pyxis:     ` prefix or with enroot in the log. coreutils
  mkdir's `cannot create directory '%s': Permission denied` for enroot's paths came later (glearn29b; pyxis#12
  relabelled in the eighteenth session); pyxis 0.16's epilog cleanup (pyxis#123) stays clean.
- nvidia.vgpu-uvm-disabled: NCCL checks.h CUDACHECK `Cuda failure %d '%s'` (older: `Cuda failure '%s'`) with
  cudaErrorNotSupported's `operation not supported`, only in a vGPU guest (nvidia-smi -q `Virtualization Mode :
  VGPU`, `vGPU Software Licensed Product`, a vGPU profile name such as GRID A100-40C).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes
from tpdoctor.model import catalog

NEW = {"mount.image-dir-shadowed", "compose.gpu-reservation-incomplete", "limits.nofile-too-low",
       "nvidia.vgpu-uvm-disabled", "slurm.enroot-path-unusable"}


def test_new_ids_are_in_the_catalogue() -> None:
    assert NEW <= set(catalog()), sorted(NEW - set(catalog()))


# --- mount.image-dir-shadowed -------------------------------------------------------------------------------------

NO_MODULE = "Traceback (most recent call last):\n  File \"<frozen runpy>\", line 189\nModuleNotFoundError: No module named 'vllm'\n"
NO_LIB = "ImportError: libmkl_intel_lp64.so.2: cannot open shared object file: No such file or directory\n"


@pytest.mark.parametrize(
    ("command", "error"),
    [
        # a model directory mounted on the image's own app tree (ipex-llm-serving-xpu keeps vllm's sources under /llm)
        ("$ docker run -itd --net=host --device=/dev/dri -v /home/u/models:/llm --shm-size=16g "
         "intelanalytics/ipex-llm-serving-xpu:2.2.0\n", NO_MODULE),
        # the host's /opt over the image's /opt/intel/oneapi
        ("docker run --rm -it --device /dev/dri -v /opt:/opt intelanalytics/ipex-llm-xpu:latest bash\n", NO_LIB),
        # --volume spelling, a python site-packages target, podman
        ("podman run --device /dev/dri --volume ./venv:/usr/local/lib/python3.11/site-packages img/app:1\n", NO_MODULE),
        # --mount type=bind spelling over /usr/local
        ("docker run --gpus all --mount type=bind,source=/srv/tools,target=/usr/local nvcr.io/nvidia/pytorch:24.05-py3\n",
         "python: error while loading shared libraries: libpython3.10.so.1.0: cannot open shared object file: "
         "No such file or directory\n"),
    ],
)
def test_mount_over_an_image_directory_names_the_mount(tmp_path: Path, command: str, error: str) -> None:
    assert causes(tmp_path, command + error)[0] == "mount.image-dir-shadowed"


def test_compose_volume_over_the_image_directory(tmp_path: Path) -> None:
    text = ("services:\n  llm:\n    image: intelanalytics/ipex-llm-serving-xpu:latest\n    devices:\n      - /dev/dri\n"
            "    volumes:\n      - /data/models:/llm\n" + NO_MODULE)
    assert causes(tmp_path, text)[0] == "mount.image-dir-shadowed"


@pytest.mark.parametrize(
    "command",
    [
        "docker run -it --device=/dev/dri -v /home/u/models:/llm/models intelanalytics/ipex-llm-serving-xpu:latest\n",
        "docker run --gpus all -v /data:/models -v ~/.cache/huggingface:/root/.cache/huggingface vllm/vllm-openai:latest\n",
        "docker run --gpus all -v $PWD:/workspace nvcr.io/nvidia/pytorch:24.05-py3\n",
        "docker run --gpus all -v llm-data:/llm intelanalytics/ipex-llm-serving-xpu:latest\n",  # a named volume is filled
    ],
)
def test_data_mounts_stay_clean(tmp_path: Path, command: str) -> None:
    for error in (NO_MODULE, NO_LIB):
        assert "mount.image-dir-shadowed" not in causes(tmp_path, command + error)


def test_import_error_without_a_mount_names_nothing(tmp_path: Path) -> None:
    assert "mount.image-dir-shadowed" not in causes(tmp_path, NO_MODULE + NO_LIB)


def test_mount_without_an_import_error_names_nothing(tmp_path: Path) -> None:
    assert "mount.image-dir-shadowed" not in causes(tmp_path, "docker run -v /opt:/opt ubuntu:22.04 ls\n")


# --- compose.gpu-reservation-incomplete ----------------------------------------------------------------------------

def _compose(device: str) -> str:
    return ("services:\n  vllm:\n    image: vllm/vllm-openai:v0.8.5\n    shm_size: 16g\n    deploy:\n      resources:\n"
            "        reservations:\n          devices:\n" + device)


NO_COUNT = "            - driver: nvidia\n              capabilities: [gpu]\n"
NO_DRIVER = "            - capabilities: [gpu]\n"
WITH_COUNT = "            - driver: nvidia\n              count: all\n              capabilities: [gpu]\n"
WITH_IDS = "            - driver: nvidia\n              device_ids: ['0', '1']\n              capabilities: [gpu]\n"
NO_GPUS = "vllm-1  | RuntimeError: No CUDA GPUs are available\n"
NO_DRIVER_MSG = ("vllm-1  | AssertionError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA "
                 "GPU and installed a driver from http://www.nvidia.com/Download/index.aspx\n")


@pytest.mark.parametrize("device", [NO_COUNT, NO_DRIVER])
@pytest.mark.parametrize("symptom", [NO_GPUS, NO_DRIVER_MSG])
def test_reservation_without_count_names_the_reservation(tmp_path: Path, device: str, symptom: str) -> None:
    assert causes(tmp_path, _compose(device) + symptom)[0] == "compose.gpu-reservation-incomplete"


@pytest.mark.parametrize("device", [WITH_COUNT, WITH_IDS])
def test_reservation_with_count_or_ids_stays_clean(tmp_path: Path, device: str) -> None:
    assert "compose.gpu-reservation-incomplete" not in causes(tmp_path, _compose(device) + NO_GPUS)


def test_reservation_without_a_symptom_names_nothing(tmp_path: Path) -> None:
    assert causes(tmp_path, _compose(NO_COUNT) + "vllm-1  | INFO: Started server process [1]\n") == []


def _audit(tmp_path: Path, device: str) -> list[str]:
    import json
    import subprocess
    import sys

    f = tmp_path / "compose.yaml"
    f.write_text(_compose(device) + "    command: --model facebook/opt-125m\n")
    out = subprocess.run([sys.executable, "-m", "tpdoctor", "audit", str(f), "--format", "json"],
                         capture_output=True, text=True, check=False)
    return [x["cause"] for x in json.loads(out.stdout)["findings"]]


@pytest.mark.parametrize("device", [NO_COUNT, NO_DRIVER])
def test_audit_flags_the_reservation(tmp_path: Path, device: str) -> None:
    found = _audit(tmp_path, device)
    assert "compose.gpu-reservation-incomplete" in found
    assert "audit.gpu-count-unused" not in found  # it reserves no GPU on Engine >= 27.3, not "all GPUs"


@pytest.mark.parametrize("device", [WITH_COUNT, WITH_IDS])
def test_audit_keeps_counted_reservations_clean(tmp_path: Path, device: str) -> None:
    assert "compose.gpu-reservation-incomplete" not in _audit(tmp_path, device)


# --- limits.nofile-too-low -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "line",
    [
        # torch DataLoader, _try_get_data (errno.EMFILE)
        "RuntimeError: Too many open files. Communication with the workers is no longer possible. Please increase the "
        "limit using `ulimit -n` in the shell or change the sharing strategy by calling "
        "`torch.multiprocessing.set_sharing_strategy('file_system')` at the beginning of your code",
        # CPython multiprocessing.reduction.recvfds under torch's file_descriptor strategy
        "RuntimeError: received 0 items of ancdata",
        # Python's OSError for EMFILE
        "OSError: [Errno 24] Too many open files: '/tmp/pymp-k2z1/listener-x'",
        # NCCL socket.cc with strerror(EMFILE)
        "gpu3:881:902 [2] misc/socket.cc:484 NCCL WARN Net : Socket creation failed : Too many open files",
        # Go (containerd / a Go sidecar): lower-case syscall error text
        "http: Accept error: accept tcp [::]:8080: accept4: too many open files; retrying in 5ms",
    ],
)
def test_emfile_forms_name_the_limit(tmp_path: Path, line: str) -> None:
    assert ("limits.nofile-too-low", "suggests") in findings(tmp_path, line + "\n")


@pytest.mark.parametrize(
    "line",
    [
        "Failed to allocate directory watch: Too many open files",
        "inotify_init1() failed: Too many open files",
        "OSError: [Errno 24] inotify instance limit reached",
        "received 3 items of ancdata",
        # ENFILE: the whole host's file table (fs.file-max), not the process limit
        "OSError: [Errno 23] Too many open files in system: '/tmp/x'",
    ],
)
def test_inotify_and_other_lines_stay_clean(tmp_path: Path, line: str) -> None:
    assert "limits.nofile-too-low" not in causes(tmp_path, line + "\n")


# --- nvidia.vgpu-uvm-disabled ---------------------------------------------------------------------------------------

OP_NOT_SUPPORTED = "node1:1234:1290 [0] init.cc:1786 NCCL WARN Cuda failure 'operation not supported'\n"
OP_NOT_SUPPORTED_801 = "node1:1234:1290 [0] init.cc:1786 NCCL WARN Cuda failure 801 'operation not supported'\n"


@pytest.mark.parametrize(
    "guest",
    [
        "    Virtualization Mode                   : VGPU\n",
        "    vGPU Software Licensed Product\n        Product Name                      : NVIDIA Virtual Compute Server\n",
        "|   0  GRID A100-40C                  On  | 00000000:02:00.0 Off |                    0 |\n",
        "|   0  NVIDIA A40-48Q                 On  | 00000000:02:00.0 Off |                    0 |\n",
    ],
)
@pytest.mark.parametrize("error", [OP_NOT_SUPPORTED, OP_NOT_SUPPORTED_801, "RuntimeError: CUDA error: operation not supported\n"])
def test_vgpu_guest_with_not_supported_names_uvm(tmp_path: Path, guest: str, error: str) -> None:
    assert causes(tmp_path, guest + error)[0] == "nvidia.vgpu-uvm-disabled"


@pytest.mark.parametrize(
    "gpu",
    [
        "    Virtualization Mode                   : Pass-Through\n",
        "    Virtualization Mode                   : Host VGPU\n",
        "|   0  NVIDIA A100-SXM4-80GB          On  | 00000000:07:00.0 Off |                    0 |\n",
        "|   0  NVIDIA H100 80GB HBM3          On  | 00000000:18:00.0 Off |                    0 |\n",
    ],
)
def test_not_a_vgpu_guest_stays_clean(tmp_path: Path, gpu: str) -> None:
    assert "nvidia.vgpu-uvm-disabled" not in causes(tmp_path, gpu + OP_NOT_SUPPORTED)


def test_vgpu_guest_without_a_failure_names_nothing(tmp_path: Path) -> None:
    text = "    Virtualization Mode                   : VGPU\nNCCL INFO Bootstrap : Using eth0:10.0.0.2<0>\n"
    assert causes(tmp_path, text) == []
    assert not any("vgpu" in n.lower() for n in notes(tmp_path, text))


# --- slurm.enroot-path-unusable -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        # enroot-switchroot's execv of the shell refused (noexec ENROOT_DATA_PATH), through pyxis and bare
        "slurmstepd: error: pyxis: container start failed with error code: 1\n"
        "slurmstepd: error: pyxis:     enroot-switchroot: failed to execute: /bin/bash: Permission denied\n",
        "enroot-switchroot: failed to execute: /bin/sh: Permission denied\n",
        # the squashfs or the extracted image does not fit
        "slurmstepd: error: pyxis:     [INFO] Creating squashfs filesystem...\n"
        "slurmstepd: error: pyxis:     Write failed because No space left on device\n"
        "slurmstepd: error: pyxis:     FATAL ERROR:Failed to write to output filesystem\n",
        "slurmstepd: error: pyxis:     tar: usr/lib/x86_64-linux-gnu/libcublasLt.so.12: Cannot write: No space left on "
        "device\n",
        "$ enroot import docker://nvcr.io#nvidia/pytorch:24.05-py3\n[INFO] Extracting image content...\n"
        "tar: usr/lib/libnccl.so.2: Cannot write: No space left on device\n",
    ],
)
def test_enroot_paths_name_the_node_setup(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text)[0] == "slurm.enroot-path-unusable"


@pytest.mark.parametrize(
    "text",
    [
        "mkdir: cannot create directory \u2018/run/user/1000\u2019: Permission denied\n",  # no enroot in the log
        "tar: data/shard-00001.bin: Cannot write: No space left on device\n",
        "FATAL:   While performing build: while creating squashfs: create command failed: exit status 1: Write failed "
        "because No space left on device\n",  # apptainer build, not enroot
        "enroot-switchroot: failed to execute: /bin/zsh: No such file or directory\n",
        # the runtime path under /run from pyxis 0.16's epilog cleanup (pyxis#123: its container_scope change); at
        # a step's start the same line is the default ENROOT_RUNTIME_PATH (pyxis#12, relabelled: test_explain_glearn29b)
        "error: spank-epilog: error: pyxis:     mkdir: cannot create directory '/run/enroot': Permission denied\n",
        "$ enroot list\nmkdir: cannot create directory \u2018/run/user/2001\u2019: Permission denied\n",
    ],
)
def test_enroot_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "slurm.enroot-path-unusable" not in causes(tmp_path, text)
