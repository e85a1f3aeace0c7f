"""Issue 13, heldout33 lessons (glearn33b): the identity and storage side of containers, and other accelerators.

Lines are written from the code that prints them (not copied from the heldout33 logs):
- a UID with no passwd entry (OpenShift's random UID, a --user the image does not know): CPython's pwd module
  (Modules/pwdmodule.c 'getpwuid(): uid not found: %S', the bare 1.x form), getpass.getuser's 3.13+ OSError
  ('No username set in the environment'), libuv's uv_os_get_passwd ENOENT (node's os.userInfo);
- HOME=/ then leaves every cache at the root: the permission error on '/.cache' retold without the errno bracket,
  and coreutils mkdir's 'cannot create directory %s' for it;
- the scheduler's 'Insufficient <resource>' for other accelerators' extended resources (AWS Neuron, Huawei Ascend,
  GKE TPU, Cambricon) and the kubelet's 'Node didn't have enough resource: %s';
- a read-only /dev/shm: glibc's sem_open (the semaphore is a file under /dev/shm) failing with EROFS in perror's
  form, the mount table's 'ro', and the words of a report;
- libtpu / XLA finding no TPU chip ('No jellyfish device found', 'INVALID_ARGUMENT: No TPU devices found'): no
  /dev/accel* or /dev/vfio in the container; 'Failed to get global TPU topology' stays out (other causes too).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import causes as _causes
from explain_helpers import findings as _findings

UID = "fs.home-unwritable-arbitrary-uid"

GETUSER_FRAMES = (
    'File "/usr/local/lib/python3.12/dist-packages/torch/_inductor/runtime/cache_dir_utils.py", line 23, in default_cache_dir\n'
    "    sanitized_username = re.sub(r'[\\\\/:*?\"<>|]', \"_\", getpass.getuser())\n"
    '  File "/usr/lib/python3.12/getpass.py", line 169, in getuser\n'
    "    return pwd.getpwuid(os.getuid())[0]\n"
)


# --- a UID with no passwd entry ---
@pytest.mark.parametrize(
    "text",
    [
        # CPython 3.x: '%S' of the uid object
        GETUSER_FRAMES + "KeyError: 'getpwuid(): uid not found: 1000680000'\n",
        # the bare 1.x form (also what an unconvertible uid printed)
        "KeyError: 'getpwuid(): uid not found'\n",
        # torch.compile wraps it
        "torch._inductor.exc.InductorError: KeyError: 'getpwuid(): uid not found: 1001'\n",
        # the vLLM registry subprocess re-raised in the parent
        "subprocess.CalledProcessError: Command '['/usr/bin/python3', '-m', 'vllm.model_executor.models.registry']' "
        "returned non-zero exit status 1.\n" + GETUSER_FRAMES + "KeyError: 'getpwuid(): uid not found: 1000910000'\n",
        # Python 3.13+: getpass.getuser wraps the KeyError
        GETUSER_FRAMES.replace("line 169", "line 173") + "OSError: No username set in the environment\n",
        # node's os.userInfo()
        "SystemError [ERR_SYSTEM_ERROR]: A system error occurred: uv_os_get_passwd returned ENOENT (no such file or directory)\n",
    ],
)
def test_uid_without_passwd_entry_is_the_arbitrary_uid(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [(UID, "suggests")]


def test_whoami_alone_stays_clean_but_getuser_names_it(tmp_path: Path) -> None:
    # entrypoints print coreutils' whoami/id failure and carry on: only the exception names the cause
    whoami = "whoami: cannot find name for user ID 1000680000\nINFO 06-03 10:00:00 [api_server.py:1100] Starting vLLM API server\n"
    assert _causes(tmp_path, whoami) == []
    assert _causes(tmp_path, whoami + "KeyError: 'getpwuid(): uid not found: 1000680000'\n")[:1] == [UID]


# --- HOME=/ : a cache directory directly under / ---
@pytest.mark.parametrize(
    "line",
    [
        "PermissionError: [error 13] Permission denied: '/.cache'",
        "Permission denied: '/.cache/huggingface/hub'",
        "mkdir: cannot create directory '/.cache': Permission denied",
        "mkdir: cannot create directory ‘/.config/vllm’: Permission denied",
        "mkdir: cannot create directory '/.triton': Permission denied",
    ],
)
def test_root_level_cache_dir_retold_is_the_arbitrary_uid(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[:1] == [UID]


def test_cache_dirs_not_at_the_root_stay_clean(tmp_path: Path) -> None:
    assert _causes(tmp_path, "mkdir: cannot create directory '/.cache/vllm': Permission denied\n")[:1] == [UID]
    for line in [
        "mkdir: cannot create directory '/data/.cache': Permission denied",
        "mkdir: cannot create directory '/models': Permission denied",
        "Matplotlib created a temporary cache directory at /tmp/matplotlib-abc because the default path "
        "(/.config/matplotlib) is not a writable directory; Permission denied: '/.config/matplotlib'",
    ]:
        assert UID not in _causes(tmp_path, line + "\n"), line


# --- other accelerators' Kubernetes extended resources ---
K8S = "k8s.gpu-resource-unavailable"


@pytest.mark.parametrize(
    "line",
    [
        "Warning  FailedScheduling  7s  default-scheduler  0/2 nodes are available: 2 Insufficient aws.amazon.com/neuron. "
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
        "0/4 nodes are available: 4 Insufficient aws.amazon.com/neuroncore.",
        "0/3 nodes are available: 3 insufficient aws.amazon.com/neurondevice",
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 Insufficient huawei.com/Ascend910.",
        "0/2 nodes are available: 2 Insufficient huawei.com/Ascend310P.",
        "0/1 nodes are available: 1 Insufficient google.com/tpu.",
        "0/5 nodes are available: 5 Insufficient cambricon.com/mlu.",
        "Pod was rejected: Node didn't have enough resource: aws.amazon.com/neuroncore, requested: 2, used: 0, capacity: 0",
        # the scheduler's answer retold in a report
        'the pod stays Pending and kubectl describe says "1 Insufficient aws.amazon.com/neuron"',
    ],
)
def test_insufficient_accelerator_resource_is_named(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == [K8S]


def test_insufficient_accelerator_then_scheduled_is_a_wait(tmp_path: Path) -> None:
    pending = "Warning  FailedScheduling  40s  default-scheduler  0/3 nodes are available: 3 Insufficient aws.amazon.com/neuron.\n"
    assert _causes(tmp_path, pending) == [K8S]
    placed = pending + "Normal   Scheduled  5s  default-scheduler  Successfully assigned default/neuron-infer-0 to ip-10-0-1-7.ec2.internal\n"
    assert K8S not in _causes(tmp_path, placed)
    # a CPU/memory shortage is not an accelerator's
    assert _causes(tmp_path, "0/3 nodes are available: 3 Insufficient cpu, 3 Insufficient memory.\n") == []
    # the EFA NIC's extended resource is no accelerator either, but its shortage is the same device-plugin failure
    # (heldout51, aws-samples/aws-efa-eks#8: the EFA plugin never started; glearn51a.k8s-insufficient-efa names it)
    assert _causes(tmp_path, "0/3 nodes are available: 3 Insufficient vpc.amazonaws.com/efa.\n") == [K8S]


# --- /dev/shm read-only ---
SHM = "shm.not-writable"


@pytest.mark.parametrize(
    "line",
    [
        # glibc's sem_open in perror's form (and a program naming the semaphore)
        "sem_open: Read-only file system",
        "sem_open failed (/mp-x1): Read-only file system",
        # the mount table: util-linux mount and /proc/mounts
        "shm on /dev/shm type tmpfs (ro,nosuid,nodev,noexec,relatime,size=65536k)",
        "shm /dev/shm tmpfs ro,nosuid,nodev,noexec,relatime,size=65536k 0 0",
        # a report's words
        "/dev is bind-mounted read-only, so /dev/shm is read-only inside the sandbox",
        "the runtime mounts /dev/shm as read-only",
        "creating POSIX semaphores fails with OSError: [Errno 30] Read-only file system",
        "multiprocessing dies with Read-only file system while creating a semaphore",
    ],
)
def test_read_only_dev_shm_is_not_writable(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[:1] == [SHM]


def test_writable_dev_shm_and_other_read_only_paths_stay_clean(tmp_path: Path) -> None:
    assert _causes(tmp_path, "sem_open: Read-only file system\n")[:1] == [SHM]
    for line in [
        "shm on /dev/shm type tmpfs (rw,nosuid,nodev,noexec,relatime,size=65536k)",
        "shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=16777216k 0 0",
        "/dev/shm is not read-only: touch /dev/shm/probe works",
        "OSError: [Errno 30] Read-only file system: '/models/config.json'",
    ]:
        assert SHM not in _causes(tmp_path, line + "\n"), line


# --- a TPU whose chips were not passed into the container ---
@pytest.mark.parametrize(
    "line",
    [
        "RuntimeError: Unable to initialize backend 'tpu': UNKNOWN: TPU initialization failed: No jellyfish device found "
        "(set JAX_PLATFORMS='' to automatically choose an available backend)",
        "I0316 12:51:40.000000  4242 tpu_client.cc:117] TPU platform initialization failed: No jellyfish device found",
        "RuntimeError: Unable to initialize backend 'tpu': INVALID_ARGUMENT: No TPU devices found.",
    ],
)
def test_libtpu_no_device_is_no_device_node(tmp_path: Path, line: str) -> None:
    assert _all(tmp_path, line + "\n")[:1] == ["device.no-gpu"]


def test_tpu_topology_and_user_fallbacks_stay_clean(tmp_path: Path) -> None:
    assert _all(tmp_path, "TPU platform initialization failed: No jellyfish device found\n")[:1] == ["device.no-gpu"]
    for line in [
        # libtpu's topology failure has other causes too (a libtpu/runtime mismatch, an unhealthy slice)
        "RuntimeError: Unable to initialize backend 'tpu': INTERNAL: Failed to get global TPU topology.",
        # a program's own fallback message
        "No TPU devices found, falling back to CPU",
    ]:
        assert "device.no-gpu" not in _all(tmp_path, line + "\n"), line
