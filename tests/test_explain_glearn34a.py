"""Issue 13, heldout34 lessons, the NVIDIA host stack (glearn34a).

Lines are written from the code that prints them (not copied from the heldout34 logs):
- nvidia-container-toolkit v1.3-v1.4 getDevices (pkg/container_config.go): log.Panicln("insufficient privileges to
  read device list from NVIDIA_VISIBLE_DEVICES envvar"); the toolkit's refusal setting (config.toml
  accept-nvidia-visible-devices-envvar-when-unprivileged, the installer's ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_
  UNPRIVILEGED) beside what the workload then sees;
- Fabric Manager's GlobalFabricManager / GlobalFMErrorHndlr config failures; gpud's fabric-manager component
  (components/accelerator/nvidia/fabric-manager/component.go); libibumad's umad_init / get_abi_version warning where
  Fabric Manager / NVLSM runs;
- CUDA's 802 from a multicast bind after CUDA started, and NVLS multicast objects used up by software: not the FM;
- the proprietary nvidia.ko on a GPU that needs the open kernel modules (NVRM message, RmInitAdapter failed with the
  proprietary flavour named; osinit.c 'RmInitAdapter failed! (0x%x:0x%x:%d)');
- moby's 'bind source path does not exist: %s' and Kubernetes' hostPath check for /usr/lib/wsl on a non-WSL host.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

ENV_IGNORED = "runtime.visible-devices-env-ignored"
FM_DOWN = "nvidia.fabric-manager-not-running"
FM_RESTARTED = "nvidia.fabric-manager-restarted"
FLAVOUR = "nvidia.driver-gpu-unsupported"
ABSENT = "device.host-node-absent"


# --- the toolkit's hook refusing the variable (v1.3.0-v1.4.x) ---
PANIC = "insufficient privileges to read device list from NVIDIA_VISIBLE_DEVICES envvar"


@pytest.mark.parametrize(
    "line",
    [
        "panic: " + PANIC,
        "time=2021-02-01T10:00:00Z level=error msg=\"OCI runtime create failed: container_linux.go:370: starting container"
        " process caused: process_linux.go:459: container init caused: Running hook #0:: error running hook: exit status"
        " 2, stdout: , stderr: panic: " + PANIC + "\"",
        "Error: " + PANIC,
    ],
)
def test_hook_panic_on_envvar_from_unprivileged_proves_it(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [(ENV_IGNORED, "proves")]


def test_habana_fork_of_the_hook_is_not_the_nvidia_toolkit(tmp_path: Path) -> None:
    line = "panic: insufficient privileges to read device list from HABANA_VISIBLE_DEVICES envvar\n"
    assert ENV_IGNORED not in causes(tmp_path, line)
    assert causes(tmp_path, line.replace("HABANA", "NVIDIA"))[:1] == [ENV_IGNORED]


# --- the refusal setting in the log beside what the workload sees ---
@pytest.mark.parametrize(
    "setting",
    [
        "accept-nvidia-visible-devices-envvar-when-unprivileged = false",
        "ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED=false",
        '    ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED: "false"',
        "The hardened nodes ignore NVIDIA_VISIBLE_DEVICES from unprivileged containers.",
        "GPU injection for unprivileged pods is disabled on this cluster.",
    ],
)
@pytest.mark.parametrize(
    "symptom",
    [
        "Failed to allocate device vector A (error code CUDA driver version is insufficient for CUDA runtime version)!",
        "RuntimeError: No CUDA GPUs are available",
        "Pods that set NVIDIA_VISIBLE_DEVICES=all received no GPUs.",
    ],
)
def test_refusal_setting_with_no_gpu_names_the_refusal(tmp_path: Path, setting: str, symptom: str) -> None:
    assert causes(tmp_path, setting + "\n" + symptom + "\n")[:1] == [ENV_IGNORED]


INSUFFICIENT = "Failed to allocate device vector A (error code CUDA driver version is insufficient for CUDA runtime version)!\n"


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        # the setting true: the variable is honoured, the symptom keeps its own readings
        (
            "accept-nvidia-visible-devices-envvar-when-unprivileged = true\nRuntimeError: No CUDA GPUs are available\n",
            "accept-nvidia-visible-devices-envvar-when-unprivileged = false\nRuntimeError: No CUDA GPUs are available\n",
        ),
        (
            "ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED=true\n" + INSUFFICIENT,
            "ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED=false\n" + INSUFFICIENT,
        ),
        # the insufficient-driver line alone: a container without a GPU or an old driver, not this
        (INSUFFICIENT, "Our nodes ignore NVIDIA_VISIBLE_DEVICES from unprivileged containers.\n" + INSUFFICIENT),
        # a report of no GPU by the variable, without the refusal: no runtime class, toolkit missing, ...
        (
            "Pods that set NVIDIA_VISIBLE_DEVICES=all received no GPUs.\n",
            "Pods that set NVIDIA_VISIBLE_DEVICES=all received no GPUs.\nGPU injection works only for privileged pods, not unprivileged pods.\n",
        ),
    ],
)
def test_without_the_refusal_setting_it_is_not_named(tmp_path: Path, text: str, refused: str) -> None:
    assert ENV_IGNORED not in causes(tmp_path, text)
    assert causes(tmp_path, refused)[:1] == [ENV_IGNORED]


def test_refusal_setting_in_a_healthy_config_stays_clean(tmp_path: Path) -> None:
    text = (
        "[nvidia-container-cli]\n"
        "accept-nvidia-visible-devices-as-volume-mounts = true\n"
        "accept-nvidia-visible-devices-envvar-when-unprivileged = false\n"
        "| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |\n"
        "Test PASSED\n"
    )
    assert causes(tmp_path, text) == []
    assert causes(tmp_path, text.replace("Test PASSED", "RuntimeError: No CUDA GPUs are available"))[:1] == [ENV_IGNORED]


# --- Fabric Manager's own configuration failure ---
@pytest.mark.parametrize(
    "line",
    [
        "[Mar 03 2026 04:05:06] [ERROR] [tid 3141] not all local fabric manager instances finished their configuration",
        "[Mar 03 2026 04:05:06] [ERROR] [tid 3141] fabric manager error handler is called for unhandled config error type 4",
        "[Mar 03 2026 04:05:06] [ERROR] [tid 3141] failed to configure all the available GPUs or NVSwitches",
        "nv-fabricmanager[1207]: Failed to configure all the available GPUs or NVSwitches.",
        "[ERROR] failed to configure local fabric manager node id 0",
    ],
)
def test_fabric_manager_config_failure_names_it(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == [FM_DOWN]


def test_healthy_fabric_manager_log_stays_clean(tmp_path: Path) -> None:
    text = (
        "[Mar 03 2026 04:05:06] [INFO] [tid 3141] Fabric Manager version 570.133.20 is running with the following configuration options\n"
        "[Mar 03 2026 04:05:07] [INFO] [tid 3141] Successfully configured all the available GPUs and NVSwitches to route NVLink traffic.\n"
        "[Mar 03 2026 04:05:07] [INFO] [tid 3141] successfully setup multicast team for request id 7.\n"
    )
    assert causes(tmp_path, text) == []
    failed = text + "[Mar 03 2026 04:06:07] [ERROR] [tid 3141] not all local fabric manager instances finished their configuration\n"
    assert causes(tmp_path, failed)[:1] == [FM_DOWN]


# --- gpud's fabric-manager component ---
@pytest.mark.parametrize(
    "line",
    [
        '"reason": "NVIDIA-H200 checked fabric state; fabric manager found but not active",',
        "accelerator-nvidia-fabric-manager  Unhealthy  fabric manager found but not active",
        '"reason": "fabric manager supported but nv-fabricmanager executable not found"',
    ],
)
def test_gpud_fabric_manager_inactive_names_it(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == [FM_DOWN]


@pytest.mark.parametrize(
    "line",
    [
        '"reason": "fabric manager found and active"',
        '"reason": "NVIDIA-L40S does not support fabric manager"',
        '"reason": "NVSwitch not detected, skipping fabric manager check"',
        '"reason": "fabric manager has nothing to do (no NVSwitch devices)"',
    ],
)
def test_gpud_healthy_fabric_manager_states_stay_clean(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n") == []
    unhealthy = line + "\n" + '"reason": "NVIDIA-H100-80GB-HBM3 checked fabric state; fabric manager found but not active"\n'
    assert causes(tmp_path, unhealthy)[:1] == [FM_DOWN]


# --- NVLSM needs ib_umad (NVLink5 / Blackwell) ---
UMAD = "umad_init: can't read ABI version from /sys/class/infiniband_mad/abi_version (No such file or directory): is ib_umad module loaded?"
UMAD2 = "get_abi_version: can't read ABI version from /sys/class/infiniband_mad/abi_version (No such file or directory): is ib_umad module loaded?"


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.7: nvlsm: ibwarn: [22] " + UMAD,
        "nvidia-fabricmanager-start.sh[812]: starting NVLSM \nibwarn: [812] " + UMAD2,
        "ext-nvidia-fabricmanager keeps restarting:\nibwarn: [15] " + UMAD,
    ],
)
def test_umad_missing_where_fabric_manager_runs_names_it(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text + "\n")[:1] == [FM_DOWN]


def test_umad_missing_from_an_infiniband_tool_alone_is_not_fabric_manager(tmp_path: Path) -> None:
    text = "$ ibstat\nibwarn: [4260] " + UMAD + "\nibpanic: [4260] main: can't init UMAD library: (No such file or directory)\n"
    assert FM_DOWN not in causes(tmp_path, text)
    assert causes(tmp_path, "systemctl status nvidia-fabricmanager\n" + text)[:1] == [FM_DOWN]


# --- 802 at a multicast bind, and multicast objects used up by software: not the fabric manager ---
@pytest.mark.parametrize(
    "text",
    [
        "On an 8x B200 host (Fabric Manager 580.82.07 running) two ranks got cuMulticastBindMem() -> CUDA error 802 'system not yet initialized'.",
        "node3:77:91 [2] transport/nvls.cc:287 NCCL WARN Failed to bind NVLink SHARP (NVLS) Multicast memory of size 4194304 : CUDA error 802 'system not yet initialized'.",
        "cuMulticastCreate returned CUDA_ERROR_SYSTEM_NOT_READY on rank 5 of 8 (HGX B200)",
        "/opt/nvshmem/src/host/team/team_internal_nvls.cpp:220: non-zero status: 802 cuMulticastBindMem failed for mem_handle 0x7f10 mc_offset 0 on device 3\n"
        "NCCL_NVLS_ENABLE=1 on an HGX H100",
        "rank 2: cuMulticastBindMem() -> CUDA error\n802 \"system not yet initialized\"",
    ],
)
def test_802_at_multicast_bind_is_not_a_missing_fabric_manager(tmp_path: Path, text: str) -> None:
    assert FM_DOWN not in causes(tmp_path, text + "\n")


def test_802_at_cuda_init_on_nvswitch_still_names_fabric_manager(tmp_path: Path) -> None:
    text = "NVIDIA H100 80GB HBM3\nRuntimeError: Unexpected error from cudaGetDeviceCount(). Error 802: system not yet initialized\n"
    assert causes(tmp_path, text)[:1] == [FM_DOWN]
    bind = "NVIDIA H100 80GB HBM3\nrank 3: cuMulticastBindMem() -> CUDA error 802 'system not yet initialized'\n"
    assert FM_DOWN not in causes(tmp_path, bind)


@pytest.mark.parametrize(
    "words",
    [
        "the fusion kernel exhausts NVSwitch multicast handle slots, so the trainer's NCCL init fails",
        "multicast handles are not released when the server sleeps",
        "we ran out of NVLS multicast objects after the second engine started",
    ],
)
def test_nvls_bind_with_multicast_used_up_by_software_is_not_the_fabric(tmp_path: Path, words: str) -> None:
    text = words + "\nNCCL WARN Failed to bind NVLink SHARP (NVLS) Multicast memory of size 2097152 : CUDA error 401 'the operation cannot be performed in the present state'.\n"
    got = causes(tmp_path, text)
    assert FM_RESTARTED not in got and FM_DOWN not in got
    assert any("used up by software" in n for n in notes(tmp_path, text))


def test_nvls_bind_alone_still_suggests_the_fabric(tmp_path: Path) -> None:
    text = "NCCL WARN Failed to bind NVLink SHARP (NVLS) Multicast memory of size 2097152 : CUDA error 401 'the operation cannot be performed in the present state'.\n"
    assert causes(tmp_path, text)[:1] == [FM_RESTARTED]
    used_up = "SGLang's allreduce fusion exhausts the NVSwitch multicast slots.\n" + text
    assert FM_RESTARTED not in causes(tmp_path, used_up)


# --- the kernel module flavour: Blackwell needs the open modules ---
@pytest.mark.parametrize(
    "text",
    [
        "NVRM: The NVIDIA GPU 0000:01:00.0 (PCI ID: 10de:2b85)\nNVRM: installed in this system requires use of the NVIDIA open kernel modules.",
        "[    4.120001] NVRM: The NVIDIA GPU 000f:01:00.0 (PCI ID: 10de:2e12) installed in this system requires use of the NVIDIA open kernel modules.",
        "The proprietary kernel module is loaded:\nNVRM: GPU 0009:01:00.0: RmInitAdapter failed! (0x62:0x1a:2631)",
        "Installed the closed-source driver 580.95.05.\n[ 30.1] NVRM: GPU 0000:41:00.0: RmInitAdapter failed! (0x22:0x56:884)",
    ],
)
def test_gpu_needing_the_open_modules_names_the_flavour(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text + "\n")[:1] == [FLAVOUR]


def test_rm_init_adapter_alone_is_not_the_flavour(tmp_path: Path) -> None:
    text = "NVRM: GPU 0000:3b:00.0: RmInitAdapter failed! (0x26:0xffff:1474)\nNVRM: Xid (PCI:0000:3b:00): 79, pid=0, GPU has fallen off the bus.\n"
    assert FLAVOUR not in causes(tmp_path, text)
    assert FLAVOUR in causes(tmp_path, "with the proprietary kernel modules of 580.105.08:\n" + text)


# --- the WSL driver path mapped on a native Linux host ---
@pytest.mark.parametrize(
    "line",
    [
        'docker: Error response from daemon: invalid mount config for type "bind": bind source path does not exist: /usr/lib/wsl.',
        '500 Server Error for http+docker://localhost/v1.47/containers/create: Bad Request ("invalid mount config for type "bind": bind source path does not exist: /usr/lib/wsl/lib")',
        'Warning  FailedMount  kubelet  MountVolume.SetUp failed for volume "wsl-libs" : hostPath type check failed: /usr/lib/wsl is not a directory',
    ],
)
def test_wsl_driver_path_absent_names_host_path_absent(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [(ABSENT, "proves")]


def test_other_missing_bind_source_stays_a_data_path(tmp_path: Path) -> None:
    line = 'Error response from daemon: invalid mount config for type "bind": bind source path does not exist: /srv/wslbackup\n'
    assert ABSENT not in causes(tmp_path, line)
    assert causes(tmp_path, line.replace("/srv/wslbackup", "/usr/lib/wsl"))[:1] == [ABSENT]


def test_healthy_wsl_mount_lines_stay_clean(tmp_path: Path) -> None:
    text = "docker run --gpus all --device /dev/dxg -v /usr/lib/wsl:/usr/lib/wsl -e LD_LIBRARY_PATH=/usr/lib/wsl/lib img\nGPU 0: NVIDIA GeForce RTX 4090\n"
    assert causes(tmp_path, text) == []
    refused = text + 'docker: Error response from daemon: invalid mount config for type "bind": bind source path does not exist: /usr/lib/wsl\n'
    assert causes(tmp_path, refused)[:1] == [ABSENT]
