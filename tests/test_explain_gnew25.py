"""Issue 13, gnew25: cause ids for container/host causes heldout25's collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- rdma.fabric-unreachable: NCCL's failed IB work completion with status 12 (IBV_WC_RETRY_EXC_ERR) in each form it
  took (v2.4 'Got completion with error', v2.12 'from peer', v2.18 request type and GIDs, v2.21 'status=', v2.23
  'hca', v2.29 'status=IBV_WC_RETRY_EXC_ERR(12)', the GIN proxy), rdma-core's ibv_wc_status_str text as UCX's verbs
  transport and Mooncake print it, UCX's mlx5 syndrome text, and NCCL's ibv_modify_qp ETIMEDOUT/EINVAL on the way
  to RTR. A consequence-grade line: a peer that died first, or a port error event, names the cause instead.
- rdma.gdr-pcie-blocked: the same completion with status 4 (IBV_WC_LOC_PROT_ERR, 'local protection error'), UCX's
  'Local protection error on <dev>', Mooncake's slice failure and NCCL 2.30's ACS hint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings

_P = "gpu-b7:30211:30290 [2] "

_RETRY = [
    # NCCL v2.4-v2.11
    _P + "NCCL WARN NET/IB : Got completion with error 12, opcode 2, len 8192, vendor err 129\n",
    # v2.12-v2.17
    _P + "transport/net_ib.cc:1198 NCCL WARN NET/IB : Got completion from peer 172.16.4.9<60311> with error 12, "
    "opcode 0, len 0, vendor err 129\n",
    # v2.18-v2.19: request type and RoCE GIDs appended
    _P + "transport/net_ib.cc:1333 NCCL WARN NET/IB : Got completion from peer 172.16.4.9<60311> with error 12, "
    "opcode 0, len 0, vendor err 129 (Send) localGid ::ffff:172.16.4.8 remoteGid ::ffff:172.16.4.9\n",
    # v2.21-v2.22 (and RCCL)
    _P + "transport/net_ib.cc:1909 NCCL WARN NET/IB : Got completion from peer 172.16.4.9<60311> with status=12 "
    "opcode=0 len=0 vendor err 129 (Send)\n",
    # v2.23-v2.28
    _P + "transport/net_ib.cc:2470 NCCL WARN NET/IB: Got completion from peer 172.16.4.9<60311> with status=12 "
    "opcode=0 len=0 vendor err 129 (Send) localGid ::ffff:172.16.4.8 remoteGids::ffff:172.16.4.9 hca mlx5_3\n",
    # v2.29+: the status and opcode by name
    _P + "transport/net_ib/p2p.cc:688 NCCL WARN NET/IB: Got completion from peer 172.16.4.9<60311> with "
    "status=IBV_WC_RETRY_EXC_ERR(12) opcode=IBV_WC_RDMA_WRITE(1) vendor_err=129  hca mlx5_3\n",
    # the GIN proxy
    _P + "transport/net_ib/gin.cc:749 NCCL WARN NET/IB/GIN: Got completion from peer 172.16.4.9<60311> with "
    "status=12 opcode=1 len=0 vendor err 129 (Send) hca mlx5_3\n",
    # UCX mlx5 syndrome text (NIXL, UCX-based KV transfer) and UCX's verbs transport with ibv_wc_status_str
    "[1764842400.551021] [gpu-b7:30211:0]   ib_mlx5_log.c:179  UCX  ERROR Transport retry count exceeded on "
    "mlx5_3:1/RoCE (synd 0x15 vend 0x81 hw_synd 0/0)\n",
    "[gpu-b7:30211:0] rc_verbs_iface.c:124 UCX ERROR send completion with error: transport retry counter exceeded "
    "[qpn 0x2c1 wrid 0x11 vendor_err 0x81]\n",
    # Mooncake's transfer engine (glog) with ibv_wc_status_str
    "E1204 09:12:44.118203 30290 worker_pool.cpp:663] Worker: Process failed for slice (opcode: 0, source_addr: "
    "0x7f3a00000000, length: 16384, dest_addr: 0x7e11c0000000, local_nic: mlx5_3, peer_nic: 172.16.4.9:17001@mlx5_3, "
    "dest_rkey: 2210, retry_cnt: 1, max_retry_cnt: 8): transport retry counter exceeded\n",
    # NCCL's queue pair cannot reach the peer: ETIMEDOUT (every form) and EINVAL on the way to RTR
    _P + "NCCL WARN Call to ibv_modify_qp failed with error Connection timed out\n",
    _P + "misc/ibvwrap.cc:206 NCCL WARN Call to ibv_modify_qp failed with error Connection timed out errno 110\n",
    _P + "misc/ibvwrap.cc:295 NCCL WARN Call to ibv_modify_qp failed with 110 Connection timed out, on dev mlx5_3:1, "
    "curr state INIT, next state RTR, local GID index 3, local GID ::ffff:172.16.4.8, remote GID ::ffff:10.9.0.2\n",
    _P + "misc/ibvwrap.cc:376 NCCL WARN Call to ibv_modify_qp failed with 22 Invalid argument, on dev mlx5_3:1, "
    "curr state INIT, next state RTR, local GID index 5, local GID ::, remote GID ::ffff:172.16.4.9\n",
]


@pytest.mark.parametrize("text", _RETRY)
def test_no_rdma_path_between_nodes_is_named(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("rdma.fabric-unreachable", "suggests"), found


_LOC_PROT = [
    _P + "NCCL WARN NET/IB : Got completion with error 4, opcode 128, len 0, vendor err 81\n",
    _P + "transport/net_ib.cc:1295 NCCL WARN NET/IB : Got completion from peer 172.16.4.9<60311> with error 4, "
    "opcode 1, len 0, vendor err 81 (Recv) localGid fe80::a288:c2ff:fe10:1 remoteGid fe80::a288:c2ff:fe10:2\n",
    _P + "transport/net_ib.cc:2358 NCCL WARN NET/IB: Got completion from peer 172.16.4.9<60311> with status=4 "
    "opcode=1 len=0 vendor err 81 (Recv) hca mlx5_1\n",
    _P + "transport/net_ib/p2p.cc:688 NCCL WARN NET/IB: Got completion from peer 172.16.4.9<60311> with "
    "status=IBV_WC_LOC_PROT_ERR(4) opcode=IBV_WC_RDMA_WRITE(1) vendor_err=81  hca mlx5_1\n",
    _P + "NCCL INFO HINT: In many cases this error occurs when ACS is enabled which would break GPU Direct RDMA "
    "protocol.\n",
    "[gpu-b7:30211:0] ib_mlx5_log.c:179 UCX ERROR Local protection error on mlx5_1:1/IB (synd 0x4 vend 0x56 "
    "hw_synd 0/0)\n",
    "E1204 09:12:44.118203 30290 worker_pool.cpp:663] Worker: Process failed for slice (opcode: 1, source_addr: "
    "0x7f3a00000000, length: 65536, dest_addr: 0x7e11c0000000, local_nic: mlx5_1, peer_nic: 172.16.4.9:17001@mlx5_5, "
    "dest_rkey: 2210, retry_cnt: 0, max_retry_cnt: 8): local protection error\n",
    "I1204 09:12:44.118203 30290 workers.cpp:672] Detected error WQE for slice 0x55d1 (opcode: 1, source_addr: "
    "0x7f3a00000000, dest_addr: 0x7e11c0000000, length: 65536, local_nic: mlx5_1): local protection error\n",
]


@pytest.mark.parametrize("text", _LOC_PROT)
def test_gdr_blocked_on_the_pcie_path_is_named(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("rdma.gdr-pcie-blocked", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # a flushed work request (status 5) only follows an earlier error
        _P + "NCCL WARN NET/IB: Got completion from peer 172.16.4.9<60311> with status=5 opcode=0 len=0 vendor err "
        "249 (Recv) hca mlx5_3\n",
        _P + "NCCL WARN NET/IB: Got completion from peer 172.16.4.9<60311> with status=IBV_WC_WR_FLUSH_ERR(5) "
        "opcode=IBV_WC_SEND(0) vendor_err=249  hca mlx5_3\n",
        "E1204 09:12:44.1 30290 worker_pool.cpp:663] Worker: Process failed for slice (opcode: 0): Work Request "
        "Flushed Error\n",
        # receiver-not-ready retries are the application's receive queue, not the fabric
        _P + "NCCL WARN NET/IB: Got completion from peer 172.16.4.9<60311> with status=IBV_WC_RNR_RETRY_EXC_ERR(13) "
        "opcode=IBV_WC_SEND(0) vendor_err=0  hca mlx5_3\n",
        "[gpu-b7:30211:0] ib_mlx5_log.c:179 UCX ERROR Receive-no-ready retry count exceeded on mlx5_3:1/IB "
        "(synd 0x16 vend 0x0 hw_synd 0/0)\n",
        "send completion with error: RNR retry counter exceeded [qpn 0x2c1 wrid 0x11 vendor_err 0x0]\n",
        # NCCL >= 2.24 retries ibv_modify_qp and says so at INFO: not the failure
        _P + "NCCL INFO Call to ibv_modify_qp failed with 110 Connection timed out, on dev mlx5_3:1, curr state INIT, "
        "next state RTR, local GID index 3, local GID ::ffff:172.16.4.8, remote GID ::ffff:172.16.4.9, retrying 1/4 "
        "after 1000 msec of sleep\n",
        # EINVAL on the move to RTS (timeouts, retry counts) is not the GID
        _P + "NCCL WARN Call to ibv_modify_qp failed with 22 Invalid argument, on dev mlx5_3:1, curr state RTR, next "
        "state RTS, local GID index 3, local GID ::ffff:172.16.4.8, remote GID ::ffff:172.16.4.9\n",
        # EINVAL without the transition is not told apart from other attribute errors
        _P + "NCCL WARN Call to ibv_modify_qp failed with error Invalid argument\n",
        # the timeout hint NCCL 2.30 prints after several statuses names nothing by itself
        _P + "NCCL INFO HINT: In many cases this error occurs when the NCCL_IB_TIMEOUT is set too short.\n",
        # healthy NCCL_DEBUG=INFO lines of an IB run
        _P + "NCCL INFO NET/IB : Using [0]mlx5_0:1/RoCE [1]mlx5_3:1/RoCE [RO]; OOB eth0:172.16.4.8<0>\n",
        _P + "NCCL INFO Channel 00/0 : 9[1] -> 2[2] [receive] via NET/IB/1/GDRDMA\n",
        _P + "NCCL INFO NET/IB : GPU Direct RDMA Enabled for HCA 1 'mlx5_1'\n",
        # the words in prose that says the error is gone
        "With NCCL_IB_GID_INDEX=3 the run is healthy: no more completion errors.\n",
    ],
)
def test_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    found = _all(tmp_path, text)
    assert "rdma.fabric-unreachable" not in found and "rdma.gdr-pcie-blocked" not in found, found


def test_a_port_error_event_names_the_port_before_the_retry(tmp_path: Path) -> None:
    text = (
        _P + "transport/net_ib/common.cc:253 NCCL WARN NET/IB : mlx5_3:1 Got non-fatal async event: port error(10)\n"
        + _RETRY[4]
    )
    found = [c for c, _ in _findings(tmp_path, text)]
    assert found[:2] == ["rdma.port-down", "rdma.fabric-unreachable"], found


def test_a_peer_that_died_of_oom_is_not_a_fabric_problem(tmp_path: Path) -> None:
    text = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB.\n" + _RETRY[5]
    assert "rdma.fabric-unreachable" not in [c for c, _ in _findings(tmp_path, text)]


# --- rocm.igpu-visible: ggml's HIP device list (ggml_cuda_init '  Device %d: %s, %s (0x%x), VMM: %s, Wave Size: %d',
# Ollama's copy adds ', ID: %s', later llama.cpp ', VRAM: %d MiB') with an APU gfx target beside a discrete one, and
# a HIP failure in the same log.
_IGPU_LISTS = [
    # llama.cpp (Feb 2025 on): two discrete RDNA4 cards and a Ryzen desktop iGPU
    "ggml_cuda_init: found 3 ROCm devices:\n"
    "  Device 0: AMD Radeon AI PRO R9700, gfx1201 (0x1201), VMM: no, Wave Size: 32\n"
    "  Device 1: AMD Radeon AI PRO R9700, gfx1201 (0x1201), VMM: no, Wave Size: 32\n"
    "  Device 2: AMD Radeon Graphics, gfx1036 (0x1036), VMM: no, Wave Size: 32\n",
    # the later form with the memory size; an MI-class target with features beside a Phoenix iGPU
    "ggml_cuda_init: found 2 ROCm devices (Total VRAM: 49136 MiB):\n"
    "  Device 0: AMD Radeon 780M Graphics, gfx1103 (0x1103), VMM: no, Wave Size: 32, VRAM: 16384 MiB\n"
    "  Device 1: AMD Radeon PRO W7900, gfx1100 (0x1100), VMM: no, Wave Size: 32, VRAM: 32752 MiB\n",
    # Ollama's vendored ggml with the device ID; a Renoir/Cezanne iGPU with its xnack feature
    "ggml_cuda_init: found 2 ROCm devices:\n"
    "  Device 0: AMD Instinct MI100, gfx908:sramecc+:xnack- (0x908), VMM: no, Wave Size: 64, ID: GPU-8f3c2a1b\n"
    "  Device 1: AMD Radeon Graphics, gfx90c:xnack- (0x90c), VMM: no, Wave Size: 64, ID: 0\n",
]

_HIP_FAILURES = [
    # ggml's CUDA_CHECK in a HIP build
    "ROCm error: invalid device function\n"
    "  current device: 2, in function ggml_cuda_compute_forward at /src/ggml/src/ggml-cuda/ggml-cuda.cu:2513\n",
    # torch's C10_HIP_CHECK
    "RuntimeError: HIP error: invalid device function\n",
    # HIP's code-object load failure
    "\"hipErrorNoBinaryForGpu: Unable to find code object for all current devices!\"\n",
    # ROCr's memory fault and rocBLAS without kernels for the APU target
    "Memory access fault by GPU node-3 (Agent handle: 0x5593e1) on address 0x7f21c000. Reason: Page not present or "
    "supervisor privilege.\n",
    "rocBLAS error: Cannot read /opt/rocm/lib/rocblas/library/TensileLibrary.dat: Illegal seek for GPU arch : "
    "gfx1036\n",
]


@pytest.mark.parametrize("devices", _IGPU_LISTS)
@pytest.mark.parametrize("failure", _HIP_FAILURES)
def test_an_igpu_beside_discrete_gpus_and_a_hip_failure_is_named(tmp_path: Path, devices: str, failure: str) -> None:
    found = _findings(tmp_path, devices + failure)
    assert found and found[0] == ("rocm.igpu-visible", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # a healthy list with the iGPU that the run ignores
        _IGPU_LISTS[0] + "main: server is listening on http://127.0.0.1:8080 - starting the main loop\n",
        # out of memory is not the iGPU's mark
        _IGPU_LISTS[0] + "ROCm error: out of memory\n",
        # discrete GPUs only, then a failure
        "ggml_cuda_init: found 2 ROCm devices:\n"
        "  Device 0: AMD Radeon RX 7900 XTX, gfx1100 (0x1100), VMM: no, Wave Size: 32\n"
        "  Device 1: AMD Radeon RX 7900 XTX, gfx1100 (0x1100), VMM: no, Wave Size: 32\n"
        "ROCm error: invalid device function\n",
        # an APU alone (Strix Halo) is not an iGPU beside discrete GPUs
        "ggml_cuda_init: found 1 ROCm devices:\n"
        "  Device 0: AMD Radeon 8060S Graphics, gfx1151 (0x1151), VMM: no, Wave Size: 32\n"
        "ROCm error: invalid device function\n",
        # the old form (compute capability, no gfx target) with only discrete cards named; glearn38b names the old
        # form's generic "AMD Radeon Graphics" beside a named discrete Radeon (TabbyML/tabby#902, tested in
        # tests/test_explain_glearn38b.py), so only a list without that generic iGPU name stays here
        "ggml_cuda_init: found 2 ROCm devices:\n"
        "  Device 0: AMD Radeon RX 7900 XTX, compute capability 11.0, VMM: no\n"
        "  Device 1: AMD Radeon RX 7900 XT, compute capability 11.0, VMM: no\n"
        "ROCm error: invalid device function\n",
        # a CUDA build's device list has no gfx target
        "ggml_cuda_init: found 1 CUDA devices:\n  Device 0: NVIDIA GeForce RTX 4090, compute capability 8.9, VMM: yes\n"
        "CUDA error: an illegal memory access was encountered\n",
    ],
)
def test_igpu_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "rocm.igpu-visible" not in _all(tmp_path, text)


# --- runtime.containerd-cri-disabled: the CRI client's error in each client's wording (grpc-go 'unknown service %v')
@pytest.mark.parametrize(
    "text",
    [
        # kubelet >= 1.28 (klog structured, quotes escaped)
        'E1204 08:11:02.120331    2210 run.go:72] "command failed" err="failed to run Kubelet: validate service '
        'connection: validate CRI v1 runtime API for endpoint \\"unix:///run/containerd/containerd.sock\\": rpc error: '
        'code = Unimplemented desc = unknown service runtime.v1.RuntimeService"\n',
        # kubelet / crictl 1.26-1.27
        'time="2026-12-04T08:11:02Z" level=fatal msg="validate service connection: CRI v1 runtime API is not '
        'implemented for endpoint \\"unix:///var/run/containerd/containerd.sock\\": rpc error: code = Unimplemented '
        'desc = unknown service runtime.v1.RuntimeService"\n',
        # kubeadm's preflight quoting crictl
        "[ERROR CRI]: container runtime is not running: output: time=\"2026-12-04T08:11:02Z\" level=fatal "
        "msg=\"validate service connection: validate CRI v1 runtime API for endpoint "
        "\\\"unix:///var/run/containerd/containerd.sock\\\": rpc error: code = Unimplemented desc = unknown service "
        "runtime.v1.RuntimeService\"\n",
        # kubelet <= 1.25 and old crictl: CRI v1alpha2
        "Error: failed to run Kubelet: failed to create kubelet: rpc error: code = Unimplemented desc = unknown service "
        "runtime.v1alpha2.RuntimeService\n",
        "FATA[0000] getting status of runtime: rpc error: code = Unimplemented desc = unknown service "
        "runtime.v1alpha2.RuntimeService\n",
        # the image service
        'FATA[0000] validate service connection: validate CRI v1 image API for endpoint "unix:///run/containerd/'
        'containerd.sock": rpc error: code = Unimplemented desc = unknown service runtime.v1.ImageService\n',
    ],
)
def test_containerd_without_its_cri_plugin_is_named(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("runtime.containerd-cri-disabled", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # other gRPC services the kubelet or a device plugin asks for
        "Could not register device plugin: rpc error: code = Unimplemented desc = unknown service "
        "v1beta1.Registration\n",
        "rpc error: code = Unimplemented desc = unknown service grpc.health.v1.Health\n",
        # a healthy crictl version
        "RuntimeName:  containerd\nRuntimeVersion:  v1.7.22\nRuntimeApiVersion:  v1\n",
        # the socket is absent: another failure
        'validate service connection: validate CRI v1 runtime API for endpoint "unix:///run/containerd/containerd.sock":'
        ' rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix '
        '/run/containerd/containerd.sock: connect: no such file or directory"\n',
    ],
)
def test_cri_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "runtime.containerd-cri-disabled" not in _all(tmp_path, text)


# --- a CDI spec left stale by a driver upgrade, in crun's stat-before-mount wording (do_mounts 'cannot stat `%s`')
@pytest.mark.parametrize(
    "path",
    [
        "/usr/lib/libnvidia-egl-wayland.so.1.1.13",
        "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.565.57.01",
        "/usr/lib64/libcuda.so.570.86.15",
        "/lib/firmware/nvidia/550.54.15/gsp_tu10x.bin",
    ],
)
def test_crun_cannot_stat_an_old_driver_file_is_a_stale_cdi_spec(tmp_path: Path, path: str) -> None:
    text = (
        f"Error: crun: cannot stat `{path}`: No such file or directory: OCI runtime attempted to invoke a command "
        "that was not found\n"
    )
    found = _findings(tmp_path, text)
    assert found and found[0] == ("runtime.cdi-spec-stale", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # a bind-mount source of the user's own that is missing
        "Error: crun: cannot stat `/srv/models/llama`: No such file or directory: OCI runtime attempted to invoke a "
        "command that was not found\n",
        # an unversioned library name is no driver version
        "Error: crun: cannot stat `/usr/lib64/libnvidia-ml.so.1`: Permission denied\n",
    ],
)
def test_crun_stat_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "runtime.nvidia-toolkit-missing" not in _all(tmp_path, text)
