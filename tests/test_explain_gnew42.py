"""Issue 13, gnew42: container/host causes heldout42's collectors found uncovered (c42*/uncovered.md).

Lines are written from the format strings of the code that prints them (never copied from a collected log):

- runtime.nvidia-visible-devices-unset: a `docker run` command line (docker/cli's run syntax) with --runtime=nvidia and
  neither NVIDIA_VISIBLE_DEVICES nor --gpus; nvidia-container-toolkit internal/config/image/cuda_image.go
  devicesFromEnvvars gives such a non-legacy image "void" (no GPU container). The symptoms after it: FFmpeg's
  libavutil/hwcontext_cuda.c / compat/cuda/dynlink_loader.h ("Cannot load %s" for libcuda.so.1 / libnvcuvid.so.1),
  runc's 'exec: "%s": executable file not found in $PATH', bash's "%s: command not found".
- nvidia.mps-user-mismatch: the MPS control daemon's log, "[<date> <time> Control <pid>] NEW CLIENT <pid> from user
  <uid>: Server is not ready, push client to pending list" and "Starting new server <pid> for user <uid>"; the daemon
  serves one user at a time (nvidia-cuda-mps-control(1)).
- nvidia.mig-enabled-no-instances: Slurm src/plugins/gpu/nvml/gpu_nvml.c's fatal("MIG mode is enabled, but no MIG
  devices were found. ..."), nvidia-smi's MIG table row "No MIG devices found", CUDA's cudaErrorNoDevice string.
- fs.home-unwritable-arbitrary-uid (folded in): numba/core/caching.py CacheImpl.__init__'s RuntimeError("cannot cache
  function %r: no locator available for file %r").
- cuda.driver-too-old (folded in): Omniverse Kit's driver check ("Reason for failure: The minimum Omniverse RTX
  requirement on Linux").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from explain_helpers import notes as _notes


def _guarded(entry: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew42)."""
    assert entry in _ids(), entry


def test_the_new_readings_are_loaded() -> None:
    got = _ids()
    for sid in (
        "docker.runtime-nvidia-no-visible-devices",
        "nvidia-runtime-without-visible-devices",
        "slurm.mig-enabled-no-mig-devices",
        "nvidia-smi.no-mig-devices-row",
        "mig-enabled-no-instances-no-device",
        "numba.cache-no-locator",
        "omniverse.rtx-driver-below-minimum",
        "mps-server-user",
        "mps-client-user",
    ):
        assert sid in got, sid


# --- runtime.nvidia-visible-devices-unset ----------------------------------------------------------------------------

_NVD = "runtime.nvidia-visible-devices-unset"
_RUNS = {
    "emby": "docker run -d --name emby --runtime=nvidia -e NVIDIA_DRIVER_CAPABILITIES=compute,utility,video emby/embyserver:latest\n",
    "ubuntu": "$ docker run --rm --runtime nvidia ubuntu:22.04 nvidia-smi\n",
    "podman": "sudo podman run -d --runtime=nvidia -e NVIDIA_DRIVER_CAPABILITIES=all lscr.io/linuxserver/jellyfin:latest\n",
    "create": "docker container create --runtime=nvidia --name pp photoprism/photoprism:latest\n",
}
_NO_GPU = {
    "nvcuvid": "[AVHWDeviceContext @ 0x55d1c0] Cannot load libnvcuvid.so.1\n",
    "libcuda": "[AVHWDeviceContext @ 0x55d1c0] Cannot load libcuda.so.1\n",
    "exec": 'docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nvidia-smi": executable file not found in $PATH: unknown.\n',
    "bash": "bash: nvidia-smi: command not found\n",
    "torch": "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx\n",
}


@pytest.mark.parametrize("run", sorted(_RUNS))
@pytest.mark.parametrize("symptom", sorted(_NO_GPU))
def test_runtime_nvidia_alone_then_no_gpu_names_the_variable_first(tmp_path: Path, run: str, symptom: str) -> None:
    got = _findings(tmp_path, _RUNS[run] + _NO_GPU[symptom])
    assert got and got[0] == (_NVD, "suggests"), got


