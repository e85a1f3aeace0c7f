"""heldout18 lessons (glearn18d): NVIDIA toolkit, Kubernetes and host-service families behind its misses.

Positive lines are written from the code or the docs that print or state them (not copied from the heldout18 logs):
Fabric Manager refusing a config item and nvidia-fabricmanager-start.sh refusing its arguments (R570+ wrapper,
NVIDIA/gpu-driver-container#383), Fabric Manager not starting told in words, a framework's int() parse of MIG UUIDs in
CUDA_VISIBLE_DEVICES (vLLM's Ray executor), several MIG UUIDs in one device list, a Kubernetes MIG resource count
above one, several MIG instances for one job in words, libnvidia-container's container error cut off on a cgroup v2
host (and its pre-1.8 message wrapped onto its own line), and the NVDEC/NVENC driver libraries not loadable in the
forms VPF, the Video Codec SDK and dlerror print.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

MIG_UUID = "MIG-3c1f0a2b-9d8e-5f7a-b6c5-4d3e2f1a0b9c"


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # Fabric Manager's config parser on an NVSwitch system
        ("Nodes: 8x H100 80GB HBM3 (HGX)\nnv-fabricmanager[3110]: fabric manager config file item: "
         "STATE_FILE_NAME has an invalid value\n", "nvidia.fabric-manager-not-running", "suggests"),
        ("Tested on a server with 8xH200\nfabric manager config file item: TOPOLOGY_FILE_PATH has an invalid value\n",
         "nvidia.fabric-manager-not-running", "suggests"),
        # the R570+ start wrapper refusing a positional argument (usage printed), on an NVLink 5 system
        ("Starting NVIDIA fabric manager daemon for NVLink5+...\nUnknown option: /etc/nvidia/fabricmanager.cfg\n"
         "Usage: /usr/bin/nvidia-fabricmanager-start.sh [script options] --args [arguments to run fabric manager]\n",
         "nvidia.fabric-manager-not-running", "suggests"),
        ("HGX B200 node\nUsage: /usr/bin/nvidia-fabricmanager-start.sh [script options] --args [arguments]\n",
         "nvidia.fabric-manager-not-running", "suggests"),
        # Fabric Manager not starting, told in words, on an NVSwitch system
        ("On our DGX H100 the nvidia-fabricmanager service fails to start after the driver upgrade\n",
         "nvidia.fabric-manager-not-running", "suggests"),
        ("HGX A100 8-GPU: fabric manager keeps crashing and CUDA does not come up\n",
         "nvidia.fabric-manager-not-running", "suggests"),
        # a framework splitting CUDA_VISIBLE_DEVICES into ints meets MIG UUIDs
        (f"  File \"/opt/vllm/vllm/executor/ray_gpu_executor.py\", line 200, in _init_workers_ray\n"
         f"ValueError: invalid literal for int() with base 10: '{MIG_UUID}'\n", "nvidia.mig-multi-instance", "suggests"),
        ("ValueError: invalid literal for int() with base 10: 'MIG-GPU-3c1f0a2b-9d8e-5f7a-b6c5-4d3e2f1a0b9c/2/0'\n",
         "nvidia.mig-multi-instance", "suggests"),
        # a container asking for more than one MIG device
        ("    resources:\n      limits:\n        nvidia.com/mig-2g.20gb: \"2\"\n", "nvidia.mig-multi-instance",
         "suggests"),
        ("          limits:\n            nvidia.com/mig-3g.40gb: 4\n", "nvidia.mig-multi-instance", "suggests"),
        # several MIG devices in one device list
        (f"export CUDA_VISIBLE_DEVICES={MIG_UUID},MIG-7e6d5c4b-3a29-5180-9f8e-7d6c5b4a3928\npython serve.py --tp 2\n",
         "nvidia.mig-multi-instance", "suggests"),
        (f"    env:\n    - name: NVIDIA_VISIBLE_DEVICES\n      value: x\nNVIDIA_VISIBLE_DEVICES={MIG_UUID},"
         "MIG-7e6d5c4b-3a29-5180-9f8e-7d6c5b4a3928\n", "nvidia.mig-multi-instance", "suggests"),
        # several MIG instances for one job, in words
        ("We run tensor parallel across two MIG instances of one A100 and the engine fails\n",
         "nvidia.mig-multi-instance", "suggests"),
        ("Is it possible to give multiple MIG devices to one pod?\n", "nvidia.mig-multi-instance", "suggests"),
        # the toolkit's container error cut off, on a cgroup v2 host
        ("Docker 20.10 with cgroup v2 enabled\nError response from daemon: OCI runtime create failed: "
         "error running hook #0: error running hook: exit status 1, stdout: , stderr: nvidia-container-cli: "
         "container error:\n", "runtime.cgroupv2-unsupported", "suggests"),
        # its pre-1.8 message wrapped onto its own line
        ("stderr: nvidia-container-cli:\ncontainer error: cgroup subsystem devices not found: unknown.\n",
         "runtime.cgroupv2-unsupported", "proves"),
        # NVDEC/NVENC libraries not loadable
        ("RuntimeError: Could not dynamically load libnvcuvid.so.1. Please ensure Nvidia Graphics drivers are "
         "correctly installed!\n", "nvidia.driver-capabilities-missing", "suggests"),
        ('dlopen "libnvcuvid.so" failed!\n', "nvidia.driver-capabilities-missing", "suggests"),
        ("OSError: libnvidia-encode.so.1: cannot open shared object file: No such file or directory\n",
         "nvidia.driver-capabilities-missing", "suggests"),
        ("Plex hardware transcoding: unable to load libnvcuvid.so.1 in the container\n",
         "nvidia.driver-capabilities-missing", "suggests"),
    ],
)
def test_a_heldout18_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


def test_video_library_with_video_capability_is_the_host(tmp_path: Path) -> None:
    text = ("NVIDIA_DRIVER_CAPABILITIES=compute,video,utility\n"
            "OSError: libnvcuvid.so.1: cannot open shared object file: No such file or directory\n")
    found = [c for c, _ in _findings(tmp_path, text)]
    assert found and found[0] == "nvidia.host-driver-library-missing", found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # a healthy Fabric Manager start and its config
        ("nvidia-fabricmanager-start.sh[5942]: Detected Pre-NVL5 system\nnv-fabricmanager[5946]: Connected to 1 node.\n"
         "nv-fabricmanager[5946]: Successfully configured all the available NVSwitches to route GPU NVLink traffic.\n",
         "nvidia.fabric-manager-not-running"),
        ("FABRIC_MODE=0\nSTATE_FILE_NAME=/var/tmp/fabricmanager.state\n", "nvidia.fabric-manager-not-running"),
        # Fabric Manager not starting on a PCIe workstation (nothing needs it)
        ("RTX 4090 x2 workstation: fabric manager fails to start, NV_WARN_NOTHING_TO_DO\n",
         "nvidia.fabric-manager-not-running"),
        ("Unknown option: --verbose\n", "nvidia.fabric-manager-not-running"),
        # an int() parse of something else, or MIG UUIDs listed by nvidia-smi
        ("ValueError: invalid literal for int() with base 10: 'GPU-3c1f0a2b-9d8e-5f7a-b6c5-4d3e2f1a0b9c'\n",
         "nvidia.mig-multi-instance"),
        (f"  MIG 1g.10gb     Device  0: (UUID: {MIG_UUID})\n", "nvidia.mig-multi-instance"),
        # one MIG device in the list, or whole GPUs by UUID
        (f"CUDA_VISIBLE_DEVICES={MIG_UUID}\n", "nvidia.mig-multi-instance"),
        ("NVIDIA_VISIBLE_DEVICES=GPU-3c1f0a2b-9d8e-5f7a-b6c5-4d3e2f1a0b9c,GPU-7e6d5c4b-3a29-5180-9f8e-7d6c5b4a3928\n",
         "nvidia.mig-multi-instance"),
        # one MIG device per container, and a node's capacity listing
        ("      limits:\n        nvidia.com/mig-1g.10gb: \"1\"\n", "nvidia.mig-multi-instance"),
        ("Capacity:\n  cpu:                     64\n  nvidia.com/mig-1g.10gb:  7\nAllocatable:\n"
         "  nvidia.com/mig-1g.10gb:  7\n", "nvidia.mig-multi-instance"),
        ("  capacity:\n    nvidia.com/mig-3g.40gb: \"2\"\n", "nvidia.mig-multi-instance"),
        # one replica per MIG instance, in words
        ("We run one vLLM replica on each of the two MIG instances\n", "nvidia.mig-multi-instance"),
        # a container error cut off on a cgroup v1 host; a complete container error of another kind on cgroup v2
        ("Cgroup Version: 1\nstderr: nvidia-container-cli: container error:\n", "runtime.cgroupv2-unsupported"),
        ("Cgroup Version: 2\nnvidia-container-cli: container error: failed to get device cgroup mount path: "
         "relative path in mount prefix: /../../..\n", "runtime.cgroupv2-unsupported"),
        # the video libraries present, listed by ldconfig or by the hook
        ("\tlibnvcuvid.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvcuvid.so.1\n",
         "nvidia.driver-capabilities-missing"),
        ("I0101 10:00:00.000000 1 nvc_info.c:176] selecting /usr/lib/x86_64-linux-gnu/libnvidia-encode.so.535.104.05\n",
         "nvidia.driver-capabilities-missing"),
        # the Windows DLL form is no container matter
        ("Could not dynamically load nvcuvid.dll. Please ensure Nvidia Graphics drivers are correctly installed!\n",
         "nvidia.driver-capabilities-missing"),
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert not_cause not in found, found
