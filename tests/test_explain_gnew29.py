"""Issue 13, gnew29: cause ids for container/host causes heldout28's collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- shm.host-symlink-unbound: joblib's probe warning ('%s.  joblib will operate in serial mode', _multiprocessing_helpers.py),
  torch's MapAllocator ('unable to open shared memory object <%s> in read-write mode: %s (%d)'), NCCL's ncclOsShmOpen
  ('Error while %s shared memory segment %s (size %ld), error: %s (%d)'), CPython's SemLock( with a bare ENOENT and
  multiprocessing.shared_memory's '/psm_' name, beside Apptainer/Singularity (its commands, prompt, SIF messages,
  APPTAINER_* environment) or the host's '/dev/shm -> /run/shm' link (nipreps/fmriprep#780, apptainer/singularity#875).
- lsm.apparmor-nested-denied: runc's 'apparmor failed to apply profile: %w' around the write of
  /proc/{self,thread-self}/attr/[apparmor/]exec (v1.0.0 .. v1.5), runc 1.1's 'unable to apply apparmor profile: %w',
  moby's 'AppArmor enabled on system but the %s profile could not be loaded: %s', apparmor_parser's EACCES text
  (AbdBarho/stable-diffusion-webui-docker#682).
- ray.cpus-exceed-allocation: Ray's '[RayletClient] Unable to register worker with raylet. ' and the raylet's
  'Some workers of the worker process(<pid>) have not registered within the timeout. ' beside Slurm or a CPU limit
  (verl docs/faq/faq.rst).
- rocm.wsl-dxg-detection-off: rocminfo's 'WSL environment detected.' (DetectWSLEnvironment: /dev/dxg opened) or an
  ls -l of /dev/dxg beside ROCm finding no GPU, with no trace of librocdxg's own path (ROCm/librocdxg#34).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_LINK = "shm.host-symlink-unbound"
_AA = "lsm.apparmor-nested-denied"
_RAY = "ray.cpus-exceed-allocation"
_DXG = "rocm.wsl-dxg-detection-off"



def test_the_new_signatures_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "apptainer.named", "shm.dev-shm-symlink", "shm.run-shm-enoent", "shm.create-enoent",
        "runc.apparmor-apply-failed", "docker.apparmor-default-not-loaded", "apparmor.parser-load-while-confined",
        "ray.worker-register-failed", "cpu.allocation-limited", "rocminfo.wsl-environment-detected",
        "rocminfo.hsa-init-failed-no-gpu", "wsl.dxg-node-listed", "apptainer-shm-enoent", "shm-symlink-enoent",
        "ray-register-cpu-limit", "ray-register-slurm-job", "wsl-rocminfo-dxg-detection-off",
    ):
        assert sid in got, sid


# --- shm.host-symlink-unbound -------------------------------------------------------------------------------------

_APPTAINER = [
    "$ singularity run --cleanenv /data/images/fmriprep-1.0.0.simg /data/bids /data/out participant\n",
    "$ apptainer exec --nv /scratch/images/pytorch.sif python3 train.py\n",
    "Apptainer> python3 train.py\n",
    "INFO:    Converting SIF file to temporary sandbox...\n",
    "APPTAINER_CONTAINER=/scratch/images/pytorch_24.05.sif\n",
    "We run the pipeline in a Singularity container on our cluster.\n",
]

_ENOENT = [
    # joblib's probe: warnings.warn('%s.  joblib will operate in serial mode' % (e,))
    "/usr/local/miniconda/lib/python3.6/site-packages/joblib/_multiprocessing_helpers.py:46: UserWarning: "
    "[Errno 2] No such file or directory.  joblib will operate in serial mode\n",
    # torch MapAllocator
    "RuntimeError: unable to open shared memory object </torch_4021_2719923716_0> in read-write mode: "
    "No such file or directory (2)\n",
    # NCCL ncclOsShmOpen
    "node01:4021:4102 [0] NCCL WARN Error while creating shared memory segment /dev/shm/nccl-Zx81Qa (size 9637888), "
    "error: No such file or directory (2)\n",
    # multiprocessing.shared_memory
    "FileNotFoundError: [Errno 2] No such file or directory: '/psm_7a1c33e0'\n",
    # SemLock( frame with the bare errno (sem_open -> PyErr_SetFromErrno, no filename)
    '  File "/usr/lib/python3.10/multiprocessing/synchronize.py", line 57, in __init__\n'
    "    sl = self._semlock = _multiprocessing.SemLock(\n"
    "FileNotFoundError: [Errno 2] No such file or directory\n",
]


@pytest.mark.parametrize("ctx", _APPTAINER)
@pytest.mark.parametrize("line", _ENOENT)
def test_shm_enoent_under_apptainer_names_the_dangling_link(tmp_path: Path, ctx: str, line: str) -> None:
    got = _findings(tmp_path, ctx + line)
    assert got and got[0] == (_LINK, "suggests"), got


@pytest.mark.parametrize(
    "ctx",
    [
        "lrwxrwxrwx 1 root root 8 Jan 12  2017 /dev/shm -> /run/shm\n",
        "lrwxrwxrwx   1 root root           8 Mar  2 09:14 shm -> /run/shm\n",
        "/dev/shm: symbolic link to /run/shm\n",
    ],
)
def test_shm_enoent_with_the_host_link_shown_names_it(tmp_path: Path, ctx: str) -> None:
    got = _findings(tmp_path, ctx + _ENOENT[0])
    assert got and got[0] == (_LINK, "suggests"), got


@pytest.mark.parametrize(
    "line",
    [
        "ls: cannot access '/run/shm': No such file or directory\n",
        "FileNotFoundError: [Errno 2] No such file or directory: '/run/shm/sem.mp-k2l9x'\n",
    ],
)
def test_enoent_under_run_shm_names_it_alone(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (_LINK, "suggests"), got


@pytest.mark.parametrize("line", _ENOENT)
def test_shm_enoent_without_apptainer_or_the_link_does_not_name_it(tmp_path: Path, line: str) -> None:
    # the context decides: the same line under Apptainer names it, alone it does not
    assert _LINK in _all(tmp_path, _APPTAINER[0] + line)
    assert _LINK not in _all(tmp_path, line)


@pytest.mark.parametrize("ctx", _APPTAINER[:2])
def test_apptainer_with_other_shm_errors_stays_with_their_ids(tmp_path: Path, ctx: str) -> None:
    # EACCES / ENOSPC are shm.not-writable / shm.too-small, not the dangling link
    got = _all(
        tmp_path,
        ctx + "RuntimeError: unable to open shared memory object </torch_4021_2719923716_0> in read-write mode: "
        "Permission denied (13)\n",
    )
    assert _LINK not in got and "shm.not-writable" in got, got
    assert _LINK in _all(tmp_path, ctx + _ENOENT[0])
    assert _LINK not in _all(tmp_path, ctx + "UserWarning: [Errno 13] Permission denied.  joblib will operate in serial mode\n")


def test_apptainer_alone_and_the_link_alone_name_nothing(tmp_path: Path) -> None:
    assert _findings(tmp_path, "".join(_APPTAINER) + _ENOENT[0])[0][0] == _LINK
    assert _findings(tmp_path, "".join(_APPTAINER)) == []
    assert _findings(tmp_path, "lrwxrwxrwx 1 root root 8 Jan 12  2017 /dev/shm -> /run/shm\n") == []


# --- lsm.apparmor-nested-denied -----------------------------------------------------------------------------------

_AA_LINES = [
    # runc >= 1.2 (/proc/thread-self), docker 25+ wording
    "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime "
    "create failed: runc create failed: unable to start container process: error during container init: apparmor "
    "failed to apply profile: write /proc/thread-self/attr/apparmor/exec: no such file or directory: unknown.\n",
    # runc 1.0 (/proc/self/attr/exec fallback), EACCES
    "ERROR: for webui  Cannot start service webui: OCI runtime create failed: container_linux.go:380: starting "
    "container process caused: apparmor failed to apply profile: write /proc/self/attr/exec: permission denied: "
    "unknown\n",
    # runc 1.1 wrapped in standard_init_linux.go
    "Error: OCI runtime error: runc: runc create failed: unable to start container process: unable to apply apparmor "
    "profile: apparmor failed to apply profile: write /proc/self/attr/apparmor/exec: no such file or directory\n",
    # moby: the docker-default profile cannot be loaded from a confined namespace
    "docker: Error response from daemon: AppArmor enabled on system but the docker-default profile could not be "
    "loaded: running `/usr/sbin/apparmor_parser apparmor_parser -Kr /var/lib/docker/tmp/docker-default2207436712` "
    'failed with output: apparmor_parser: Unable to replace "docker-default".  Permission denied; attempted to load a '
    "profile while confined?\n",
    # apparmor_parser alone
    'apparmor_parser: Unable to replace "docker-default".  Permission denied; attempted to load a profile while '
    "confined?\n",
]


@pytest.mark.parametrize("line", _AA_LINES)
def test_nested_apparmor_lines_name_it(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (_AA, "suggests"), got


def test_docker_default_without_apparmor_parser_is_not_nesting(tmp_path: Path) -> None:
    line = (
        "docker: Error response from daemon: AppArmor enabled on system but the docker-default profile could not be "
        "loaded: running `apparmor_parser apparmor_parser -Kr /var/lib/docker/tmp/docker-default1` failed with "
        'output: error: exec: "apparmor_parser": executable file not found in $PATH\n'
    )
    assert _AA not in _all(tmp_path, line)
    assert _AA in _all(tmp_path, _AA_LINES[3])


def test_apparmor_ptrace_denial_stays_with_its_id(tmp_path: Path) -> None:
    line = (
        'audit: type=1400 audit(1700000000.123:45): apparmor="DENIED" operation="ptrace" profile="docker-default" '
        'pid=4021 comm="python" requested_mask="read" denied_mask="read" peer="docker-default"\n'
    )
    assert _AA not in _all(tmp_path, line)
    assert _AA in _all(tmp_path, line + _AA_LINES[0])


# --- ray.cpus-exceed-allocation -----------------------------------------------------------------------------------

_RAY_FAIL = [
    "[2025-01-10 11:50:22,050 E 31652 31652] core_worker.cc:179: Failed to register worker "
    "01000000ffffffffffffffffffffffffffffffffffffffffffffffff to Raylet. IOError: [RayletClient] Unable to register "
    "worker with raylet. No such file or directory\n",
    "[2025-01-10 11:50:22,050 E 31652 31652] core_worker.cc:514: Failed to register worker to Raylet: IOError: "
    "[RayletClient] Unable to register worker with raylet. Failed to read data from the socket: End of file "
    "worker_id=01000000ffffffffffffffffffffffffffffffffffffffffffffffff\n",
    "[2025-01-10 11:51:01,113 E 31590 31590] (raylet) worker_pool.cc:589: Some workers of the worker process(32011) "
    "have not registered within the timeout. The process is still alive, probably it's hanging during start.\n",
]

_SLURM = [
    "#SBATCH --cpus-per-task=16\n",
    "SLURM_CPUS_ON_NODE=16\n",
    "Submitted batch job 4418120\n",
    "srun: error: gpu-node07: task 0: Exited with exit code 1\n",
    "docker run --gpus all --cpuset-cpus=0-15 verl:latest python3 -m verl.trainer.main_ppo\n",
]


@pytest.mark.parametrize("ctx", _SLURM)
@pytest.mark.parametrize("line", _RAY_FAIL)
def test_worker_registration_under_a_cpu_allocation_names_it(tmp_path: Path, ctx: str, line: str) -> None:
    got = _findings(tmp_path, ctx + line)
    assert got and got[0] == (_RAY, "suggests"), got


@pytest.mark.parametrize("line", _RAY_FAIL)
def test_worker_registration_alone_does_not_name_it(tmp_path: Path, line: str) -> None:
    # a raylet that died, a port clash or a slow runtime env fail the same way
    assert _RAY not in _all(tmp_path, line)
    assert _RAY in _all(tmp_path, _SLURM[0] + line)


def test_slurm_alone_names_nothing(tmp_path: Path) -> None:
    assert _findings(tmp_path, "".join(_SLURM)) == []
    assert _findings(tmp_path, "".join(_SLURM) + _RAY_FAIL[0])[0][0] == _RAY


# --- rocm.wsl-dxg-detection-off -----------------------------------------------------------------------------------

_ROCM_NONE = [
    "hsa_init Failed, possibly no supported GPU devices\n",
    # rocminfo before ROCm 7 (RET_IF_HSA_ERR)
    "hsa api call failure at: /long_pathname_so_that_rpms_can_package_the_debug_info/src/rocminfo/rocminfo.cc:1306\n"
    "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed to allocate the necessary resources. This "
    "error may also occur when the core runtime library needs to spawn threads or create internal OS-specific events.\n",
    "RuntimeError: No HIP GPUs are available\n",
]


@pytest.mark.parametrize("line", _ROCM_NONE)
def test_rocminfo_wsl_line_and_no_gpu_names_dxg_detection(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, "WSL environment detected.\n" + line)
    assert got and got[0] == (_DXG, "suggests"), got
    assert "device.dxg-missing" not in [c for c, _ in got]


def test_dxg_listed_under_the_wsl_kernel_names_dxg_detection(tmp_path: Path) -> None:
    text = (
        "Linux DESKTOP-7Q2 6.6.87.2-microsoft-standard-WSL2 #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux\n"
        "crw-rw-rw- 1 root root 10, 125 Dec  4 09:12 /dev/dxg\n"
        "RuntimeError: No HIP GPUs are available\n"
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_DXG, "suggests"), got


@pytest.mark.parametrize(
    "extra",
    [
        # librocdxg's own path ran and found no adapter: the variable was set (an unsupported GPU/driver)
        "pid:568752 tid:0x7c44f5aeb100 [topology_sysfs_get_system_props] No WDDM adapters found.\n",
        "Cannot load librocdxg.so\n",
        "export HSA_ENABLE_DXG_DETECTION=1\n",
    ],
)
def test_dxg_path_taken_is_not_detection_off(tmp_path: Path, extra: str) -> None:
    text = "WSL environment detected.\n" + extra + "hsa_init Failed, possibly no supported GPU devices\n"
    assert _DXG not in _all(tmp_path, text)
    assert _DXG in _all(tmp_path, text.replace(extra, ""))


def test_wsl_line_alone_and_nvidia_wsl_are_not_it(tmp_path: Path) -> None:
    assert _findings(tmp_path, "WSL environment detected.\n") == []
    assert _DXG in _all(tmp_path, "WSL environment detected.\nRuntimeError: No HIP GPUs are available\n")
    got = _all(tmp_path, "nvidia-container-cli: initialization error: WSL environment detected but no adapters were found: unknown.\n")
    assert _DXG not in got


def test_missing_dxg_under_wsl_stays_dxg_missing(tmp_path: Path) -> None:
    text = (
        "Linux 5.15.153.1-microsoft-standard-WSL2\n"
        "ls: cannot access '/dev/dxg': No such file or directory\n"
        "RuntimeError: No HIP GPUs are available\n"
    )
    got = _all(tmp_path, text)
    assert got and got[0] == "device.dxg-missing" and _DXG not in got, got
    listed = text.replace("ls: cannot access '/dev/dxg': No such file or directory", "crw-rw-rw- 1 root root 10, 125 Dec  4 09:12 /dev/dxg")
    assert _all(tmp_path, listed)[0] == _DXG