@pytest.mark.parametrize("run", sorted(_RUNS))
def test_the_command_alone_is_a_note(tmp_path: Path, run: str) -> None:
    text = _RUNS[run] + "INFO Server started, listening on 0.0.0.0:8096\n"
    assert _NVD not in [c for c, _ in _findings(tmp_path, text)]
    assert any("NVIDIA_VISIBLE_DEVICES" in n for n in _notes(tmp_path, text)), _notes(tmp_path, text)


@pytest.mark.parametrize(
    "run",
    [
        # the variable given, --gpus, a CDI device, a CUDA image (which sets the variable in its ENV): no missing variable
        "docker run -d --runtime=nvidia -e NVIDIA_VISIBLE_DEVICES=all emby/embyserver:latest\n",
        "docker run -d --runtime=nvidia -e 'NVIDIA_VISIBLE_DEVICES'='GPU-201c0321-0f64-c185-4e78-ded96ed40231' jellyfin/jellyfin\n",
        "docker run --rm --runtime=nvidia --gpus all ubuntu nvidia-smi\n",
        "podman run --rm --runtime=nvidia --device nvidia.com/gpu=all ubuntu nvidia-smi\n",
        "docker run --rm --runtime=nvidia nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n",
        "docker run --rm --runtime=nvidia nvcr.io/nvidia/pytorch:24.05-py3 nvidia-smi\n",
        "docker run --rm --runtime=nvidia tensorflow/tensorflow:latest-gpu nvidia-smi\n",
        "docker run --rm --runtime=nvidia pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime nvidia-smi\n",
        # not a command: prose and a compose key
        "I started it with --runtime=nvidia as the docs say.\n",
        "    runtime: nvidia\n",
    ],
)
def test_runtime_nvidia_look_alikes_stay_clean(tmp_path: Path, run: str) -> None:
    _guarded("docker.runtime-nvidia-no-visible-devices")
    assert _NVD not in _all(tmp_path, run + _NO_GPU["exec"])


# --- nvidia.mps-user-mismatch ----------------------------------------------------------------------------------------

_MPS = "nvidia.mps-user-mismatch"


def _control(*events: str) -> str:
    return "".join(f"[2025-03-04 10:00:{i:02d}.100 Control  4100] {e}\n" for i, e in enumerate(events))


@pytest.mark.parametrize(
    "text",
    [
        _control(
            "Accepting connection...",
            "NEW CLIENT 4200 from user 1000: Server is not ready, push client to pending list",
            "Starting new server 4201 for user 1000",
            "NEW SERVER 4201: Ready",
            "NEW CLIENT 4300 from user 0: Server is not ready, push client to pending list",
        ),
        _control(  # the container (root) came first, the host's user after it
            "Starting new server 4201 for user 0",
            "NEW CLIENT 4400 from user 1001: Server is not ready, push client to pending list",
        ),
    ],
)
def test_mps_clients_of_two_users_name_the_mismatch(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_MPS, "suggests"), got


def test_an_mps_log_of_one_user_stays_clean(tmp_path: Path) -> None:
    _guarded("mps-client-user")
    text = _control(
        "NEW CLIENT 4200 from user 1000: Server is not ready, push client to pending list",
        "Starting new server 4201 for user 1000",
        "NEW CLIENT 4210 from user 1000: Server already exists",
        "Server 4201 exited with status 0",
    )
    assert _MPS not in _all(tmp_path, text)


# --- nvidia.mig-enabled-no-instances ---------------------------------------------------------------------------------

_MIG = "nvidia.mig-enabled-no-instances"
_ROW = "|  No MIG devices found                                                       |\n"
_SLURM = (
    "slurmd: fatal: MIG mode is enabled, but no MIG devices were found. Please either create MIG instances, disable MIG "
    "mode, remove AutoDetect=nvml, or remove GPUs from the configuration completely.\n"
)


def test_slurms_refusal_proves_mig_without_instances(tmp_path: Path) -> None:
    got = _findings(tmp_path, "slurmd: debug2:     MIG count: 0\n" + _SLURM)
    assert got and got[0] == (_MIG, "proves"), got


