"""Issue 13, gnew31b: cause ids for container/host causes earlier blind rounds' collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- rdma.netns-exclusive: Mellanox/k8s-rdma-shared-dev-plugin cmd/k8s-rdma-shared-dp/main.go
  ('Exiting.. can not change : %v') with resources_manager.go ValidateRdmaSystemMode's error ('incorrect RDMA subsystem
  network namespace'); iproute2 rdma/sys.c ('netns %s ' with exclusive/shared, then 'copy-on-fork %s'), the command
  'rdma system set netns exclusive' (rdma-system(8)) and the ib_core module option netns_mode=0, beside NCCL's
  'NET/IB : No device found.' (k8s-rdma-shared-dev-plugin#84, #87).
- rdma.device-plugin-no-devices: the same plugin's resources_manager.go InitServers ('Warning: no devices in device pool,
  creating empty resource server for %s'), server.go ('Warning: no Rdma Devices were found for resource %s',
  'exposing "%d" devices') and GetDevices' 'error creating new device: %q' of pci_net_device.go's 'missing RDMA device
  spec for device %s, %v' with rdma_device_spec.go's 'RDMA device %q not found' (#44, #94, #103, #192).
- capability.gpu-admin-denied: nvidia-smi's setter failures '<Failed|Unable> to <verb> ... for GPU <bus id>: <NVML
  error string>' with NVML_ERROR_NO_PERMISSION's 'Insufficient Permissions' (NVIDIA/nvidia-docker#495), go-nvml's
  'unable to set power management limit for GPU %d: %v', and pynvml's NVMLError_NoPermission raised through an
  nvmlDeviceSet* frame.
- network.gke-tcpxo-extra-nic: GPUDirect-TCPXO RxDM's 'Number of GPUs detected N is not equal to the actual number of
  GPUs M' (glog prefix, fastrak_gpumem_manager.cc) (NVIDIA/aicr#420 and its gke-tcpxo-networking.md,
  GoogleCloudPlatform/container-engine-accelerators#580).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_NETNS = "rdma.netns-exclusive"
_POOL = "rdma.device-plugin-no-devices"
_ADMIN = "capability.gpu-admin-denied"
_TCPXO = "network.gke-tcpxo-extra-nic"

# a healthy two-node NCCL_DEBUG=INFO start over IB
_HEALTHY_NCCL = (
    "node1:2211:2211 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.11<0>\n"
    "node1:2211:2211 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB [1]mlx5_1:1/IB ; OOB eth0:10.0.0.11<0>\n"
    "node1:2211:2211 [0] NCCL INFO Using network IB\n"
    "node1:2211:2290 [0] NCCL INFO comm 0x55d1 rank 0 nranks 16 cudaDev 0 nvmlDev 0 busId 18000 commId 0x9a - Init START\n"
    "node1:2211:2290 [0] NCCL INFO Channel 00/0 : 15[7] -> 0[0] [receive] via NET/IB/0/GDRDMA\n"
    "node1:2211:2290 [0] NCCL INFO comm 0x55d1 rank 0 nranks 16 cudaDev 0 nvmlDev 0 busId 18000 commId 0x9a - Init COMPLETE\n"
)


def test_the_new_signatures_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "rdma.shared-plugin-netns-exclusive", "rdma.netns-exclusive-shown", "rdma-netns-exclusive-no-device",
        "rdma.shared-plugin-empty-pool", "rdma.shared-plugin-missing-spec", "rdma-plugin-exposing",
        "nvsmi.admin-set-no-permission", "nvml.setter-called", "gpu-admin-setter-no-permission",
        "gpu-admin-setter-not-selinux", "gpu-admin-setter-not-group", "gpu-admin-setter-not-userns",
        "tcpxo.rxdm-gpu-count-short",
    ):
        assert sid in got, sid


# --- rdma.netns-exclusive -----------------------------------------------------------------------------------------

# main.go: log.Fatalf("Exiting.. can not change : %v", err), Go's log prefix 'YYYY/MM/DD HH:MM:SS '
_PLUGIN_EXIT = "2023/09/19 08:00:01 Exiting.. can not change : incorrect RDMA subsystem network namespace\n"


def test_the_shared_plugin_refusing_exclusive_mode_proves_it(tmp_path: Path) -> None:
    text = (
        "2023/09/19 08:00:01 Starting K8s RDMA Shared Device Plugin version= v1.4.0\n"
        "2023/09/19 08:00:01 resource manager reading configs\n" + _PLUGIN_EXIT
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_NETNS, "proves"), got


_EXCLUSIVE = [
    # iproute2 rdma/sys.c: 'netns %s ' then 'copy-on-fork %s' (older iproute2: netns only)
    "$ rdma system\nnetns exclusive copy-on-fork on\n",
    "netns exclusive privileged-qkey off monitor off copy-on-fork on\n",
    "# rdma system show netns\nnetns exclusive\n",
    # the command that set it, and the module option that sets it at load
    "$ sudo rdma system set netns exclusive\n",
    "options ib_core netns_mode=0\n",
]

# NCCL's IB transport finding no device, on a run that spans two nodes
_NO_IB = "node1:12:12 [0] NCCL INFO NET/IB : No device found.\nnode1:12:40 [0] NCCL INFO nNodes 2 localRanks 8 localRank 0\n"


@pytest.mark.parametrize("ctx", _EXCLUSIVE)
def test_exclusive_mode_beside_a_pod_without_rdma_names_it(tmp_path: Path, ctx: str) -> None:
    got = _findings(tmp_path, ctx + _NO_IB)
    assert got and got[0] == (_NETNS, "suggests"), got


def test_exclusive_mode_beside_an_empty_plugin_pool_names_it(tmp_path: Path) -> None:
    text = _EXCLUSIVE[0] + "2024/01/09 10:11:12 exposing \"0\" devices\n"
    assert _NETNS in _all(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # the mode alone: exclusive mode is a valid setup for SR-IOV + rdma-cni
        _EXCLUSIVE[0],
        _EXCLUSIVE[3] + _HEALTHY_NCCL,
        # shared mode beside the same NCCL line
        "$ rdma system\nnetns shared copy-on-fork on\n" + _NO_IB,
        "options ib_core netns_mode=1\n" + _NO_IB,
        # the healthy two-node run
        _HEALTHY_NCCL,
    ],
)
def test_no_exclusive_mode_or_no_symptom_does_not_name_it(tmp_path: Path, text: str) -> None:
    assert _NETNS in _all(tmp_path, _EXCLUSIVE[0] + _NO_IB)
    assert _NETNS not in _all(tmp_path, text)


# --- rdma.device-plugin-no-devices --------------------------------------------------------------------------------

_EMPTY_POOL = [
    # resources_manager.go InitServers
    "2024/01/09 10:11:12 Warning: no devices in device pool, creating empty resource server for hca_shared_devices_a\n",
    # server.go newResourceServer
    "2024/01/09 10:11:12 Warning: no Rdma Devices were found for resource hca_shared_devices_a\n",
    # server.go updateDevices (v1.3+)
    "2024/01/09 10:11:12 exposing \"0\" devices\n",
]

# GetDevices: log.Printf("error creating new device: %q", err) -- %q escapes the inner quotes of 'RDMA device %q not found'
_MISSING_SPEC = [
    '2024/01/09 10:11:12 error creating new device: "missing RDMA device spec for device 0000:e5:00.1, '
    'RDMA device \\"issm\\" not found"\n',
    # v1.5+: issm is no longer required, rdma_cm is the first missing one (#192)
    '2025/07/26 20:29:31 error creating new device: "missing RDMA device spec for device 0000:16:00.0, '
    'RDMA device \\"rdma_cm\\" not found"\n',
    # the error text quoted bare, as in #94's title
    'missing RDMA device spec for device 0000:e5:00.1, RDMA device "issm" not found\n',
]


@pytest.mark.parametrize("line", _EMPTY_POOL + _MISSING_SPEC)
def test_the_plugin_with_no_rdma_device_names_its_selectors(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (_POOL, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # the plugin skips a plain Ethernet function and still exposes its devices
        _MISSING_SPEC[0] + "2024/01/09 10:11:12 exposing \"1000\" devices\n",
        # a healthy plugin start
        "2024/01/09 10:11:12 DiscoverHostDevices(): device found: 0000:3b:00.0\t02\tMellanox Technolo...\tMT2892 Family [ConnectX-6 Dx]\n"
        "2024/01/09 10:11:12 exposing \"1000\" devices\n",
        # other device plugins' words
        "I0101 00:00:00.000000 1 main.go:317] Starting GRPC server for 'nvidia.com/gpu'\n",
        _HEALTHY_NCCL,
    ],
)
def test_a_plugin_that_exposes_devices_is_not_an_empty_pool(tmp_path: Path, text: str) -> None:
    assert _POOL in _all(tmp_path, _MISSING_SPEC[0])
    assert _POOL not in _all(tmp_path, text)


# --- capability.gpu-admin-denied ----------------------------------------------------------------------------------

_ADMIN_LINES = [
    # nvidia-smi -pl (nvidia-docker#495)
    "root@0f3c2a9d7b1e:/# nvidia-smi -i 0 -pl 250\n"
    "Failed to set power management limit for GPU 00000000:3B:00.0: Insufficient Permissions\n",
    # nvidia-smi -pm 1
    "Unable to set persistence mode for GPU 00000000:00:04.0: Insufficient Permissions\n",
    # nvidia-smi -mig 1 ('Unable to enable MIG Mode for GPU %s: %s')
    "Unable to enable MIG Mode for GPU 00000000:21:00.0: Insufficient Permissions\n",
    # a go-nvml tool: fmt.Errorf("unable to set power management limit for GPU %d: %v", i, nvml.ErrorString(ret))
    "2025/03/02 11:00:00 unable to set power management limit for GPU 3: Insufficient Permissions\n",
]


@pytest.mark.parametrize("text", _ADMIN_LINES)
def test_a_refused_gpu_admin_setting_names_the_missing_capability(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_ADMIN, "suggests"), got


# pynvml: an NVML setter raising NVMLError_NoPermission (init succeeded, so the device nodes opened)
_PYNVML_SET = (
    "Traceback (most recent call last):\n"
    '  File "/app/power_cap.py", line 9, in <module>\n'
    "    pynvml.nvmlDeviceSetPowerManagementLimit(handle, 200000)\n"
    '  File "/usr/local/lib/python3.10/dist-packages/pynvml.py", line 3290, in nvmlDeviceSetPowerManagementLimit\n'
    "    _nvmlCheckReturn(ret)\n"
    '  File "/usr/local/lib/python3.10/dist-packages/pynvml.py", line 979, in _nvmlCheckReturn\n'
    "    raise NVMLError(ret)\n"
    "pynvml.NVMLError_NoPermission: Insufficient Permissions\n"
)


def test_an_nvml_setter_without_permission_names_it_not_the_device_nodes(tmp_path: Path) -> None:
    got = _findings(tmp_path, _PYNVML_SET)
    assert got and got[0] == (_ADMIN, "suggests"), got
    everything = _all(tmp_path, _PYNVML_SET)
    for other in ("lsm.selinux-device-denied", "device.group-denied", "userns.gid-unmapped"):
        assert other not in everything, everything


@pytest.mark.parametrize(
    "text",
    [
        # NVML's init failing is the device nodes (nvml.insufficient-permissions and its neighbours)
        "Failed to initialize NVML: Insufficient Permissions\n",
        "node1:123:123 [0] misc/nvmlwrap.cc:121 NCCL WARN nvmlInit_v2() failed: Insufficient Permissions\n",
        # a getter refused (a MIG device without NVIDIA_MIG_MONITOR_DEVICES): a read, not an admin setting
        "Failed to display compute instances: Insufficient Permissions\n",
        'Traceback (most recent call last):\n  File "/usr/local/lib/python3.10/dist-packages/pynvml.py", line 2934, '
        "in nvmlDeviceGetMemoryInfo\n    _nvmlCheckReturn(ret)\npynvml.NVMLError_NoPermission: Insufficient Permissions\n",
        # the GPU lacks the feature: not a permission
        "Unable to enable MIG Mode for GPU 00000000:18:00.0: Not Supported\nTreating as warning and moving on.\nAll done.\n",
        # a setting that worked, and nvidia-smi's query output
        "Power limit for GPU 00000000:3B:00.0 was set to 250.00 W from 350.00 W.\nAll done.\n",
        "        Power Limit                       : 350.00 W\n        Enforced Power Limit              : 350.00 W\n",
        _HEALTHY_NCCL,
    ],
)
def test_other_permission_and_admin_lines_do_not_name_it(tmp_path: Path, text: str) -> None:
    assert _ADMIN in _all(tmp_path, _ADMIN_LINES[0])
    assert _ADMIN not in _all(tmp_path, text)


# --- network.gke-tcpxo-extra-nic ----------------------------------------------------------------------------------

_TCPXO_LINES = [
    # glog: 'E<mmdd> <time> <tid> <file>:<line>] msg'; the aicr doc's wording
    "E0312 10:02:11.123456       1 fastrak_gpumem_manager.cc:200] Number of GPUs detected 7 is not equal to the actual "
    "number of GPUs 8\n",
    # container-engine-accelerators#580's wording
    "E0312 10:02:11.123456       1 fastrak_gpumem_manager.cc:200] Number of GPUs detected in the PCI tree 7 is not "
    "equal to the actual number of GPUs 8\n",
]


@pytest.mark.parametrize("line", _TCPXO_LINES)
def test_rxdm_counting_fewer_gpus_names_the_extra_nic(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (_TCPXO, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # 0 GPUs in the PCI tree: the tcpxo-daemon container lacks the /sys hostPath (/hostsysfs), another cause
        "E0312 10:02:11.123456       1 fastrak_gpumem_manager.cc:200] Number of GPUs detected in the PCI tree 0 is not "
        "equal to the actual number of GPUs 8\n",
        # a healthy RxDM start and a healthy FasTrak NCCL run
        "I0312 10:02:11.123456       1 fastrak_gpumem_manager.cc:150] Number of GPUs detected 8\n",
        "node1:2211:2211 [0] NCCL INFO NET/FasTrak plugin initialized\n" + _HEALTHY_NCCL,
    ],
)
def test_other_rxdm_lines_do_not_name_it(tmp_path: Path, text: str) -> None:
    assert _TCPXO in _all(tmp_path, _TCPXO_LINES[0])
    assert _TCPXO not in _all(tmp_path, text)
