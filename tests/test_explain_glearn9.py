"""The families the glearn9 pass taught explain (issue 13), each written from the format string of the
program that prints it (the source is named on every case), with the look-alike that must stay clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain


def _found(tmp_path: Path, text: str) -> list[str]:
    log = tmp_path / "run.log"
    log.write_text(text, encoding="utf-8")
    report = explain([str(log)])
    return [f.cause for f in report.findings if f.severity.value != "notice"]


def _notes(tmp_path: Path, text: str) -> str:
    log = tmp_path / "run.log"
    log.write_text(text, encoding="utf-8")
    return "\n".join(explain([str(log)]).notes)


# ---- Fabric Manager on NVSwitch systems -------------------------------------------------------------------

HGX = "nvidia-cuda-validator pods crash-loop on an HGX A100 node\n"


@pytest.mark.parametrize(
    "line",
    [
        # systemctl status of a unit that is not installed (systemd systemctl-show.c "Unit %s could not be found.")
        "Unit nvidia-fabricmanager.service could not be found.",
        # systemctl start (bus error "Unit %s not found.")
        "Failed to start nvidia-fabricmanager.service: Unit nvidia-fabricmanager.service not found.",
        # src/core/service.c "%s: Control process exited, code=%s, status=%i/%s"
        "Nov 15 14:15:47 n1 systemd[1]: nvidia-fabricmanager.service: Control process exited, code=exited, status=1/FAILURE",
        # src/core/unit.c "%s: Failed with result '%s'."
        "Nov 15 14:15:47 n1 systemd[1]: nvidia-fabricmanager.service: Failed with result 'exit-code'.",
        # src/core/job.c "Failed to start %s." with the unit's Description= (v250+: "%s - %s")
        "Nov 15 14:15:47 n1 systemd[1]: Failed to start NVIDIA fabric manager service.",
        "Jan 05 14:44:41 n1 systemd[1]: Failed to start nvidia-fabricmanager.service - NVIDIA fabric manager service.",
        # systemctl's job wait
        "Job for nvidia-fabricmanager.service failed because the control process exited with error code.",
        # nv-fabricmanager start-up (NVIDIA/gpu-operator#610) and nvidia-fabricmanager-start.sh (R570)
        "nv-fabricmanager[4177]: request to query NVSwitch device information from NVSwitch driver failed with error:WARNING Nothing to do [NV_WARN_NOTHING_TO_DO]",
        'nvidia-fabricmanager-start.sh[4753]: "/usr/bin/nv-fabricmanager -c /usr/share/nvidia/nvswitch/fabricmanager.cfg" failed! Exit code: 1',
    ],
)
def test_fabric_manager_down_on_an_nvswitch_system_is_named(tmp_path: Path, line: str) -> None:
    assert _found(tmp_path, HGX + line + "\n")[:1] == ["nvidia.fabric-manager-not-running"]


@pytest.mark.parametrize(
    "gpu_line",
    [
        "|   0  NVIDIA H100 80GB HBM3          On  | 00000000:18:00.0 Off |                    0 |",
        "|   0  NVIDIA A100-SXM4-80GB          On  | 00000000:07:00.0 Off |                    0 |",
        "|   0  NVIDIA B200                    On  | 00000000:1B:00.0 Off |                    0 |",
        "a DGX H100 node",
    ],
)
def test_an_sxm_gpu_name_makes_the_fabric_manager_line_count(tmp_path: Path, gpu_line: str) -> None:
    text = gpu_line + "\nUnit nvidia-fabricmanager.service could not be found.\n"
    assert _found(tmp_path, text)[:1] == ["nvidia.fabric-manager-not-running"]


@pytest.mark.parametrize(
    "gpu_line",
    [
        "|   0  NVIDIA GeForce RTX 4090        Off | 00000000:01:00.0 Off |                  Off |",
        "|   0  NVIDIA H100 PCIe               On  | 00000000:18:00.0 Off |                    0 |",
        "|   0  NVIDIA H200 NVL                On  | 00000000:18:00.0 Off |                    0 |",
        "a DGX Spark on my desk",
        "our DGX-1 (V100, NVLink hybrid cube mesh)",
    ],
)
def test_fabric_manager_failing_on_a_pcie_system_is_only_a_note(tmp_path: Path, gpu_line: str) -> None:
    # Fabric Manager refuses to start without NVSwitches (NV_WARN_NOTHING_TO_DO): nothing needs it there
    text = (
        gpu_line + "\n"
        "nv-fabricmanager[4177]: request to query NVSwitch device information from NVSwitch driver failed with "
        "error:WARNING Nothing to do [NV_WARN_NOTHING_TO_DO]\n"
        "systemd[1]: nvidia-fabricmanager.service: Control process exited, code=exited, status=1/FAILURE\n"
    )
    assert _found(tmp_path, text) == []
    assert "PCIe system does not need Fabric Manager" in _notes(tmp_path, text)


def test_fabric_manager_down_with_a_cuda_init_failure_counts_without_a_gpu_name(tmp_path: Path) -> None:
    text = (
        "Unit nvidia-fabricmanager.service could not be found.\n"
        "RuntimeError: CUDA unknown error - this may be due to an incorrectly set up environment, e.g. changing "
        "env variable CUDA_VISIBLE_DEVICES after program start. Setting the available devices to be zero.\n"
    )
    assert "nvidia.fabric-manager-not-running" in _found(tmp_path, text)


@pytest.mark.parametrize("state", ["In Progress", "Not Started"])
def test_nvidia_smi_fabric_state_not_completed_is_fabric_manager(tmp_path: Path, state: str) -> None:
    # nvidia-smi -q, "Fabric" section (nvmlGpuFabricState_t)
    text = f"    Fabric\n        State                             : {state}\n        Status                            : N/A\n"
    assert _found(tmp_path, text)[:1] == ["nvidia.fabric-manager-not-running"]


def test_nvidia_smi_fabric_state_completed_is_clean(tmp_path: Path) -> None:
    text = "    Fabric\n        State                             : Completed\n        Status                            : Success\n"
    assert _found(tmp_path, text) == []


# ---- NCCL on interfaces created by Docker / libvirt / CNI --------------------------------------------------

# src/transport/net_socket.cc "NET/Socket : Using%s" with " [%d]%s:%s" per interface; src/bootstrap.cc
BRIDGED = (
    "n1:1:1 [0] NCCL INFO NET/Socket : Using [0]bond0:192.168.1.161<0> [1]br-05ab815fa14e:172.19.0.1<0>\n"
)


def test_bridge_interfaces_in_a_multi_node_run_are_the_wrong_interface(tmp_path: Path) -> None:
    text = (
        BRIDGED + "n1:1:1 [0] NCCL INFO comm 0x1 rank 0 nRanks 16 nNodes 2 localRanks 8 localRank 0 MNNVL 0\n"
    )
    assert _found(tmp_path, text)[:1] == ["network.wrong-interface"]


@pytest.mark.parametrize(
    "line",
    [
        "[12]veth6163fba:fe80::b878:6cff:fe52:abe2%veth6163fba<0>",
        "[3]br-dd40dc616638:172.30.0.1<0>",
        "n1:1:1 [0] NCCL INFO Bootstrap : Using br-d5d80d7dbbad:172.21.0.1<0>",
        "n1:1:1 [0] NCCL INFO Bootstrap: Using virbr0:192.168.122.1<0>",
    ],
)
def test_each_bridge_form_is_read_when_the_run_spans_nodes(tmp_path: Path, line: str) -> None:
    text = line + "\nnRanks 4 nNodes 2 localRanks 2\n"
    assert _found(tmp_path, text)[:1] == ["network.wrong-interface"]


def test_bridge_interfaces_on_one_node_are_harmless(tmp_path: Path) -> None:
    text = (
        BRIDGED + "n1:1:1 [0] NCCL INFO comm 0x1 rank 0 nRanks 2 nNodes 1 localRanks 2 localRank 0 MNNVL 0\n"
    )
    assert _found(tmp_path, text) == []
    assert "container bridge or veth interface" in _notes(tmp_path, text)


def test_docker0_is_not_read_as_a_compose_bridge(tmp_path: Path) -> None:
    # NCCL itself leaves out names starting with "docker" (findInterfaces("^docker,lo")): not this family
    text = "n1:1:1 [0] NCCL INFO NET/Socket : Using [0]eth0:10.0.0.2<0> [1]dockerx:172.17.0.1<0>\nnNodes 2\n"
    assert "network.wrong-interface" not in _found(tmp_path, text)


# ---- NCCL_SOCKET_IFNAME that matches nothing on one host ----------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        # nccl-tests common.cu NCCLCHECK with ncclGetErrorString(ncclInternalError), NCCL 2.12-2.21
        "h2: Test NCCL failure common.cu:959 'internal error - please report this issue to the NCCL developers / '",
        # torch ProcessGroupNCCL with ncclInvalidUsage, NCCL 2.22+
        "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, invalid usage (run with NCCL_DEBUG=WARN for details), NCCL version 2.23.4",
    ],
)
def test_socket_ifname_with_nccl_internal_error_is_the_interface(tmp_path: Path, error: str) -> None:
    text = "mpirun -np 2 -hostfile hosts -x NCCL_SOCKET_IFNAME=enp6s0 ./all_reduce_perf -g 2\n" + error + "\n"
    assert _found(tmp_path, text)[:1] == ["network.wrong-interface"]


def test_socket_ifname_with_a_bootstrap_line_is_not_read_as_the_interface(tmp_path: Path) -> None:
    # the host printed "Bootstrap : Using <if>": it found its interface; the internal error is something else
    text = (
        "n1:1:1 [0] NCCL INFO NCCL_SOCKET_IFNAME set by environment to eth0\n"
        "n1:1:1 [0] NCCL INFO Bootstrap : Using eth0:10.1.2.3<0>\n"
        "RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1191, internal error - please report this issue to the "
        "NCCL developers, NCCL version 2.18.1\n"
    )
    assert "network.wrong-interface" not in _found(tmp_path, text)


def test_nccl_internal_error_without_socket_ifname_names_no_interface(tmp_path: Path) -> None:
    text = "h2: Test NCCL failure common.cu:959 'internal error - please report this issue to the NCCL developers / '\n"
    assert "network.wrong-interface" not in _found(tmp_path, text)


# ---- error 35 with an nvidia-smi driver below every CUDA 11+ floor -------------------------------------------

BANNER = "| NVIDIA-SMI {v}                 Driver Version: {v}                    |\n"
ERR35 = "cuda runtime error (35) : CUDA driver version is insufficient for CUDA runtime version at THCGeneral.c:66\n"


@pytest.mark.parametrize("version", ["367.57", "384.111", "418.87.01", "450.51.06"])
def test_error_35_under_an_old_nvidia_smi_driver_is_the_driver(tmp_path: Path, version: str) -> None:
    assert _found(tmp_path, BANNER.format(v=version) + ERR35)[:1] == ["cuda.driver-too-old"]


@pytest.mark.parametrize("version", ["535.104.05", "580.65.06"])
def test_error_35_under_a_current_driver_stays_the_missing_driver_library(
    tmp_path: Path, version: str
) -> None:
    # measured on an H200 with driver 580: 35 when libcuda is absent (tests/test_explain_gpu_recorded.py)
    assert _found(tmp_path, BANNER.format(v=version) + ERR35)[:1] == ["device.nvidia-node-missing"]


def test_error_35_at_cuda11s_floor_follows_the_runtime_the_log_names(tmp_path: Path) -> None:
    # glearn39a (CTranslate2#1842): 450.80.02 is below CUDA 12's floor (525.60.13), which current wheels and images
    # need, so without a runtime version the old driver is first; a CUDA 11 runtime named keeps the missing library
    assert _found(tmp_path, BANNER.format(v="450.80.02") + ERR35)[:1] == ["cuda.driver-too-old"]
    cuda11 = "CUDA used to build PyTorch: 11.1\n"  # torch.utils.collect_env
    assert _found(tmp_path, cuda11 + BANNER.format(v="450.80.02") + ERR35)[:1] == ["device.nvidia-node-missing"]


# ---- precision: pidfd_open ENOSYS, 2015 Docker and --device directories -----------------------------------

ENOSYS = (
    "RuntimeError: The kernel on this machine does not support the pidfd_open syscall needed to use IPC for CUDA "
    "tensors when expandable_segments:True is set. Consider using expandable_segments:False via "
    "torch.cuda.memory._set_allocator_settings('expandable_segments:False') for this allocation.\n"
)


def test_pidfd_open_enosys_without_a_container_is_the_kernel(tmp_path: Path) -> None:
    # c10/cuda/CUDACachingAllocator.cpp: TORCH_CHECK(pidfd != -1 || errno != ENOSYS, ...): a host kernel < 5.3 is
    # cuda.ipc-pidfd-unsupported on bare metal too, as pidfd_getfd's ENOSYS is (one rule for both syscalls)
    assert _found(tmp_path, ENOSYS)[:1] == ["cuda.ipc-pidfd-unsupported"]


def test_pidfd_open_enosys_in_a_container_keeps_the_ipc_cause(tmp_path: Path) -> None:
    # In a container the ENOSYS is still a finding; since gnew21 it names the kernel/sandbox without the syscall
    # (cuda.ipc-pidfd-unsupported): Docker's seccomp refuses with EPERM (moby defaultErrnoRet 1), not ENOSYS
    text = "docker run --gpus all --rm trainer:latest\n" + ENOSYS
    assert _found(tmp_path, text)[:1] == ["cuda.ipc-pidfd-unsupported"]


def test_pidfd_open_eperm_is_still_the_seccomp_cause(tmp_path: Path) -> None:
    assert _found(tmp_path, "RuntimeError: pidfd_open:Operation not permitted\n")[:1] == [
        "cuda.ipc-pidfd-denied"
    ]


NOT_A_NODE = 'error gathering device information while adding custom device "/dev/dri": not a device node'


def test_a_2015_docker_client_refusing_a_device_directory_is_not_a_missing_node(tmp_path: Path) -> None:
    text = f"FATA[0125] Error response from daemon: Cannot start container 0a1b: {NOT_A_NODE}\n"
    assert _found(tmp_path, text) == []


def test_a_current_docker_refusing_an_empty_device_directory_is_a_missing_node(tmp_path: Path) -> None:
    # moby daemon/pkg/oci/devices_linux.go: a directory is walked and fails only when it holds no node
    text = f"docker: Error response from daemon: {NOT_A_NODE}.\n"
    assert _found(tmp_path, text)[:1] == ["device.host-node-absent"]


# ---- Kubernetes node advertising zero GPUs, ollama losing its GPU after idle --------------------------------


def test_a_node_with_zero_allocatable_gpus_is_the_device_plugin(tmp_path: Path) -> None:
    # kubectl describe node: "  <resource>:  <quantity>" under Capacity / Allocatable
    text = "Capacity:\n  cpu:                64\n  nvidia.com/gpu:     0\nAllocatable:\n  nvidia.com/gpu:     0\n"
    assert _found(tmp_path, text)[:1] == ["k8s.gpu-resource-unavailable"]


def test_a_node_with_gpus_is_clean(tmp_path: Path) -> None:
    assert (
        _found(tmp_path, "Capacity:\n  nvidia.com/gpu:     8\nAllocatable:\n  nvidia.com/gpu:     8\n") == []
    )


def test_ollama_context_800_after_idle_is_the_lost_cgroup_rules(tmp_path: Path) -> None:
    # ollama discover/gpu_info_nvcuda.c: "cuda driver library failed to get device context %d"
    text = (
        "cuda driver library failed to get device context 800time=2025-02-11T11:04:19.165-05:00 level=WARN "
        'source=gpu.go:449 msg="error looking up nvidia GPU memory"\n'
    )
    assert _found(tmp_path, text)[:1] == ["device.nvml-cgroup-lost"]


# ---- NUMA syscalls under seccomp: warnings and failures ------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "get_mempolicy: Operation not permitted",  # libnuma numa_error -> perror("get_mempolicy")
        "[W1121 23:44:54.000000000 utils.cpp:62] Warning: numa_migrate_pages failed. errno: 1 (function init_cpu_threads_env)",
        "[W utils.cpp:80] Warning: numa_set_membind failed. errno: 1 (function init_cpu_memory_env)",
    ],
)
def test_numa_warnings_alone_are_notes(tmp_path: Path, line: str) -> None:
    assert _found(tmp_path, line + "\n") == []
    assert "CAP_SYS_NICE" in _notes(tmp_path, line + "\n")


def test_numa_migrate_pages_as_an_error_is_still_the_seccomp_cause(tmp_path: Path) -> None:
    # vLLM csrc/cpu/utils.cpp before v0.7: TORCH_CHECK(false, "numa_migrate_pages failed. errno: ...")
    assert _found(tmp_path, "RuntimeError: numa_migrate_pages failed. errno: 1\n")[:1] == [
        "seccomp.numa-syscalls-denied"
    ]


def test_numa_warning_with_a_refused_membind_is_the_seccomp_cause(tmp_path: Path) -> None:
    text = "get_mempolicy: Operation not permitted\nset_mempolicy: Operation not permitted\n"
    assert _found(tmp_path, text)[:1] == ["seccomp.numa-syscalls-denied"]


# ---- RDMA: the container was given some of the host's verbs nodes --------------------------------------------


def test_fewer_uverbs_nodes_than_hcas_is_a_missing_ib_device(tmp_path: Path) -> None:
    text = "# ls /sys/class/infiniband\nmlx5_0  mlx5_1  mlx5_2  mlx5_3\n\n# ls /dev/infiniband/\nrdma_cm  uverbs0  uverbs2\n"
    assert _found(tmp_path, text)[:1] == ["rdma.ib-device-missing"]


def test_every_uverbs_node_present_is_clean(tmp_path: Path) -> None:
    text = "# ls /sys/class/infiniband\nmlx5_0  mlx5_1\n\n# ls /dev/infiniband/\nrdma_cm  uverbs0  uverbs1\n"
    assert _found(tmp_path, text) == []


# ---- NCCL on Docker's default bridge (172.17.0.0/16) ----------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "n1:1:1 [0] NCCL INFO Bootstrap : Using eth0:172.17.0.2<0>",  # src/bootstrap.cc v2.4-v2.21
        "n1:1:1 [0] NCCL INFO Bootstrap: Using eth0:172.17.0.2<0>",  # v2.22+
        "n1:1:1 [0] NCCL INFO NET/Socket : Using [0]eth0:172.17.0.3<0>",  # src/transport/net_socket.cc
    ],
)
def test_default_bridge_address_across_nodes_is_the_wrong_interface(tmp_path: Path, line: str) -> None:
    text = line + "\nn1:1:1 [0] NCCL INFO comm 0x1 rank 0 nRanks 16 nNodes 2 localRanks 8 localRank 0\n"
    assert _found(tmp_path, text)[:1] == ["network.wrong-interface"]


def test_default_bridge_address_on_one_node_is_harmless(tmp_path: Path) -> None:
    text = "n1:1:1 [0] NCCL INFO Bootstrap : Using eth0:172.17.0.2<0>\nnRanks 2 nNodes 1 localRanks 2\n"
    assert _found(tmp_path, text) == []


def test_a_routed_172_31_address_across_nodes_is_not_the_default_bridge(tmp_path: Path) -> None:
    # AWS's default VPC is 172.31.0.0/16: routed between instances
    text = "n1:1:1 [0] NCCL INFO Bootstrap : Using ens5:172.31.12.7<0>\nnRanks 16 nNodes 2 localRanks 8\n"
    assert "network.wrong-interface" not in _found(tmp_path, text)


# nvidia-smi's "CUDA Version" is the newest CUDA the driver runs; a program built for a later CUDA major cannot
# run on it (minor-version compatibility stays within a major: NVIDIA CUDA Compatibility guide)
SMI_535 = "| NVIDIA-SMI 535.104.05    Driver Version: 535.104.05    CUDA Version: 12.2     |\n"
ERR35_TORCH = "RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version\n"


@pytest.mark.parametrize(
    "built",
    [
        "CUDA used to build PyTorch: 13.0",  # torch/utils/collect_env.py
        "$ docker run --gpus all nvidia/cuda:13.0.1-devel-ubuntu24.04 ./deviceQuery",  # an image tag
        "CUDA Version 13.0.1",  # the nvidia/cuda entrypoint banner
    ],
)
def test_error_35_with_a_newer_cuda_major_than_the_driver_is_the_driver(tmp_path: Path, built: str) -> None:
    assert _found(tmp_path, SMI_535 + built + "\n" + ERR35_TORCH)[:1] == ["cuda.driver-too-old"]


def test_error_35_within_the_driver_cuda_major_keeps_the_missing_library(tmp_path: Path) -> None:
    text = SMI_535 + "CUDA used to build PyTorch: 12.4\n" + ERR35_TORCH
    assert _found(tmp_path, text)[:1] == ["device.nvidia-node-missing"]


# ---- CDI: no spec generated ------------------------------------------------------------------------------------


def test_nvidia_ctk_listing_no_cdi_device_is_the_toolkit(tmp_path: Path) -> None:
    # cmd/nvidia-ctk/cdi/list/list.go: logger.Infof("Found %d CDI devices", ...)
    assert _found(tmp_path, "INFO[0000] Found 0 CDI devices\n")[:1] == ["runtime.nvidia-toolkit-missing"]


def test_nvidia_ctk_listing_cdi_devices_is_clean(tmp_path: Path) -> None:
    text = "INFO[0000] Found 10 CDI devices\nnvidia.com/gpu=0\nnvidia.com/gpu=all\n"
    assert _found(tmp_path, text) == []


# systemctl status (systemctl-show.c print_status_info): the header names the unit, "Active:" its state
FM_STATUS = (
    "● nvidia-fabricmanager.service - NVIDIA fabric manager service\n"
    "     Loaded: loaded (/lib/systemd/system/nvidia-fabricmanager.service; enabled; vendor preset: enabled)\n"
    "     Active: failed (Result: exit-code) since Tue 2023-11-14 10:02:11 UTC; 5min ago\n"
)


def test_systemctl_status_of_a_failed_fabric_manager_on_hgx_is_named(tmp_path: Path) -> None:
    assert _found(tmp_path, "HGX H100 8-GPU node\n" + FM_STATUS)[:1] == ["nvidia.fabric-manager-not-running"]


def test_systemctl_status_of_a_stopped_fabric_manager_on_a_pcie_box_is_clean(tmp_path: Path) -> None:
    text = (
        "|   0  NVIDIA L40S                    On  | 00000000:01:00.0 Off |                    0 |\n"
        + FM_STATUS
    )
    assert _found(tmp_path, text) == []


def test_another_unit_failing_on_an_hgx_node_is_not_fabric_manager(tmp_path: Path) -> None:
    text = (
        "HGX A100 node\n● docker.service - Docker Application Container Engine\n"
        "     Active: failed (Result: exit-code) since Tue 2023-11-14 10:02:11 UTC; 5min ago\n"
    )
    assert "nvidia.fabric-manager-not-running" not in _found(tmp_path, text)