@pytest.mark.parametrize(
    "no_device",
    [
        "RuntimeError: CUDA error: no CUDA-capable device is detected\n",
        "RuntimeError: No CUDA GPUs are available\n",
        "CUDA driver initialization failed, you might not have a CUDA gpu.\n",
    ],
)
def test_no_mig_devices_beside_cuda_finding_none_names_mig_first(tmp_path: Path, no_device: str) -> None:
    table = (
        "+-----------------------------------------------------------------------------+\n"
        "| MIG devices:                                                                |\n"
        "+==================+======================+===========+=======================+\n" + _ROW
    )
    got = _findings(tmp_path, table + no_device)
    assert got and got[0] == (_MIG, "suggests"), got


def test_the_row_alone_is_a_note(tmp_path: Path) -> None:
    text = _ROW + "Epoch 3/3: loss 0.12\n"
    assert _MIG not in [c for c, _ in _findings(tmp_path, text)]
    assert any("No MIG device" in n or "no MIG device" in n for n in _notes(tmp_path, text)), _notes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        'log_error "No MIG devices found. Make sure MIG is enabled and partitions are created."\n',
        '        pytest.skip("No MIG devices found")\n',
        "nvidia-smi -L | grep -i mig || echo \"No MIG devices found\"\n",
    ],
)
def test_mig_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("nvidia-smi.no-mig-devices-row")
    assert _MIG not in _all(tmp_path, text + "RuntimeError: CUDA error: no CUDA-capable device is detected\n")


# --- fs.home-unwritable-arbitrary-uid: numba's cache locator ---------------------------------------------------------

_HOME = "fs.home-unwritable-arbitrary-uid"


@pytest.mark.parametrize(
    "line",
    [
        "RuntimeError: cannot cache function 'create_fsm_info': no locator available for file '/usr/local/lib/python3.10/dist-packages/outlines/fsm/regex.py'\n",
        "RuntimeError: cannot cache function '_shear_dense': no locator available for file '/opt/conda/lib/python3.11/site-packages/librosa/core/audio.py'\n",
    ],
)
def test_numbas_missing_cache_locator_names_the_unwritable_home(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (_HOME, "suggests"), got


@pytest.mark.parametrize(
    "line",
    [
        # an IPython cell and a zipped egg: other failures of the same text
        "RuntimeError: cannot cache function 'func': no locator available for file '/tmp/ipykernel_9751/3025015800.py'\n",
        "RuntimeError: cannot cache function 'f': no locator available for file '<ipython-input-3-5a1c>'\n",
        "RuntimeError: cannot cache function 'foo': no locator available for file '/home/u/.local/lib/python3.6/site-packages/pkg-1.0-py3.6.egg/pkg/mod.py'\n",
        # numba's own warning about a function it cannot cache (lifted code), not a locator
        "NumbaWarning: Cannot cache compiled function \"step\" as it uses lifted code\n",
    ],
)
def test_numba_look_alikes_stay_clean(tmp_path: Path, line: str) -> None:
    _guarded("numba.cache-no-locator")
    assert _HOME not in _all(tmp_path, line)


# --- cuda.driver-too-old: Omniverse Kit's driver floor -----------------------------------------------------------------

_OLD = "cuda.driver-too-old"


def test_omniverses_minimum_driver_names_the_host_driver(tmp_path: Path) -> None:
    text = (
        "2025-01-01T10:00:00Z [8,385ms] [Error] [gpu.foundation.plugin] The currently installed NVIDIA graphics driver "
        "is unsupported or has known issues.\n\nReason for failure: The minimum Omniverse RTX requirement on Linux\n"
        "Installed driver: 535.54\nThe unsupported driver range: [0.0, 535.129)\n\n"
        "2025-01-01T10:00:00Z [8,385ms] [Error] [carb.scenerenderer-rtx.plugin] rtx driver verification failed.\n"
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_OLD, "proves"), got


def test_a_known_issues_driver_is_not_too_old(tmp_path: Path) -> None:
    _guarded("omniverse.rtx-driver-below-minimum")
    text = (
        "[Error] [gpu.foundation.plugin] The currently installed NVIDIA graphics driver is unsupported or has known "
        "issues.\nThe latest driver version may also work but is not fully tested.\n"
    )
    assert _OLD not in _all(tmp_path, text)
