"""Issue 13, second pass: families harvested from upstream code, and how they rank and stay quiet.

Each log below is built from the upstream text the signature cites (repository, file, version in
its `source`); the lines around it are what the same program prints in a healthy run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, notes
from tpdoctor.explain import explain

# NCCL's own init line on one host (src/init.cc "nRanks %d nNodes %d localRanks %d").
ONE_NODE = "host:1:9 [0] NCCL INFO comm 0x5 rank 0 nRanks 2 nNodes 1 localRanks 2 localRank 0 MNNVL 0\n"
TWO_NODES = "host:1:9 [0] NCCL INFO comm 0x5 rank 0 nRanks 16 nNodes 2 localRanks 8 localRank 0 MNNVL 0\n"
SYSTEM_ERROR = (
    "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error "
    "(run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5\n"
)


# ------------------------------------------------------------------ ranking: the root line leads


@pytest.mark.parametrize(
    ("root", "cause"),
    [
        # NCCL src/misc/ibvwrap.cc, a degraded cause, before the blocker the generic error suggests
        ("host:1:9 [0] misc/ibvwrap.cc:212 NCCL WARN Call to ibv_open_device failed\n", "rdma.ib-device-missing"),
        # aws-ofi-nccl src/nccl_ofi_ofiutils.cpp:468 @2daf7d30
        (
            "host:1:9 [0] NCCL WARN NET/OFI Couldn't register memory region with regattr. RC: -12, ERROR: Cannot allocate memory\n",
            "rdma.memlock-too-low",
        ),
        # aws-ofi-nccl src/nccl_ofi_rdma.cpp:7308, on two nodes
        (TWO_NODES + "host:1:9 [0] NCCL WARN NET/OFI OFI fi_getinfo() call failed: No data available\n", "rdma.ib-device-missing"),
    ],
)
def test_a_root_line_ranks_before_the_downstream_system_error(tmp_path: Path, root: str, cause: str) -> None:
    got = causes(tmp_path, root + SYSTEM_ERROR)
    assert got[0] == cause, got


def test_the_system_error_alone_still_names_its_usual_cause(tmp_path: Path) -> None:
    assert causes(tmp_path, SYSTEM_ERROR) == ["shm.too-small"]


# ------------------------------------------------------------------ benign on one node


def test_ofi_plugin_without_provider_on_one_node_is_benign(tmp_path: Path) -> None:
    line = "host:1:9 [0] nccl_net_ofi_init:1237 NCCL WARN NET/OFI Couldn't find any optimal provider\n"
    text = line + ONE_NODE + "INFO:     Application startup complete.\n"
    assert causes(tmp_path, text) == []
    assert any("single node" in n for n in notes(tmp_path, text))
    assert causes(tmp_path, TWO_NODES + line) == ["rdma.ib-device-missing"]


def test_verbs_without_devices_is_benign_on_one_node_only(tmp_path: Path) -> None:
    line = "libibverbs: Warning: no userspace device-specific driver found for /sys/class/infiniband_verbs/uverbs0\n"
    assert causes(tmp_path, line + ONE_NODE) == []
    assert causes(tmp_path, line + TWO_NODES) == ["rdma.ib-device-missing"]


# ------------------------------------------------------------------ ROCm visibility and device access


def test_no_hip_gpus_with_a_rocm_mask_names_the_mask(tmp_path: Path) -> None:
    text = "export HIP_VISIBLE_DEVICES=4,5\nRuntimeError: No HIP GPUs are available\n"
    assert causes(tmp_path, text)[0] == "rocm.visible-devices-mismatch"
    # bare: the group prior (signatures.yaml torch.no-hip-gpus; the missing /dev/kfd is the next cause)
    assert causes(tmp_path, "RuntimeError: No HIP GPUs are available\n")[0] == "device.group-denied"


def test_conflicting_masks_prove_the_visibility_cause(tmp_path: Path) -> None:
    # vllm/platforms/rocm.py _sync_hip_cuda_env_vars
    text = (
        "ValueError: Inconsistent GPU visibility env vars: HIP_VISIBLE_DEVICES='0,1' vs "
        "CUDA_VISIBLE_DEVICES='2,3'. Please set only one, or ensure they match.\n"
    )
    log = tmp_path / "v.log"
    log.write_text(text)
    first = explain([str(log)]).findings[0]
    assert (first.cause, first.confidence) == ("rocm.visible-devices-mismatch", "proves")


def test_rocminfo_nogroup_is_the_user_namespace_not_a_missing_group(tmp_path: Path) -> None:
    # ROCm/rocminfo rocminfo.cc, as printed under rootless Podman
    text = (
        "ROCk module is loaded\n"
        "Unable to open /dev/kfd read-write: Permission denied\n"
        'root is not member of "nogroup" group, the default DRM access group. Users must be a member of the '
        '"nogroup" group or another DRM access group in order for ROCm applications to run successfully.\n'
    )
    got = causes(tmp_path, text)
    assert got[0] == "userns.gid-unmapped"
    assert "device.group-denied" not in got
    render = text.replace('"nogroup"', '"render"')
    assert causes(tmp_path, render)[0] == "device.group-denied"


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        ("open /dev/kfd: permission denied\n", "device.group-denied"),  # Go runtimes, lower case
        ("Failed to open /dev/kfd: Permission denied\n", "device.group-denied"),  # perror()
        ("Cannot open /dev/kfd: Operation not permitted\n", "device.cgroup-denied"),
        ("open /dev/dri/renderD128: permission denied\n", "device.group-denied"),
    ],
)
def test_device_denials_in_every_casing(tmp_path: Path, line: str, cause: str) -> None:
    assert causes(tmp_path, line)[0] == cause


# ------------------------------------------------------------------ P2P without the CUDA error string


@pytest.mark.parametrize(
    "line",
    [
        # NVIDIA/nccl src/graph/paths.cc:396 (2.12.7+)
        "NCCL WARN P2P is disabled between NVLINK connected GPUs 1 and 0. This should not be the case given their "
        "connectivity, and is probably due to a hardware issue.\n",
        # NVIDIA/nccl src/transport/net.cc:476
        "transport/net.cc:476 NCCL WARN failed to peer with device 1: 217 peer access is not supported\n",
        # vLLM custom_all_reduce_utils.gpu_p2p_access_check
        "RuntimeError: Error happened when batch testing peer-to-peer access from (0, 1) to (1, 0):\n",
        # NVIDIA/nccl-tests src/util.cu:777
        "# Out of bounds values : 24 FAILED\n",
    ],
)
def test_p2p_failures_without_the_cuda_string(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line)[0] == "nccl.p2p-unsupported"


def test_nccl_tests_without_wrong_values_is_clean(tmp_path: Path) -> None:
    assert causes(tmp_path, "# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 21.5\n") == []


# ------------------------------------------------------------------ libfabric through MPI / oneCCL


@pytest.mark.parametrize(
    "line",
    [
        "MPIDI_OFI_mpi_init_hook(986): OFI addrinfo() failed (ofi_init.c:986:MPIDI_OFI_mpi_init_hook:No data available)\n",
        "fi_getinfo: -61 (No data available)\n",
        "2025:01:01-00:00:00:(1) |CCL_ERROR| atl_ofi_helper.cpp:890 atl_ofi_get_prov_list: fi_getinfo error, prov_name tcp\n",
    ],
)
def test_libfabric_enodata_names_the_missing_provider(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line)[0] == "oneccl.ofi-provider-missing"


# ------------------------------------------------------------------ InfiniBand / RDMA in containers


def test_memlock_warning_matters_only_across_nodes(tmp_path: Path) -> None:
    # linux-rdma/rdma-core libibverbs/init.c check_memlock_limit
    line = "libibverbs: Warning: RLIMIT_MEMLOCK is 32768 bytes.\n    This will severely limit memory registrations.\n"
    assert causes(tmp_path, line + ONE_NODE) == []
    assert causes(tmp_path, line + TWO_NODES) == ["rdma.memlock-too-low"]


def test_nccl_without_ib_is_benign_on_one_node(tmp_path: Path) -> None:
    line = "host:1:9 [0] NCCL INFO NET/IB : No device found.\n"
    assert causes(tmp_path, line + ONE_NODE) == []
    assert causes(tmp_path, line) == []  # nothing shows more than one node
    assert causes(tmp_path, line + TWO_NODES) == ["rdma.ib-device-missing"]


@pytest.mark.parametrize(
    "line",
    [
        # vLLM multiproc executor, v0.4.1-v0.6 and v0.6.x with counts
        "AssertionError: please set tensor_parallel_size to less than max local gpu count\n",
        "RuntimeError: please set tensor_parallel_size (4) to less than max local gpu count (2)\n",
        # vLLM ParallelConfig (v0.11)
        "Value error, World size (2) is larger than the number of available GPUs (1) in this node.\n",
    ],
)
def test_vllm_gpu_count_checks_of_every_era(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line)[0] == "vllm.tp-exceeds-visible-gpus"


def test_torch_device_index_assert_names_the_visibility_mismatch(tmp_path: Path) -> None:
    line = 'RuntimeError: device >= 0 && device < num_gpus INTERNAL ASSERT FAILED at "../aten/src/ATen/cuda/CUDAContext.cpp":50\n'
    assert causes(tmp_path, line)[0] == "cuda.visible-devices-mismatch"


# ------------------------------------------------------------------ container runtimes


def test_group_lookup_failure_in_both_casings(tmp_path: Path) -> None:
    for line in (
        "Error response from daemon: Unable to find group render: no matching entries in group file\n",
        "Error: unable to find group render: no matching entries in group file\n",
    ):
        assert causes(tmp_path, line)[0] == "device.group-name-unresolved"


def test_nvidia_hook_without_cgroup_bpf_rights(tmp_path: Path) -> None:
    # NVIDIA/libnvidia-container src/nvcgo/internal/cgroup/ebpf.go
    line = (
        "nvidia-container-cli: mount error: failed to add device rules: unable to find any existing device "
        "filters attached to the cgroup: bpf_prog_query(BPF_CGROUP_DEVICE) failed: operation not permitted: unknown.\n"
    )
    # the hook may not query/attach the device filter (rootless or nested engine): no-cgroups or CDI
    assert causes(tmp_path, line)[0] == "nvidia.hook-cgroup-denied"
    # the title form users quote, cut before the errno
    assert causes(tmp_path, "mount error: failed to add device rules.... bpf_prog_query(BPF_CGROUP_DEVICE)\n")[0] == (
        "nvidia.hook-cgroup-denied"
    )


def test_store_connection_failure_is_downstream_of_a_specific_line(tmp_path: Path) -> None:
    store = (
        "torch.distributed.DistNetworkError: The client socket has failed to connect to [node0]:29500 "
        "(errno: 111 - Connection refused).\n"
    )
    assert causes(tmp_path, store) == ["network.wrong-interface"]  # alone, it is the network
    root = "host:1:9 [0] misc/ibvwrap.cc:212 NCCL WARN Call to ibv_open_device failed\n"
    assert causes(tmp_path, root + store)[0] == "rdma.ib-device-missing"
