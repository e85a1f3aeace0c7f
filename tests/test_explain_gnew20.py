"""Issue 13, gnew20: causes the catalogue lacked (heldout20's collectors' uncovered threads), read in the code
that prints them. Lines are written from the format strings, not copied from a log.

- xpu.runtime-too-old-for-gpu: intel/compute-runtime shared/source/os_interface/linux/drm_neo.cpp
  Drm::setupHardwareInfo (@26.31.39395.13; Drm::create in drm_neo_create.cpp before) prints, under
  NEOReadDebugKeys=1 PrintDebugMessages=1, "FATAL: Unknown device: deviceId: %04x, revisionId: %04x\\n" for a PCI id
  missing from shared/source/dll/devices/devices_base.inl (0xE20B B580 from 24.31, 0xB080 Panther Lake from 25.05,
  0xE211 Arc Pro B60 from 25.18, 0xE223 Arc Pro B70 from 25.27). Ids of Gen8-Gen11 GPUs (moved to the legacy1
  runtime) print the same words and mean the reverse; "WARNING: Using default deviceId: %i for ip version: %i.%i.%i
  for setup" is the newer runtime handling an unknown id by its IP version (the device works).
- runtime.jetson-gpus-flag: NVIDIA/nvidia-container-toolkit cmd/nvidia-container-runtime-hook hook_config.go
  assertModeIsLegacy (@v1.18+; main.go log.Panicln @v1.12-v1.17) refuses every mode but legacy with "invoking the
  NVIDIA Container Runtime Hook directly (e.g. specifying the docker --gpus flag) is not supported. Please use the
  NVIDIA Container Runtime (e.g. specify the --runtime=nvidia flag) instead"; internal/info/auto.go
  ResolveRuntimeMode logs "Auto-detected mode as '%v'" / "Using requested mode '%s'" first, and resolves csv only on
  Tegra without NVML or with the nvgpu module (Jetson/IGX).
- rdma.port-down: NVIDIA/nccl ncclIbAsyncThreadMain prints libibverbs' event string (rdma-core enum_strs.c
  [IBV_EVENT_PORT_ERR] = "port error"): "NET/IB : Got async event : %s" (v2.7-v2.19), "NET/IB : %s:%d Got async
  event : %s" (v2.20-v2.22), "NET/IB : %s:%d Got async error event: %s" (v2.23-v2.28.3), "NET/IB : %s:%d Got
  non-fatal async event: %s(%d)" (v2.28.7+). "port active" is the link coming back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings
from tpdoctor.model import catalog

NEW = {"xpu.runtime-too-old-for-gpu", "runtime.jetson-gpus-flag", "rdma.port-down"}


def _known() -> None:
    # the neighbours below are checked against ids this pass adds: they must exist for the check to mean anything
    assert NEW <= set(catalog()), sorted(NEW - set(catalog()))

HOOK_V118 = ("invoking the NVIDIA Container Runtime Hook directly (e.g. specifying the docker --gpus flag) is not "
             "supported. Please use the NVIDIA Container Runtime (e.g. specify the --runtime=nvidia flag) instead")
# v1.12-v1.17: log.Panicln adds the trailing period, then Go's panic
HOOK_V112 = HOOK_V118 + ".\npanic: " + HOOK_V118 + ".\n\ngoroutine 1 [running]:\n"
DOCKER = ("docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
          "runtime create failed: runc create failed: unable to start container process: error during container init: "
          "error running prestart hook #0: exit status 1, stdout: , stderr: ")


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # NEO's debug print for a Battlemage G21 id (B570, 0xE20C) in an image older than 24.31
        ("FATAL: Unknown device: deviceId: e20c, revisionId: 0000\n", "xpu.runtime-too-old-for-gpu", "proves"),
        # Arc Pro B70 (BMG-G31 0xE223) in a 25.18 image: sycl-ls then lists only the CPU
        ("$ NEOReadDebugKeys=1 PrintDebugMessages=1 sycl-ls\nFATAL: Unknown device: deviceId: e223, revisionId: 0000\n"
         "[opencl:cpu][opencl:0] Intel(R) OpenCL, Intel(R) Xeon(R) w5-2455X OpenCL 3.0 (Build 0) [2025.20.6.0.04]\n",
         "xpu.runtime-too-old-for-gpu", "proves"),
        # Panther Lake (0xB080) before 25.05, then torch.xpu finds nothing
        ("FATAL: Unknown device: deviceId: b080, revisionId: 0004\nRuntimeError: No XPU devices are available.\n",
         "xpu.runtime-too-old-for-gpu", "proves"),
        # --gpus on a Jetson: the hook's auto-detection says csv (v1.18+ wording, docker's prefix)
        (DOCKER + "Auto-detected mode as 'csv'\n" + HOOK_V118 + ": unknown\n", "runtime.jetson-gpus-flag", "proves"),
        # csv requested explicitly in config.toml; v1.12-v1.17's panic form
        ("Using requested mode 'csv'\n" + HOOK_V112, "runtime.jetson-gpus-flag", "proves"),
        # no mode line, but the log is from a Jetson (jetson-containers' environment / an L4T image)
        ("declare -x JETSON_L4T=\"36.4.3\"\n$ docker run --gpus all dustynv/l4t-pytorch:r36.4.0\n" + DOCKER + HOOK_V118
         + ": unknown\n", "runtime.jetson-gpus-flag", "suggests"),
        # NCCL's IB async event, each version's wording (the device name and port since v2.20)
        ("n1:100:200 [0] NCCL WARN NET/IB : Got async event : port error\n", "rdma.port-down", "suggests"),
        ("n1:100:200 [0] transport/net_ib.cc:103 NCCL WARN NET/IB : mlx5_3:1 Got async event : port error\n",
         "rdma.port-down", "suggests"),
        ("n1:100:200 [0] transport/net_ib.cc:171 NCCL WARN NET/IB : mlx5_3:1 Got async error event: port error\n",
         "rdma.port-down", "suggests"),
        ("n1:100:200 [0] transport/net_ib/common.cc:180 NCCL WARN NET/IB : mlx5_3:1 Got non-fatal async event: port "
         "error(10)\n", "rdma.port-down", "suggests"),
    ],
)
def test_a_new_cause_is_named_first(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    "text",
    [
        # an unknown id of a Gen9 (Kaby Lake 0x5912) or Gen9.5 (Comet Lake 0x9BCA) iGPU: the runtime dropped old GPUs
        "FATAL: Unknown device: deviceId: 5912, revisionId: 0004\n",
        "FATAL: Unknown device: deviceId: 9bca, revisionId: 0000\n",
        # the newer runtime's fallback by IP version: the device works
        "WARNING: Using default deviceId: 57888 for ip version: 20.1.0 for setup\n",
        # NEO's other debug lines at start-up
        "WARNING: Failed to request OCL Turbo Boost\n",
        # a healthy csv-mode start (the runtime, not the hook) and Jetson named without any failure
        "Auto-detected mode as 'csv'\nUsing NVIDIA Container Runtime in csv mode on NVIDIA Jetson AGX Orin\n",
        # the link back up, and other non-fatal IB events of a healthy NCCL_DEBUG=INFO run
        "n1:100:200 [0] NCCL WARN NET/IB : mlx5_3:1 Got non-fatal async event: port active(9)\n",
        "n1:100:200 [0] NCCL WARN NET/IB : mlx5_3:1 Got async event : LID change\n",
        "n1:100:200 [0] NCCL WARN NET/IB : mlx5_3:1 GID table changed\n",
        "n1:100:100 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB [1]mlx5_3:1/IB ; OOB eth0:10.0.0.1<0>\n",
        # the same symptom (a QP that cannot connect) without the port event: a routing/GID problem as often
        "n1:100:200 [0] misc/ibvwrap.cc:187 NCCL WARN Call to ibv_modify_qp failed with 110 Connection timed out, on "
        "dev mlx5_3:1, curr state INIT, next state RTR, local GID index 3, local GID ::ffff:10.0.0.1, remote GID "
        "::ffff:10.0.0.2\n",
    ],
)
def test_neighbours_stay_clear_of_the_new_causes(tmp_path: Path, text: str) -> None:
    _known()
    found = findings(tmp_path, text)
    assert not {c for c, _ in found} & NEW, found


def test_small_bar_stays_resizable_bar(tmp_path: Path) -> None:
    _known()
    # the same symptom (no XPU) with another cause: compute-runtime's small-BAR warning
    found = causes(tmp_path, "WARNING: Small BAR detected for device 0000:03:00.0\nRuntimeError: No XPU devices are "
                             "available.\n")
    assert found and found[0] == "xpu.resizable-bar-disabled", found
    assert "xpu.runtime-too-old-for-gpu" not in found


def test_hook_refusal_in_cdi_mode_is_not_jetson(tmp_path: Path) -> None:
    _known()
    # mode = "cdi" on an x86 host: the same refusal, another reading (gnew33a: its own id, runtime.hook-direct-unsupported,
    # where it was the toolkit-mode guess runtime.nvidia-toolkit-missing before)
    found = causes(tmp_path, DOCKER + "Using requested mode 'cdi'\n" + HOOK_V118 + ": unknown\n")
    assert "runtime.jetson-gpus-flag" not in found
    assert found and found[0] == "runtime.hook-direct-unsupported", found


def test_jetson_without_the_hook_refusal_is_not_the_flag(tmp_path: Path) -> None:
    _known()
    # on a Jetson, an engine without the nvidia runtime registered: another problem than --gpus
    found = causes(tmp_path, "NVIDIA Jetson Orin Nano (JetPack 6.1)\ndocker: Error response from daemon: unknown or "
                             "invalid runtime name: nvidia.\n")
    assert "runtime.jetson-gpus-flag" not in found


def test_csv_mode_drops_the_missing_toolkit_reading(tmp_path: Path) -> None:
    _known()
    found = causes(tmp_path, "Auto-detected mode as 'csv'\n" + HOOK_V118 + "\n")
    assert "runtime.nvidia-toolkit-missing" not in found, found
