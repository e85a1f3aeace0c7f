"""Issue 13, heldout40 lessons (glearn40b).

Lines are written from the code that prints them (not copied from the heldout40 logs):
- LXD/Incus: forkstart's 'Failed to run: <lxd> forkstart <name> <lxcpath> <conf>' (shared.RunCommand / RunError) with
  security.privileged=true and nvidia.runtime=true set through `lxc config set`; LXD's later refusal 'nvidia.runtime is
  incompatible with privileged containers' (canonical/lxd#9752);
- Proxmox pve-container get_device_mode_and_rdev: '<path> is not a device' for a GPU node the host lacks;
- /dev/accel/accelN EACCES (Intel NPU, Gaudi): the render group / the node's mode;
- a GPU node 0660 with group root, printed by ls -l or retold, is no missing /dev/kfd;
- GPU nodes made world-readable as the workaround (lxc hooks/nvidia + nvidia-container-cli, root:video 0660);
- Julia's fatal-signal line 'signal (7): Bus error' (and the pid / si_code forms) beside a container;
- gRPC's 'pthread_create failed: %s' with EAGAIN; Python's bare "can't start new thread" needs a limit or a container;
- MPICH's 'gethostbyname failed, %s (errno %d)' (errnames.txt) from GetSockInterfaceAddr;
- NCCL's net plugin load failing ('No plugin found', 'Could not find: libnccl-net.so') beside EFA words;
- torch's errno-less 'unable to open shared memory object <..> in read-write mode' names no cause.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

# ---------------------------------------------------------------- LXD / Incus: privileged + nvidia.runtime

FORKSTART = [
    # LXD 3.x snap (shared.RunCommand 'Failed to run: %s %s: %s', stderr empty)
    "Error: Failed to run: /snap/lxd/current/bin/lxd forkstart gpu1 /var/snap/lxd/common/lxd/containers /var/snap/lxd/common/lxd/logs/gpu1/lxc.conf: ",
    # LXD 4.x+ (subprocess RunError 'Failed to run: %s: %s')
    "Error: Failed to run: /usr/bin/lxd forkstart gpu1 /var/lib/lxd/containers /var/log/lxd/gpu1/lxc.conf: exit status 1",
    # Incus
    "Error: Failed to run: /opt/incus/bin/incusd forkstart gpu1 /var/lib/incus/containers /var/log/incus/gpu1/lxc.conf: exit status 1",
]


@pytest.mark.parametrize("line", FORKSTART)
@pytest.mark.parametrize(
    "config",
    [
        "lxc config set gpu1 security.privileged true\nlxc config set gpu1 nvidia.runtime true\n",
        "incus config set gpu1 security.privileged=true\nincus config set gpu1 nvidia.runtime=true\n",
        "lxc launch ubuntu:22.04 gpu1 -c security.privileged=true -c nvidia.runtime=true\n",
    ],
)
def test_forkstart_failure_in_a_privileged_nvidia_runtime_container(tmp_path: Path, line: str, config: str) -> None:
    assert _causes(tmp_path, config + "lxc restart gpu1\n" + line + "\n")[:1] == ["lxc.privileged-nvidia-hook"]
    # neighbours: the config lines alone; the failure alone, unprivileged, or privileged without the NVIDIA runtime
    assert _causes(tmp_path, config + "lxc start gpu1\n") == []
    assert "lxc.privileged-nvidia-hook" not in _causes(tmp_path, line + "\n")
    text = "lxc config set gpu1 nvidia.runtime true\nlxc config set gpu1 security.privileged false\n" + line + "\n"
    assert "lxc.privileged-nvidia-hook" not in _causes(tmp_path, text)
    # privileged without the NVIDIA runtime: the hook is not involved
    text = "lxc config set gpu1 security.privileged true\n" + line + "\n"
    assert "lxc.privileged-nvidia-hook" not in _causes(tmp_path, text)


def test_lxd_refuses_nvidia_runtime_on_privileged(tmp_path: Path) -> None:
    line = "Error: nvidia.runtime is incompatible with privileged containers\n"
    assert _findings(tmp_path, line)[:1] == [("lxc.privileged-nvidia-hook", "proves")]


# ---------------------------------------------------------------- Proxmox: a passed GPU node the host lacks


@pytest.mark.parametrize(
    "line",
    [
        "/dev/dri/renderD128 is not a device",
        "startup for container '112' failed: /dev/dri/card1 is not a device",
        "`/dev/nvidia-uvm is not a device`",
        "/dev/kfd is not a device",
    ],
)
def test_proxmox_passthrough_path_not_a_device(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[:1] == ["device.host-node-absent"]
    # neighbours: other paths, other words
    for other in ("/dev/sdb1 is not a device", "mount: /mnt/data: /dev/loop7 is not a device", "This is not a device accuracy result."):
        assert "device.host-node-absent" not in _causes(tmp_path, other + "\n")


# ---------------------------------------------------------------- /dev/accel EACCES (Intel NPU, Gaudi)


@pytest.mark.parametrize(
    "line",
    [
        "[ERROR] Failed to open file '/dev/accel/accel0': Permission denied",
        "open /dev/accel/accel2: permission denied",
        "PermissionError: [Errno 13] Permission denied: '/dev/accel/accel0'",
    ],
)
def test_accel_node_eacces_is_the_group(tmp_path: Path, line: str) -> None:
    got = _causes(tmp_path, line + "\n")
    assert got[:1] == ["device.group-denied"]
    # neighbour: the node listed with its render group, no error
    text = "crw-rw---- 1 root render 261, 0 Mar  3 09:12 /dev/accel/accel0\nls -l /dev/accel/accel0\n"
    assert _causes(tmp_path, text) == []


# ---------------------------------------------------------------- a GPU node with group root, 0660


@pytest.mark.parametrize(
    "line",
    [
        "crw-rw---- 1 root root 235, 0 Mar  3 09:12 /dev/kfd",
        "crw-rw----  1 root root 226, 128 Mar  3 09:12 renderD128",
        "after every reboot, `/dev/kfd` resets to `root:root` (mode 0660), so the service user cannot open it",
        "- `/dev/kfd` = `crw-rw---- root root` after boot",
    ],
)
def test_root_group_node_beside_no_rocm_device_is_the_group(tmp_path: Path, line: str) -> None:
    text = line + "\nggml_cuda_init: failed to initialize ROCm: no ROCm-capable device is detected\n"
    got = _causes(tmp_path, text)
    assert got[:1] == ["device.group-denied"]
    assert "device.kfd-missing" not in got
    # neighbours: nodes with the render/video group are healthy
    for ok in ("crw-rw---- 1 root render 235, 0 Mar  3 09:12 /dev/kfd", "crw-rw---- 1 root video 226, 0 Mar  3 09:12 card0"):
        assert _causes(tmp_path, ok + "\n") == []


# ---------------------------------------------------------------- nodes made world-readable as the workaround


@pytest.mark.parametrize(
    "line",
    [
        "GPU works inside the container as long as I `chmod 666 /dev/nvidia*` on the host.",
        "As a workaround, chmod a+rw /dev/dri/renderD128 makes it work",
        "sudo chmod 666 /dev/kfd fixed it",
    ],
)
def test_world_rw_workaround_names_the_group(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[:1] == ["device.group-denied"]
    # neighbour: a setup script's step, nothing about it working or not
    assert _causes(tmp_path, "chmod 666 /dev/nvidia*\nchmod 666 /dev/dri/renderD128\n") == []


# ---------------------------------------------------------------- Julia SIGBUS (SharedArray in /dev/shm)


@pytest.mark.parametrize("line", ["signal (7): Bus error", "[4712] signal (7.2): Bus error", "[4712] signal 7 (2): Bus error"])
def test_julia_bus_error_in_a_container_suggests_small_shm(tmp_path: Path, line: str) -> None:
    text = "running the Distributed workers in the docker container\n\n" + line + "\nrun_work_thunk at ./multi.jl:1001\n"
    assert _findings(tmp_path, text)[:1] == [("shm.too-small", "suggests")]
    # neighbour: another fatal signal in the same container is no /dev/shm
    assert "shm.too-small" not in _causes(tmp_path, "in the docker container\n[4712] signal (11.1): Segmentation fault\n")


def test_julia_bus_error_alone_is_a_note(tmp_path: Path) -> None:
    text = "signal (7): Bus error\nin expression starting at /home/u/run.jl:12\n"
    assert _causes(tmp_path, text) == []
    assert any("SIGBUS" in n for n in _notes(tmp_path, text))


# ---------------------------------------------------------------- thread creation: gRPC EAGAIN, Python's bare form


@pytest.mark.parametrize(
    "line",
    [
        "E0312 10:00:01.123456789 991 thd.cc:157]                           pthread_create failed: Resource temporarily unavailable",
        "E0312 10:00:01.123456789 991 thd_posix.cc:140] pthread_create failed: Resource temporarily unavailable",
    ],
)
def test_grpc_pthread_create_eagain_suggests_the_task_limit(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[:1] == [("limits.pids-exhausted", "suggests")]
    text = "max user processes              (-u) 4096\n" + line + "\n"
    assert _findings(tmp_path, text)[:1] == [("limits.pids-exhausted", "proves")]
    # neighbour: another errno is no task limit
    other = "E0312 10:00:01.123456789 991 thd.cc:157] pthread_create failed: Invalid argument\n"
    assert "limits.pids-exhausted" not in _causes(tmp_path, other)


def test_python_cant_start_new_thread_alone_is_a_note(tmp_path: Path) -> None:
    # a program that starts threads without bound fails the same way (ParlAI#1898): no limit in the log, no cause
    text = "RuntimeError: can't start new thread\n"
    assert _causes(tmp_path, text) == []
    assert any("could not start a thread" in n for n in _notes(tmp_path, text))
    # with a task limit or a container runtime in the log the limit is still named
    for context in (
        "docker run --pids-limit 512 --gpus all img python train.py\n",
        "docker run --gpus all img python train.py\n",
        "max user processes              (-u) 256\n",
    ):
        assert _causes(tmp_path, context + text)[:1] == ["limits.pids-exhausted"]


# ---------------------------------------------------------------- MPICH: the node's own name does not resolve


@pytest.mark.parametrize(
    "line",
    [
        "GetSockInterfaceAddr(370)..........: gethostbyname failed, macbook-pro.local (errno 0)",
        "GetSockInterfaceAddr(351): gethostbyname failed, worker-3 (errno 1)",
        "MPID_nem_tcp_get_business_card(397): gethostbyname failed, node7 (errno 1)",
    ],
)
def test_mpich_gethostbyname_failed(tmp_path: Path, line: str) -> None:
    text = "Fatal error in internal_Init_thread: Other MPI error, error stack:\n" + line + "\n"
    assert _causes(tmp_path, text)[:1] == ["network.peer-name-unresolved"]


# ---------------------------------------------------------------- NCCL's net plugin missing on an EFA host

PLUGIN_FORMS = [
    "ip-10-0-0-5:201:201 [0] NCCL INFO NET/Plugin : No plugin found (libnccl-net.so), using internal implementation",  # 2.12
    "ip-10-0-0-5:201:201 [0] NCCL INFO NET/Plugin : No plugin found, using internal implementation",  # 2.18
    "ip-10-0-0-5:201:201 [0] NCCL INFO NET/Plugin : dlerror=libnccl-net.so: cannot open shared object file: No such file or directory No plugin found (libnccl-net.so), using internal implementation",  # 2.19
    "ip-10-0-0-5:201:201 [0] NCCL INFO NET/Plugin: No plugin found (libnccl-net.so)",  # 2.21
    "ip-10-0-0-5:201:201 [0] NCCL INFO NET/Plugin: Could not find: libnccl-net.so libnccl-net-ofi.so. Using internal network plugin.",  # 2.23
    "ip-10-0-0-5:201:201 [0] NCCL INFO NET/Plugin: Could not find: libnccl-net.so. ",  # 2.27
]


@pytest.mark.parametrize("line", PLUGIN_FORMS)
def test_net_plugin_missing_on_efa_host_is_the_socket_fallback(tmp_path: Path, line: str) -> None:
    text = "export FI_PROVIDER=efa\n" + line + "\nip-10-0-0-5:201:201 [0] NCCL INFO Using network Socket\n"
    assert _causes(tmp_path, text)[:1] == ["network.socket-fallback"]
    # neighbour: the plugin is there and does not load (libfabric too old for it): not a missing plugin
    mismatch = (
        "[0] NCCL INFO NET/Plugin : dlerror=/opt/amazon/efa/lib/libfabric.so.1: version `FABRIC_1.7' not found "
        "(required by /opt/conda/lib/libnccl-net.so) No plugin found (libnccl-net.so), using internal implementation\n"
    )
    assert "network.socket-fallback" not in _causes(tmp_path, mismatch)
    # neighbour: every NCCL_DEBUG=INFO run without a plugin prints it: on IB or one node that is healthy
    text = line + "\nhost:201:201 [0] NCCL INFO Using network IB\n"
    assert _causes(tmp_path, text) == []


def test_socket_fallback_retold(tmp_path: Path) -> None:
    line = "On these EFA instances NCCL does not load the OFI plugin and falls back to its socket transport between nodes.\n"
    assert _causes(tmp_path, line)[:1] == ["network.socket-fallback"]


# ---------------------------------------------------------------- torch's errno-less shared-memory open failure


def test_torch_shm_object_without_errno_names_no_cause(tmp_path: Path) -> None:
    line = "RuntimeError: unable to open shared memory object </torch_5120_77145233> in read-write mode\n"
    assert _causes(tmp_path, line) == []
    # the errno forms keep their causes: EACCES / EROFS is /dev/shm not writable
    for errno_text in ("Permission denied (13)", "Read-only file system (30)"):
        assert _causes(tmp_path, line.rstrip("\n") + f": {errno_text}\n")[:1] == ["shm.not-writable"]
