"""Issue 13, heldout45 lessons (glearn45a): NVIDIA driver/runtime versions and HPC schedulers.

Lines are written from the code that prints them (not copied from the heldout45 logs):
- Triton-distributed scripts/launch.sh: "WARNING: NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME=<if> does not exist..."; NVSHMEM
  bootstrap_uid.cpp bootstrap_net_init BOOTSTRAP_ERROR_PRINT ("%s:%s:%d: " file, function, line) "No socket interface
  found" / "No usable listening interface found";
- NVSHMEM IB transports (transport_ib_common.cpp NVSHMEMI_NULL_ERROR_JMP "mem registration failed[. Reason: %s]",
  ibrc/ibgda/ibdevx "non-zero status: %d Unable to register memory handle."): GPU memory registration without
  nvidia_peermem; a memlock refusal ("Reason: Cannot allocate memory") is not the peer-memory module;
- CUDAnative.jl's toolkit check: "CUDA $v is not supported by\\n your driver (which supports up to $d)" and
  "You are using CUDA toolkit $v with a driver that only supports up to $d.";
- cudaErrorSystemNotReady's string quoted on its own ("system not yet initialized") -> Fabric Manager;
- SegAlign "Error: No GPU device found!" and a Toil job issued with "accelerators: []" -> slurm.job-without-gpu.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes, causes, findings

# --- NVSHMEM UID bootstrap interface ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # launch.sh: echo -e "${YELLOW}${BOLD}${WARN_ICON} WARNING: ${RESET}${BOLD}${RESET} NVSHMEM_..._IFNAME=${IF} does not exist..."
        "\u26a0\ufe0f WARNING:  NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME=ib0 does not exist...",
        "\x1b[33m\x1b[1m WARNING: \x1b[0m\x1b[1m\x1b[0m NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME=enp1s0f0 does not exist...",
        # NVSHMEM's own error when no interface matches IFNAME/FAMILY, and with a session id's subnet
        "/usr/local/nvshmem/src/modules/bootstrap/uid/bootstrap_uid.cpp:bootstrap_net_init:160: No socket interface found",
        # (its twin 'bootstrap_net_init:148: No usable listening interface found' was already named before glearn45a)
    ],
)
def test_nvshmem_uid_bootstrap_interface_missing(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text + "\n")[:1] == ["network.wrong-interface"]


@pytest.mark.parametrize(
    "text",
    [
        # NVSHMEM_DEBUG=INFO when the variable is set and found
        "NVSHMEM INFO NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME set by environment to eth0",
        "NVSHMEM INFO NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME set to bond0",
        "export NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME=eth0",
        # a different tool's sentence without the bootstrap function
        "No socket interface found matching the filter, using loopback for the local test",
    ],
)
def test_nvshmem_uid_interface_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "network.wrong-interface" not in all_causes(tmp_path, text + "\n")


# --- NVSHMEM IB memory registration without nvidia_peermem ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # NVSHMEM 2.x path, no reason printed
        "/build/nvshmem/src/comm/transports/common/transport_ib_common.cpp:58: NULL value mem registration failed",
        # NVSHMEM 3.x: reason from errno
        "/opt/nvshmem/src/modules/transport/common/transport_ib_common.cpp:129: NULL value mem registration failed. Reason: Bad address",
        "src/modules/transport/ibrc/ibrc.cpp:422: NULL value mem registration failed ",
        "src/modules/transport/ibrc/ibrc.cpp:487: non-zero status: 2 Unable to register memory handle.",
        "src/modules/transport/ibgda/ibgda.cpp:756: non-zero status: 7 Unable to register memory handle.",
    ],
)
def test_nvshmem_ib_mem_registration_suggests_peermem(tmp_path: Path, text: str) -> None:
    assert ("rdma.gdr-module-missing", "suggests") in findings(tmp_path, text + "\n")


@pytest.mark.parametrize(
    "text",
    [
        # ENOMEM from ibv_reg_mr is the memlock limit, not the peer-memory module
        "src/modules/transport/common/transport_ib_common.cpp:129: NULL value mem registration failed. Reason: Cannot allocate memory",
        # other software's registration wording, not NVSHMEM's transports
        "ucp_mem_map: mem registration failed for the bounce buffer, retrying with a smaller size",
    ],
)
def test_registration_neighbours_do_not_name_peermem(tmp_path: Path, text: str) -> None:
    assert "rdma.gdr-module-missing" not in all_causes(tmp_path, text + "\n")


# --- CUDAnative.jl toolkit newer than the driver -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # error("""\n CUDA $major.$minor is not supported by\n your driver (which supports up to $d.major.$d.minor)""")
        "ERROR: LoadError: CUDA 10.1 is not supported by\nyour driver (which supports up to 9.2)",
        # @warn through Julia's logger (box-drawing prefixes)
        "\u250c Warning: CUDA 11.0 is not supported by\n\u2502 your driver (which supports up to 10.2)\n\u2514 @ CUDAnative ~/.julia/packages/CUDAnative/Lr0yj/src/compatibility.jl:196",
        "\u250c Warning: You are using CUDA toolkit 10.2.89 with a driver that only supports up to 10.1.\n"
        "\u2502 It is recommended to upgrade your driver, or switch to automatic installation of CUDA.",
    ],
)
def test_cudanative_toolkit_newer_than_driver(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text + "\n")[:1] == ["cuda.driver-too-old"]


def test_cudanative_supported_toolkit_stays_clean(tmp_path: Path) -> None:
    text = "[ Info: CUDA toolkit 10.0.130, artifact installation\n[ Info: CUDA driver 10.2.0, supports up to CUDA 10.2\n"
    assert "cuda.driver-too-old" not in all_causes(tmp_path, text)


# --- CUDA 802's string quoted without its code ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "dorado aborts with the exception `system not yet initialized` on the p4d.24xlarge host",
        "podman logs show the warning 'system not yet initialized' right after start-up",
        'the worker died with "system not yet initialized".',
    ],
)
def test_quoted_802_string_suggests_fabric_manager(tmp_path: Path, text: str) -> None:
    assert ("nvidia.fabric-manager-not-running", "suggests") in findings(tmp_path, text + "\n")


@pytest.mark.parametrize(
    "text",
    [
        "INFO  scheduler: system not yet initialized, waiting for the config service",
        "[pool] logging system not yet initialized; buffering 12 records",
    ],
)
def test_unquoted_not_yet_initialized_prose_stays_clean(tmp_path: Path, text: str) -> None:
    assert "nvidia.fabric-manager-not-running" not in all_causes(tmp_path, text + "\n")


# --- SegAlign / Toil: a job that asked for no GPU --------------------------------------------------------------------

ISSUED = (
    "[2024-03-02T09:12:44+0000] [MainThread] [I] [toil.leader] Issued job 'LastzRepeatMaskJob' "
    "kind-LastzRepeatMaskJob/instance-3x7kq0ab v1 with job batch system ID: 41 and disk: 4.0 Gi, memory: 8.0 Gi, "
    "cores: 4, accelerators: {acc}, preemptible: False"
)
NO_GPU = "Command ['singularity', 'run', 'cactus-gpu.sif', 'segalign_repeat_masker'] exited 1: stderr=Using 4 threads\n\tError: No GPU device found!"


def test_segalign_no_gpu_alone_is_no_gpu(tmp_path: Path) -> None:
    assert "device.no-gpu" in all_causes(tmp_path, "Error: No GPU device found!\n")


def test_toil_job_without_accelerators_names_the_missing_request(tmp_path: Path) -> None:
    text = ISSUED.format(acc="[]") + "\n" + NO_GPU + "\n"
    assert causes(tmp_path, text)[:1] == ["slurm.job-without-gpu"]


def test_toil_job_with_accelerators_is_not_a_missing_request(tmp_path: Path) -> None:
    text = ISSUED.format(acc="[{'count': 1, 'kind': 'gpu', 'api': 'cuda'}]") + "\n" + NO_GPU + "\n"
    assert "slurm.job-without-gpu" not in all_causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # a CPU job issued without accelerators that succeeded
        ISSUED.format(acc="[]") + "\n[toil.leader] Job ended: 'LastzRepeatMaskJob' kind-LastzRepeatMaskJob/instance-3x7kq0ab v3",
        # other tools' CPU-fallback wording
        "[WARN] No GPU device found! Use CPU.",
        "No GPU Device found! switching to CPU mode.",
    ],
)
def test_no_gpu_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text + "\n") == []


# --- dorado's CUDA_VISIBLE_DEVICES count check ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # spdlog::error("CUDA_VISIBLE_DEVICES={} specifies more device ids than the number of GPUs present", env)
        "[2025-03-04 14:21:09.002] [error] CUDA_VISIBLE_DEVICES=0,1 specifies more device ids than the number of GPUs present\n"
        "[2025-03-04 14:21:09.002] [error] Invalid device ids",
        "[error] CUDA_VISIBLE_DEVICES=GPU-5b1c9e2a-77f0-4c1e-9a3d-2f6e0d9b8c41,GPU-0e7d3b6f-1a2c-4d5e-8f90-a1b2c3d4e5f6 "
        "specifies more device ids than the number of GPUs present",
    ],
)
def test_dorado_visible_devices_more_than_gpus(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text + "\n")[:1] == ["cuda.visible-devices-mismatch"]


def test_dorado_bare_invalid_device_ids_is_left_alone(tmp_path: Path) -> None:
    # hard case (dorado#1469): without the line above it the exception text cannot say which check failed
    assert "cuda.visible-devices-mismatch" not in all_causes(tmp_path, "[error] Invalid device ids\n")
