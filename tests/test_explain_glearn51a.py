"""Issue 13, heldout51 lessons (glearn51a).

Lines are written from the code that prints them (not copied from the heldout51 logs):
- torch's JIT extension cache under a shared temp directory (torch/utils/cpp_extension.py _get_build_directory's
  os.makedirs, file_baton.py's lock, tempfile.gettempdir(): TMPDIR first) in the forms an issue retells it;
- nvidia-container-toolkit 1.12-1.14's library locator ('error loading ldcache: %v' around os.Open of
  <driver root>/etc/ld.so.cache), reached by the graphics capability; 1.15+'s warnings stay clean;
- the scheduler's 'Insufficient vpc.amazonaws.com/efa' (fit.go: the pod requests it, no node advertises it): the EFA
  device plugin, not /dev/infiniband missing in a running pod;
- filelock's flock ENOSYS (raw OSError under fcntl.flock, NotImplementedError 'user/use SoftFileLock instead') in a
  Hugging Face run; the hub's and filelock's own fall-back warnings stay clean.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings

# --- torch extensions / Triton / Inductor cache under a shared temp dir --------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # os.makedirs of the build directory, retold without the space after the colon
        "PermissionError: [Errno 13] Permission denied:'/tmp/torch_extensions/upfirdn2d'",
        # TMPDIR on a shared scratch space (tempfile.gettempdir() reads TMPDIR first)
        "PermissionError: [Errno 13] Permission denied: '/scratch/tmp/torch_extensions/fused_bias_act'",
        # FileBaton's lock file, TMPDIR=/temp, in a paraphrase with double quotes
        'I get errno 13 Permission denied: "/temp/torch_extensions/cpp_lstm/lock" every time',
        # the ninja file written into the build directory
        "PermissionError: [Errno 13] Permission denied: '/local/TMP/torch_extensions/my_ops/build.ninja'",
        # TorchInductor's per-name directory under a TMPDIR
        "PermissionError: [Errno 13] Permission denied: '/scratch/tmp/torchinductor_root/fx_graph_cache'",
    ],
)
def test_jit_cache_in_a_shared_temp_dir_denied_is_another_owner(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[:1] == ["fs.jit-cache-other-owner"]


@pytest.mark.parametrize(
    ("clean", "named"),
    [
        # a HOME cache is the home directory's problem, not a shared temp dir
        (
            "PermissionError: [Errno 13] Permission denied: '/root/.cache/torch_extensions/py310_cu121/fused_adam'",
            "PermissionError: [Errno 13] Permission denied: '/scratch/tmp/torch_extensions/py310_cu121/fused_adam'",
        ),
        # an explicit TORCH_EXTENSIONS_DIR on a project volume: no temp dir, no owner to name
        (
            "PermissionError: [Errno 13] Permission denied: '/workspace/torch_extensions/fused'",
            "PermissionError: [Errno 13] Permission denied: '/workspace/tmp/torch_extensions/fused'",
        ),
        # a temp dir named, but the cache is not its child
        (
            "PermissionError: [Errno 13] Permission denied: '/tmp/outputs/torch_extensions_notes.txt'",
            "PermissionError: [Errno 13] Permission denied:'/tmp/torch_extensions/notes'",
        ),
        # torch's healthy verbose lines
        ("Using /temp/torch_extensions as PyTorch extensions root...", "Permission denied: '/temp/torch_extensions'"),
        (
            "Emitting ninja build file /temp/torch_extensions/fused/build.ninja...",
            "Permission denied: '/temp/torch_extensions/fused/build.ninja'",
        ),
    ],
)
def test_jit_cache_neighbours_stay_clean(tmp_path: Path, clean: str, named: str) -> None:
    assert "fs.jit-cache-other-owner" not in _causes(tmp_path, clean + "\n")
    assert _causes(tmp_path, named + "\n")[:1] == ["fs.jit-cache-other-owner"]


# --- nvidia-container-toolkit 1.12-1.14: the host's ld cache ------------------------------------------------------

CHAIN = (
    "docker: Error response from daemon: failed to create task for container: failed to create shim task: "
    "OCI runtime create failed: failed to create NVIDIA Container Runtime: failed to construct OCI spec modifier: "
    "failed to construct discoverer: failed to create mounts discoverer: failed to construct library locator: "
    "error loading ldcache: {err}: unknown."
)


@pytest.mark.parametrize(
    "text",
    [
        CHAIN.format(err="open /etc/ld.so.cache: no such file or directory"),
        CHAIN.format(err="invalid ld.so.cache file"),
        # containerd's event, the Go chain broken at each ': ' when pasted
        "failed to create containerd task:\nfailed to create shim task:\nOCI runtime create failed:\n"
        "failed to construct library locator:\nerror loading ldcache:\n"
        "open /etc/ld.so.cache: no such file or directory: unknown\n",
    ],
)
def test_toolkit_library_locator_without_host_ld_cache(tmp_path: Path, text: str) -> None:
    got = _causes(tmp_path, text + "\n")
    assert got[:1] == ["nvidia.toolkit-ldconfig-wrong"]


def test_toolkit_library_locator_under_a_driver_root_names_the_root(tmp_path: Path) -> None:
    text = CHAIN.format(err="open /run/nvidia/driver/etc/ld.so.cache: no such file or directory")
    assert _causes(tmp_path, text + "\n")[:1] == ["nvidia.toolkit-driver-root-wrong"]


@pytest.mark.parametrize(
    "clean",
    [
        # 1.15-1.16 and 1.17+ warn and go on: the container starts
        'time="2024-06-01T10:00:00Z" level=warning msg="Could not find ld.so.cache at /etc/ld.so.cache; creating empty cache"',
        'time="2025-02-01T10:00:00Z" level=warning msg="Failed to load ldcache: open /etc/ld.so.cache: no such file or directory"',
        # ldconfig writing the image's own cache, and a program reading it
        "ldconfig: Can't create temporary cache file /etc/ld.so.cache~: Read-only file system",
        'openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3',
    ],
)
def test_toolkit_ldcache_warnings_and_healthy_lines_stay_clean(tmp_path: Path, clean: str) -> None:
    got = _causes(tmp_path, clean + "\n")
    assert "nvidia.toolkit-ldconfig-wrong" not in got
    assert "nvidia.toolkit-driver-root-wrong" not in got
    # the 1.12-1.14 error of the same open stops the container
    fatal = 'level=error msg="error loading ldcache: open /etc/ld.so.cache: no such file or directory"'
    assert _causes(tmp_path, clean + "\n" + fatal + "\n")[:1] == ["nvidia.toolkit-ldconfig-wrong"]


# --- AWS EFA: the scheduler's Insufficient line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Warning  FailedScheduling  3m (x4 over 9m)  default-scheduler  0/8 nodes are available: 8 Insufficient "
        "vpc.amazonaws.com/efa. preemption: 0/8 nodes are available: 8 No preemption victims found for incoming pod.",
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 Insufficient vpc.amazonaws.com/efa.",
        # k9s / Lens lower-case the reason
        "0/2 nodes are available: 2 insufficient vpc.amazonaws.com/efa.",
        # the kubelet's admission
        "Pod was rejected: Node didn't have enough resource: vpc.amazonaws.com/efa, requested: 32, used: 0, capacity: 0",
    ],
)
def test_insufficient_efa_is_the_resource_not_advertised(tmp_path: Path, line: str) -> None:
    got = _causes(tmp_path, line + "\n")
    assert got[:1] == ["k8s.gpu-resource-unavailable"]
    assert "rdma.ib-device-missing" not in got


def test_efa_wait_then_scheduled_is_a_wait(tmp_path: Path) -> None:
    waiting = (
        "    resources:\n      limits:\n        vpc.amazonaws.com/efa: 4\n        nvidia.com/gpu: 8\n"
        "Warning  FailedScheduling  40s  default-scheduler  0/2 nodes are available: 2 Insufficient vpc.amazonaws.com/efa.\n"
    )
    assert _causes(tmp_path, waiting)[:1] == ["k8s.gpu-resource-unavailable"]
    placed = "Normal   Scheduled  5s  default-scheduler  Successfully assigned default/train-0 to ip-10-0-1-7.ec2.internal\n"
    assert _causes(tmp_path, waiting + placed) == []


def test_efa_not_requested_in_words_still_names_the_missing_devices(tmp_path: Path) -> None:
    # prose.efa-not-requested keeps its own pattern; only its loose twin (which read the Insufficient line) is off
    line = "The generated job spec does not request vpc.amazonaws.com/efa: 1 for the workers."
    assert _causes(tmp_path, line + "\n")[:1] == ["rdma.ib-device-missing"]
    # and the scheduler's line, which proves the request, is no longer read as its retelling
    assert _causes(tmp_path, "0/2 nodes are available: 2 Insufficient vpc.amazonaws.com/efa.\n") == [
        "k8s.gpu-resource-unavailable"
    ]


# --- filelock without flock in a Hugging Face run ---------------------------------------------------------------------

HUB = "huggingface-cli download Qwen/Qwen2-7B --local-dir /lustre/models/qwen2\n"
FLOCK_TB = (
    "Traceback (most recent call last):\n"
    '  File "/opt/venv/lib/python3.11/site-packages/filelock/_unix.py", line 44, in _acquire\n'
    "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "OSError: [Errno 38] Function not implemented\n"
)


@pytest.mark.parametrize(
    "text",
    [
        # filelock 3.12.0-3.13.1: the raw ENOSYS, then the NotImplementedError raised from it (typo 'user')
        HUB + FLOCK_TB + "\nThe above exception was the direct cause of the following exception:\n\n"
        "NotImplementedError: FileSystem does not appear to support flock; user SoftFileLock instead\n",
        # 3.13.2+: 'use', the hub's package frames in the traceback
        '  File "/opt/venv/lib/python3.11/site-packages/huggingface_hub/file_download.py", line 1371, in hf_hub_download\n'
        "NotImplementedError: FileSystem does not appear to support flock; use SoftFileLock instead\n",
        # the raw ENOSYS alone under fcntl.flock (a cut paste), the hub called by name
        "path = snapshot_download(repo_id='meta-llama/Llama-3.1-8B', cache_dir='/lustre/hf')\n" + FLOCK_TB,
        # datasets' vendored filelock before 2.x
        "ds = load_dataset('json', data_files='train.jsonl')\n"
        '  File "/usr/lib/python3/site-packages/datasets/utils/filelock.py", line 402, in _acquire\n'
        "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nOSError: [Errno 38] Function not implemented\n",
    ],
)
def test_flock_enosys_in_a_hugging_face_run_is_the_shared_cache_fs(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [("fs.data-cache-shared-fs", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # no Hugging Face library: any program's lock
        FLOCK_TB,
        "NotImplementedError: FileSystem does not appear to support flock; use SoftFileLock instead\n",
        # ENOSYS of another call in a hub run
        HUB + "OSError: [Errno 38] Function not implemented: '/lustre/models/qwen2/.cache'\n",
        HUB + "RuntimeError: pidfd_getfd: Function not implemented\n",
        # the hub's (0.25+) and filelock's (3.24+) own fall-back: the download goes on
        HUB + "WARNING:huggingface_hub.utils._fixes:FileSystem does not appear to support flock. Falling back to "
        "SoftFileLock for /lustre/models/qwen2/.cache/huggingface/download/model.safetensors.lock\n",
        HUB + "/opt/venv/lib/python3.11/site-packages/filelock/_unix.py:85: UserWarning: flock not supported on this "
        "filesystem, falling back to SoftFileLock\n",
    ],
)
def test_flock_lines_without_the_hub_or_with_its_fallback_do_not_name_it(tmp_path: Path, text: str) -> None:
    assert "fs.data-cache-shared-fs" not in _causes(tmp_path, text)
    # the same log with the hub's failed flock in it names the cache's filesystem
    assert "fs.data-cache-shared-fs" in _causes(tmp_path, HUB + text + FLOCK_TB)


# --- why no node advertises it: the device plugin's pod refused by the kubelet -----------------------------------

NONROOT = "Warning  Failed  14s (x6 over 70s)  kubelet  Error: {msg} (pod: \"{pod}_kube-system(5d0e1f2a-0b1c-4d5e-8f90-a1b2c3d4e5f6)\", container: {ctr})"


@pytest.mark.parametrize(
    ("clean", "named"),
    [
        # verifyRunAsNonRoot's three refusals, for a device plugin's pod and for an application's
        (
            NONROOT.format(msg="container has runAsNonRoot and image will run as root", pod="web-7d9f8-x2x4k", ctr="web"),
            NONROOT.format(
                msg="container has runAsNonRoot and image will run as root",
                pod="aws-efa-k8s-device-plugin-daemonset-6k2xq",
                ctr="aws-efa-k8s-device-plugin",
            ),
        ),
        (
            NONROOT.format(
                msg="container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root",
                pod="trainer-0",
                ctr="trainer",
            ),
            NONROOT.format(
                msg="container has runAsNonRoot and image has non-numeric user (root), cannot verify user is non-root",
                pod="nvidia-device-plugin-daemonset-z9c4m",
                ctr="nvidia-device-plugin-ctr",
            ),
        ),
        (
            NONROOT.format(msg="container's runAsUser breaks non-root policy", pod="vllm-0", ctr="vllm"),
            NONROOT.format(
                msg="container's runAsUser breaks non-root policy", pod="neuron-device-plugin-daemonset-q8w2v", ctr="neuron-device-plugin"
            ),
        ),
        # `kubectl get pods -n kube-system`: the EFA plugin's row, running and not
        (
            "kube-system   aws-efa-k8s-device-plugin-daemonset-6k2xq   1/1     Running   0          3m",
            "kube-system   aws-efa-k8s-device-plugin-daemonset-6k2xq   0/1     CreateContainerConfigError   0          3m",
        ),
        (
            "aws-efa-k8s-device-plugin-x7d2p   1/1   Running   2 (5m ago)   1h",
            "aws-efa-k8s-device-plugin-x7d2p   0/1   CrashLoopBackOff   7 (1m ago)   14m",
        ),
    ],
)
def test_device_plugin_pod_refused_is_the_resource_not_advertised(tmp_path: Path, clean: str, named: str) -> None:
    assert "k8s.gpu-resource-unavailable" not in _causes(tmp_path, clean + "\n")
    assert _causes(tmp_path, named + "\n")[:1] == ["k8s.gpu-resource-unavailable"]
