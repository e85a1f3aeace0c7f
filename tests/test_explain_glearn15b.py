"""Heldout15 lessons (glearn15b): the AMD / Kubernetes / fabric families behind its misses.

Every line is written from the upstream text its signature cites (not copied from the heldout15 logs): the node's
extended-resource count as kubectl and the API print it, HIP's peer2peer cookbook sample and the peer-access probe,
ROCm's large-BAR precondition of P2P, /dev/kfd absent under WSL2, old HIP's hipErrorNoDevice (1038) next to rocm-smi's
concise table, TheRock's rocminfo check, NCCL's socket transport on HPE Slingshot (hsnN) and the OFI plugin that fixes
it, and the host's amdgpu-dkms as the fix of a ROCm container.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

# ROCm/rocm_smi_lib rocm_smi.py showAllConcise: a 5.x row (GPU Temp AvgPwr SCLK MCLK Fan Perf PwrCap VRAM% GPU%)
SMI_ROW = "0    41.0c  34.0W   852Mhz   1000Mhz  0%     auto  290.0W    0%   0%\n"
# NCCL src/init.cc "comm %p rank %d nRanks %d nNodes %d localRanks %d localRank %d MNNVL %d"
NNODES = "x1000c1s2b0n0:412:501 [0] NCCL INFO comm 0x5581 rank 0 nRanks 16 nNodes {n} localRanks 8 localRank 0 MNNVL 0\n"
# src/transport/net_socket.cc ncclNetSocketInit "NET/Socket : Using%s" with " [%d]%s:%s" per interface
HSN_SOCKET = "x1000c1s2b0n0:412:501 [0] NCCL INFO NET/Socket : Using [0]hsn0:10.150.1.4<0> [1]hsn1:10.150.1.5<0>\n"
SOCKET_CHANNEL = "x1000c1s2b0n0:412:501 [0] NCCL INFO Channel 00/0 : 7[d1000] -> 8[c1000] [send] via NET/Socket/0\n"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # the node's count of a GPU extended resource is zero: kubectl get node -o json, a dotted retelling, prose
        ('  "allocatable": {\n    "cpu": "64",\n    "amd.com/gpu": "0",\n', "k8s.gpu-resource-unavailable"),
        ("status.allocatable.gpu.intel.com/i915: 0\n", "k8s.gpu-resource-unavailable"),
        ("kubectl shows 0 allocatable GPUs on node-b although lspci lists two.\n", "k8s.gpu-resource-unavailable"),
        # GPU peer access refused: HIP's cookbook sample, the probe retold, ROCm's large-BAR precondition
        ("peer2peer transfer not possible between the selected gpu devices\n", "nccl.p2p-unsupported"),
        ("hipDeviceCanAccessPeer returned 0 for GPU 0 and GPU 1.\n", "nccl.p2p-unsupported"),
        ("P2P between the two cards needs PCIe large BAR, which this board does not offer.\n", "nccl.p2p-unsupported"),
        # TheRock's install check: rocminfo exited non-zero in the job's container
        ("STEP 2\n   [WARN] rocminfo failed (may require GPU hardware)\n", "device.kfd-missing"),
        ("rocminfo fails inside the container while it works on the host.\n", "device.kfd-missing"),
        # the host's amdgpu-dkms as the fix of a ROCm container
        ("After installing amdgpu-dkms on the host and a reboot, the error was resolved.\n", "rocm.driver-too-old"),
        # the OFI plugin as the fix: NCCL was on TCP sockets
        ("Building aws-ofi-nccl and adding it to LD_LIBRARY_PATH fixed the slow all-reduce.\n", "network.socket-fallback"),
    ],
)
def test_a_heldout15b_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


def test_kfd_absent_under_wsl_is_the_dxg_route(tmp_path: Path) -> None:
    text = (
        "Running the ollama rocm image from Docker Desktop under WSL2.\n"
        "docker: Error: /dev/kfd: no such file or directory\n"
    )
    found = [c for c, _ in _findings(tmp_path, text)]
    assert found[:1] == ["device.dxg-missing"], found
    assert "device.kfd-missing" not in found, found


def test_kfd_absent_without_wsl_is_not_the_dxg_route(tmp_path: Path) -> None:
    found = [c for c, _ in _findings(tmp_path, "The container says /dev/kfd: no such file or directory\n")]
    assert found and found[0] in {"device.kfd-missing", "device.host-node-absent"}, found
    assert "device.dxg-missing" not in found, found


def test_hip_sees_none_while_rocm_smi_lists_them_is_the_group(tmp_path: Path) -> None:
    text = "hipGetDeviceCount returned 0 devices (hipErrorNoDevice 1038)\n" + SMI_ROW
    found = _findings(tmp_path, text)
    assert found and found[0] == ("device.group-denied", "suggests"), found


def test_hip_sees_none_alone_is_not_the_group(tmp_path: Path) -> None:
    found = [c for c, _ in _findings(tmp_path, "hipGetDeviceCount returned 0 devices\n")]
    assert found[:1] == ["device.kfd-missing"], found


def test_sockets_over_slingshot_between_nodes_are_the_fallback(tmp_path: Path) -> None:
    for extra in (NNODES.format(n=2), SOCKET_CHANNEL):
        found = _findings(tmp_path, HSN_SOCKET + extra)
        assert found and found[0] == ("network.socket-fallback", "suggests"), (extra, found)


def test_sockets_over_slingshot_on_one_node_are_a_note(tmp_path: Path) -> None:
    text = NNODES.format(n=1) + HSN_SOCKET
    assert "network.socket-fallback" not in [c for c, _ in _findings(tmp_path, text)]
    assert any("Slingshot" in n for n in _notes(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        # healthy counts and requests
        "  amd.com/gpu:  8\n",
        '    "nvidia.com/gpu": "4",\n',
        "status.allocatable.amd.com/gpu: 2\n",
        "        resources:\n          limits:\n            amd.com/gpu: 1\n",
        # peer access available, and an Intel small-BAR sentence without P2P
        "hipDeviceCanAccessPeer returned 1 for GPU 0 and GPU 1.\n",
        "if (canAccessPeer == 1) { hipDeviceEnablePeerAccess(peer, 0); }\n",
        "Enable Resizable BAR (large BAR) in the BIOS for the Arc card.\n",
        # rocminfo fine, and WSL named with nothing missing
        "   [PASS] rocminfo executed successfully\n",
        "ROCm works on WSL2 with the 7900 XTX.\n",
        # rocm-smi's table alone, the socket transport on Ethernet, NCCL with the OFI plugin on Slingshot
        "ROCm System Management Interface\n" + SMI_ROW,
        NNODES.format(n=2) + "x1000c1s2b0n0:412:501 [0] NCCL INFO NET/Socket : Using [0]eth0:10.0.0.4<0>\n",
        NNODES.format(n=2) + "x1000c1s2b0n0:412:501 [0] NCCL INFO NET/OFI Selected Provider is cxi (found 4 nics)\n",
        # amdgpu-dkms installed, nothing fixed by it
        "RUN apt-get install -y amdgpu-dkms rocm-hip-runtime\n",
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert not {
        "k8s.gpu-resource-unavailable",
        "nccl.p2p-unsupported",
        "device.kfd-missing",
        "device.no-gpu",
        "device.dxg-missing",
        "device.group-denied",
        "network.socket-fallback",
        "rocm.driver-too-old",
    } & set(found), found
