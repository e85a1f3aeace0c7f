"""Issue 13, heldout25 lessons (glearn25a): RDMA / GPUDirect / UCX / peer access / NVLink fabric / shared memory.

Lines are written from the format strings of the code that prints them (not copied from the heldout25 logs), each
case paired with a neighbour that must stay clean:

- GDRCopy's /dev/gdrdrv absent (coreutils ls / stat / open, Python OSError), UCX's gdr_copy md ("failed to open gdr
  copy") and NVSHMEM's GDRCopy loader ("GDRCopy open call failed, disabling GDRCopy.", a note on one node);
- nvidia-peermem failing to load: kmod modprobe/insmod, systemd-modules-load, the kernel module loader ("disagrees
  about version of symbol", "Unknown symbol ... (err N)") and the GPU Operator's peermem container; no longer read as
  the NVIDIA GPU driver failing (device.no-driver);
- UCX's ib md / rdmacm CM opening a device whose node is not in the container (ENOENT only);
- JUCX's worker creation refused for resources (UcpWorker.createWorkerNative) -> the /dev/shm prior of
  ucx.worker-create-no-resource;
- the driver's NV_ERR_FABRIC_STATE_OUT_OF_SYNC and NVSHMEM's NVLS multicast calls failing;
- cudaErrorTooManyPeers's string anywhere on a line (prose, Caffe2's enforce) and the 8-peer rule quoted;
- precision: a p2pBandwidthLatencyTest / simpleP2P matrix in which some pairs can access each other, and NCCL over
  IPoIB sockets with NCCL_IB_DISABLE=1 on a run that shows one node only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings


def _first(tmp_path: Path, text: str) -> tuple[str, str] | None:
    found = _findings(tmp_path, text)
    return found[0] if found else None


@pytest.mark.parametrize(
    ("text", "cause", "neighbour"),
    [
        # GDRCopy's device node looked for in the container: coreutils ls before 8.25 (bare path) and after (quoted),
        # Go's os.PathError, C's open, Python's OSError; neighbours: the node listed, the node refused for permission
        ("ls: cannot access /dev/gdrdrv: No such file or directory\n", "rdma.gdr-module-missing",
         "crw-rw-rw- 1 root root 511, 0 Mar  3 09:12 /dev/gdrdrv\n"),
        ("ls: cannot access '/dev/gdrdrv': No such file or directory\n", "rdma.gdr-module-missing",
         "ls: cannot access '/dev/gdrdrv': Permission denied\n"),
        ("stat /dev/gdrdrv: no such file or directory\n", "rdma.gdr-module-missing",
         "docker run --gpus all --device=/dev/gdrdrv nvcr.io/nvidia/pytorch:24.05-py3\n"),
        ("FileNotFoundError: [Errno 2] No such file or directory: '/dev/gdrdrv'\n", "rdma.gdr-module-missing",
         "INFO: creating /dev/gdrdrv inode\n"),
        # UCX's gdr_copy md open and NVSHMEM's GDRCopy loader
        ("[1712000000.100200] [gpu3:2211:0]   gdr_copy_md.c:555  UCX  ERROR failed to open gdr copy\n",
         "rdma.gdr-module-missing",
         "[1712000000.100200] [gpu3:2211:0]   gdr_copy_md.c:351  UCX  DEBUG could not open gdr copy. disabling gdr copy resource\n"),
        ("/opt/nvshmem/src/modules/transport/common/transport_gdr_common.cpp:67: GDRCopy open call failed, disabling "
         "GDRCopy.\nnode1:44:44 [0] NCCL INFO comm 0x55 rank 0 nRanks 16 nNodes 2 localRanks 8 localRank 0 MNNVL 0\n",
         "rdma.gdr-module-missing",
         "/opt/nvshmem/src/modules/transport/common/transport_gdr_common.cpp:67: GDRCopy open call failed, disabling "
         "GDRCopy.\n"),
    ],
)
def test_gdrdrv_absent_named_neighbour_clean(tmp_path: Path, text: str, cause: str, neighbour: str) -> None:
    assert _first(tmp_path, text) == (cause, "suggests")
    assert _causes(tmp_path, neighbour) == []


@pytest.mark.parametrize(
    ("text", "neighbour"),
    [
        # kmod modprobe ("could not insert '%s': %s", the ENOENT wording), insmod, systemd-modules-load
        ("modprobe: ERROR: could not insert 'nvidia_peermem': Invalid argument\n",
         "modprobe: ERROR: could not insert 'nvidia_peermem': Operation not permitted\n"),
        ("modprobe: ERROR: could not insert 'nvidia-peermem': Unknown symbol in module, or unknown parameter (see dmesg)\n",
         "modprobe: ERROR: could not insert 'nvidia_peermem': Module already in kernel\n"),
        ("insmod: ERROR: could not insert module /lib/modules/6.8.0-45-generic/updates/dkms/nvidia-peermem.ko: "
         "Invalid parameters\n",
         "successfully loaded nvidia-peermem module, now waiting for signal\n"),
        ("systemd-modules-load[611]: Failed to insert module 'nvidia_peermem': Invalid argument\n",
         "nvidia-peermem module already loaded, skipping modprobe\n"),
        # the kernel's module loader on the host (check_version, simplify_symbols)
        ("[Mon Mar  2 10:01:17 2026] nvidia_peermem: disagrees about version of symbol ib_register_peer_memory_client\n",
         "[Mon Mar  2 10:01:17 2026] zfs: disagrees about version of symbol dmu_buf_hold\n"),
        ("[  34.118220] nv_peer_mem: Unknown symbol ib_unregister_peer_memory_client (err -2)\n",
         "[  34.118220] nvidia_peermem: module verification failed: signature and/or required key missing - tainting kernel\n"),
        # the GPU Operator's nvidia-peermem-ctr and its startup probe
        ("failed to load nvidia-peermem module\n",
         "MOFED drivers are not ready, skipping probe to avoid container restarts...\n"),
        ("nvidia-peermem module is not loaded\n",
         "waiting for mellanox ofed and nvidia drivers to be installed\n"),
    ],
)
def test_peermem_load_failure_named(tmp_path: Path, text: str, neighbour: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("rdma.gdr-module-missing", "suggests")
    assert "device.no-driver" not in [c for c, _ in found]
    assert "rdma.gdr-module-missing" not in _causes(tmp_path, neighbour)


def test_nvidia_module_still_device_no_driver(tmp_path: Path) -> None:
    # the GPU driver's own modules keep their reading; the peermem twin of the line no longer does
    assert "device.no-driver" in _causes(tmp_path, "modprobe: ERROR: could not insert 'nvidia_uvm': Invalid argument\n")
    assert "device.no-driver" not in _causes(
        tmp_path, "modprobe: ERROR: could not insert 'nvidia_peermem': No such device\n"
    )


@pytest.mark.parametrize(
    ("text", "neighbour"),
    [
        # ib_md.c: ucs_error (v1.8-v1.11), ucs_diag (v1.12+); mlx5dv md; rdmacm_cm.c
        ("[1700000000.804230] [c0ffee:77:0]           ib_md.c:1699 UCX  ERROR ibv_open_device(mlx5_2) failed: "
         "No such file or directory\n",
         "[1700000000.804230] [c0ffee:77:0]           ib_md.c:1699 UCX  ERROR ibv_open_device(mlx5_2) failed: "
         "Cannot allocate memory\n"),
        ("[1700000000.804230] [c0ffee:77:0]    ib_mlx5dv_md.c:3380 UCX  DIAG  ibv_open_device(mlx5_bond_0) failed: "
         "No such file or directory\n",
         "[1700000000.804230] [c0ffee:77:0]    ib_mlx5dv_md.c:3380 UCX  DIAG  ibv_open_device(mlx5_bond_0) failed: "
         "Permission denied\n"),
        ("[1700000000.812913] [c0ffee:77:0]       rdmacm_cm.c:950  UCX  ERROR rdma_create_event_channel failed: "
         "No such file or directory\n",
         "[1700000000.812913] [c0ffee:77:0]       rdmacm_cm.c:950  UCX  ERROR rdma_create_event_channel failed: "
         "Permission denied\n"),
    ],
)
def test_ucx_rdma_node_missing(tmp_path: Path, text: str, neighbour: str) -> None:
    assert _first(tmp_path, text) == ("rdma.ib-device-missing", "suggests")
    assert "rdma.ib-device-missing" not in _causes(tmp_path, neighbour)


def test_jucx_worker_no_resource(tmp_path: Path) -> None:
    worker = (
        "24/03/01 10:00:00 WARN TaskSetManager: Lost task 3.0 in stage 1.0 (TID 9) (10.0.0.7 executor 2): "
        "org.openucx.jucx.UcxException: No resources are available to initiate the operation\n"
        "\tat org.openucx.jucx.ucp.UcpWorker.createWorkerNative(Native Method)\n"
        "\tat org.openucx.jucx.ucp.UcpWorker.<init>(UcpWorker.java:45)\n"
    )
    endpoint = (
        "org.openucx.jucx.UcxException: No resources are available to initiate the operation\n"
        "\tat org.openucx.jucx.ucp.UcpEndpoint.createEndpointNative(Native Method)\n"
    )
    assert _first(tmp_path, worker) == ("shm.too-small", "suggests")
    assert _causes(tmp_path, endpoint) == []


@pytest.mark.parametrize(
    ("text", "neighbour"),
    [
        # the driver's status, as nvCheckOkFailedNoLog prints it and as named alone
        ("[ 9021.112233] NVRM: nvCheckOkFailedNoLog: Check failed: NVLink fabric state cached by the driver is out of "
         "sync [NV_ERR_FABRIC_STATE_OUT_OF_SYNC] (0x00000087) returned from status @ mem_multicast_fabric.c:3119\n",
         "        State                             : Completed\n        Status                            : Success\n"),
        ("dmesg shows NV_ERR_FABRIC_STATE_OUT_OF_SYNC every time the job starts\n",
         "NVRM: nvCheckOkFailedNoLog: Check failed: Invalid state [NV_ERR_INVALID_STATE] (0x00000040) returned from "
         "status @ kern_bus.c:1022\n"),
        # NVSHMEM's NVLS team calls (NVSHMEMI_NE_ERROR_JMP), not the multicast slots used up (CUDA 2)
        ("/opt/nvshmem/src/host/team/team_internal_nvls.cpp:254: non-zero status: 401 cuMemMap failed to map "
         "2147483648 bytes handle at address: 0x7f2a00000000 offset 0 on device 2\n",
         "/opt/nvshmem/src/host/team/team_internal_nvls.cpp:220: non-zero status: 2 cuMulticastBindMem failed for "
         "mem_handle 0x5581 mc_offset 0 on device 2\n"),
        ("/opt/nvshmem/src/host/team/team_internal_nvls.cpp:111: non-zero status: 800 cuMulticastCreate failed \n",
         "NVLS: cuMulticast is not supported on CUDA or disabled by user\n"),
    ],
)
def test_nvlink_fabric_out_of_sync(tmp_path: Path, text: str, neighbour: str) -> None:
    assert _first(tmp_path, text) == ("nvidia.fabric-manager-restarted", "suggests")
    assert _causes(tmp_path, neighbour) == []


@pytest.mark.parametrize(
    ("text", "neighbour"),
    [
        # cudaGetErrorString(711) behind a wrapper that names no CUDA API (Caffe2's CAFFE_ENFORCE) and in prose
        ("RuntimeError: [enforce fail at context_gpu.cu:240] . peer mapping resources exhausted\n",
         "RuntimeError: [enforce fail at context_gpu.cu:240] . out of memory\n"),
        ("With all 16 ranks in one communicator the reduction fails with \"peer mapping resources exhausted\".\n",
         "CUDA-aware MPI enables peer mapping between the GPUs it finds.\n"),
        # the cudaDeviceEnablePeerAccess rule, quoted
        ("The docs say: Each device can support a system-wide maximum of eight peer connections.\n",
         "Each device can support up to 8 MIG instances.\n"),
    ],
)
def test_too_many_peers_anywhere(tmp_path: Path, text: str, neighbour: str) -> None:
    assert _first(tmp_path, text) == ("cuda.too-many-peers", "suggests")
    assert "cuda.too-many-peers" not in _causes(tmp_path, neighbour)


def test_p2p_probe_partial_matrix_is_topology(tmp_path: Path) -> None:
    partial = (
        "[P2P (Peer-to-Peer) GPU Bandwidth Latency Test]\n"
        "Device=0 CAN Access Peer Device=1\nDevice=0 CANNOT Access Peer Device=2\n"
        "Device=1 CAN Access Peer Device=0\nDevice=1 CANNOT Access Peer Device=2\n"
        "Device=2 CANNOT Access Peer Device=0\nDevice=2 CANNOT Access Peer Device=1\n"
    )
    simple = (
        "> Peer access from NVIDIA RTX A5000 (GPU0) -> NVIDIA RTX A5000 (GPU1) : Yes\n"
        "> Peer access from NVIDIA RTX A5000 (GPU0) -> NVIDIA RTX A5000 (GPU2) : No\n"
    )
    none = "Device=0 CANNOT Access Peer Device=1\nDevice=1 CANNOT Access Peer Device=0\n"
    assert _causes(tmp_path, partial) == []
    assert _causes(tmp_path, simple) == []
    assert _first(tmp_path, none) == ("nccl.p2p-unsupported", "suggests")


def test_ib_disabled_single_node_socket_is_clean(tmp_path: Path) -> None:
    head = (
        "gpu7:5120:5120 [0] NCCL INFO Bootstrap : Using ib0:10.20.0.7<0>\n"
        "gpu7:5120:5120 [0] NCCL INFO NCCL_IB_DISABLE set by environment to 1.\n"
        "gpu7:5120:5120 [0] NCCL INFO NET/Socket : Using [0]ib0:10.20.0.7<0>\n"
        "gpu7:5120:5120 [0] NCCL INFO Using network Socket\n"
    )
    one_node = head + "gpu7:5120:5188 [0] NCCL INFO Channel 00 : 0[1a000] -> 1[3d000] via P2P/IPC\n"
    two_nodes = head + "gpu7:5120:5188 [0] NCCL INFO Channel 00 : 3[d8000] -> 4[1a000] [send] via NET/Socket/0\n"
    counted = head + "gpu7:5120:5188 [0] NCCL INFO comm 0x5f rank 0 nRanks 8 nNodes 2 localRanks 4 localRank 0 MNNVL 0\n"
    assert _causes(tmp_path, one_node) == []
    assert "network.socket-fallback" in _causes(tmp_path, two_nodes)
    assert "network.socket-fallback" in _causes(tmp_path, counted)


@pytest.mark.parametrize(
    ("text", "neighbour"),
    [
        # ggml-cuda.cu tests getenv("GGML_CUDA_P2P") != nullptr: a value meant as off still turns P2P on
        ("docker run --gpus all -e GGML_CUDA_P2P=0 ghcr.io/ggml-org/llama.cpp:server-cuda -m /models/m.gguf\n",
         "docker run --gpus all -e GGML_CUDA_P2P=1 ghcr.io/ggml-org/llama.cpp:server-cuda -m /models/m.gguf\n"),
        ("export GGML_CUDA_P2P=false\n", "unset GGML_CUDA_P2P\n"),
        ("    env:\n      - name: GGML_CUDA_P2P\n        value: \"0\"\n      GGML_CUDA_P2P: \"off\"\n",
         "      GGML_CUDA_P2P: \"1\"\n"),
    ],
)
def test_ggml_cuda_p2p_off_value_still_enables(tmp_path: Path, text: str, neighbour: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("env.invalid-value", "suggests")
    assert _causes(tmp_path, neighbour) == []
