"""Issue 13, heldout43 lessons (glearn43c): multi-GPU topology and P2P as benchmarks print it, GL apps in containers.

Lines are written from the code that prints them (not copied from the heldout43 logs): nvbandwidth's "Waiving
<test>." for its peer tests (nvbandwidth.cpp runTestcase, v0.2-v0.4) beside a second GPU in its device list; Mesa's
loader failing to resolve the DRM device (src/loader/loader.c drm_get_pci_id_for_fd) in a container started without
/dev/dri; a ROS GL client dying (ros2run's signal name, launch's and roslaunch's "process has died") in an NVIDIA
container without the graphics capability; Folding@home's "OpenCL device matching slot N not found" in an NVIDIA
container; NCCL echoing NCCL_P2P_LEVEL=LOC / NCCL_P2P_DISABLE=1 on an NVSwitch system (src/graph/paths.cc
ncclGetLevel); one GPU that is not the host's first given to a container of a multi-rank job (NVIDIA/nccl#324). And a
look-alike kept clean: `nvidia-smi -q` printing "GPU access blocked by the operating system" as one field's value
(gVisor's nvproxy, google/gvisor#10676) is not a device cgroup refusing the GPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import causes, findings

NVB_HEAD = (
    "nvbandwidth Version: v0.4\n"
    "Built from Git version: 1a2b3c4\n\n"
    "CUDA Runtime Version: 12020\nCUDA Driver Version: 12020\nDriver Version: 535.104.05\n\n"
)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # nvbandwidth (v0.2-v0.4) waiving each family of peer test on a two-GPU box
        (NVB_HEAD + "Device 0: NVIDIA GeForce RTX 3090\nDevice 1: NVIDIA GeForce RTX 3090\n\n"
         "Waiving device_to_device_memcpy_read_ce.\n\n", "nccl.p2p-unsupported"),
        (NVB_HEAD + "Device 0: NVIDIA RTX A4000\nDevice 1: NVIDIA RTX A4000\n\n"
         "Running host_to_device_memcpy_ce.\nWaiving all_to_one_write_ce.\n", "nccl.p2p-unsupported"),
        (NVB_HEAD + "Device 0: Tesla T4\nDevice 1: Tesla T4\nDevice 2: Tesla T4\n\n"
         "Waiving one_to_all_read_sm.\n", "nccl.p2p-unsupported"),
        # Mesa's loader (GLX and EGL prefixes) in a container run without /dev/dri
        ("$ docker run --rm -e DISPLAY=$DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix ros:humble rviz2\n"
         "libGL error: MESA-LOADER: failed to retrieve device information\n"
         "Segmentation fault (core dumped)\n", "device.render-node-missing"),
        ("user@box:~/sim$ docker run -it --gpus all -e DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix gazebo:latest gz sim\n"
         "libEGL warning: MESA-LOADER: failed to retrieve device information\n", "device.render-node-missing"),
        # a shell prompt the command reader does not parse: the --gpus flag is still read
        ("➜  sim git:(main) ✗ docker run --rm --gpus all -e DISPLAY=:0 -v /tmp/.X11-unix:/tmp/.X11-unix "
         "osrf/ros:noetic-desktop-full rviz\n"
         "libGL error: MESA-LOADER: failed to retrieve device information\n", "device.render-node-missing"),
        # a ROS GL client dying in an NVIDIA container without graphics capability (ros2run, launch, roslaunch)
        ("$ docker run --runtime=nvidia -e DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix -it myorg/ros2-cuda:humble bash\n"
         "root@1f2e3d4c5b6a:/ws# ros2 run rqt_gui rqt_gui\n"
         "[ros2run]: Segmentation fault\n", "nvidia.driver-capabilities-missing"),
        ("$ docker run --gpus all -e DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix -it myorg/nav2:cuda bash\n"
         "[INFO] [launch]: Default logging verbosity is set to INFO\n"
         "[ERROR] [rviz2-1]: process has died [pid 4242, exit code -11, cmd '/opt/ros/humble/lib/rviz2/rviz2 "
         "-d /ws/nav2.rviz --ros-args'].\n", "nvidia.driver-capabilities-missing"),
        ("NVIDIA_VISIBLE_DEVICES=all\nNVIDIA_DRIVER_CAPABILITIES=compute,utility\n"
         "[gazebo_gui-2] process has died [pid 377, exit code 139, cmd /opt/ros/noetic/lib/gazebo_ros/gzclient "
         "__name:=gazebo_gui __log:=/root/.ros/log/gazebo_gui-2.log].\n", "nvidia.driver-capabilities-missing"),
        # Folding@home's GPU slot with no OpenCL device in an NVIDIA container
        ("FROM nvidia/cuda:11.8.0-runtime-ubuntu22.04\n"
         "12:01:44:ERROR:WU00:FS01:Failed to start core: OpenCL device matching slot 1 not found, try setting "
         "'opencl-index' manually\n", "nvidia.opencl-icd-missing"),
        ("docker run -d --gpus all --name fah fah-gpu:latest\n"
         "07:15:02:ERROR:WU01:FS00:Failed to start core: OpenCL device matching slot 0 not found, try setting "
         "'opencl-index' manually\n", "nvidia.opencl-icd-missing"),
        # NCCL told to use no P2P on an NVSwitch / SXM system
        ("GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-11111111-2222-3333-4444-555555555555)\n"
         "dgx01:2001:2001 [0] NCCL INFO NCCL_P2P_LEVEL set by environment to LOC\n"
         "dgx01:2001:2001 [0] NCCL INFO Channel 00 : 0[0] -> 1[1] via SHM/direct/direct\n", "nccl.p2p-disabled"),
        ("Running on an HGX H100 node.\n"
         "hgx7:88:88 [3] NCCL INFO NCCL_P2P_DISABLE set by environment to 1\n", "nccl.p2p-disabled"),
        # one GPU that is not the host's first, in a container of a job with several ranks
        ("docker run --gpus '\"device=1\"' --ipc host --network host -it nccl-tests:latest bash\n"
         "root@host:/# NCCL_COMM_ID=10.0.0.5:29500 WORLD_SIZE=2 RANK=1 ./build/all_reduce_perf -b 8 -e 1G -f 2\n",
         "topology.ranks-split-across-containers"),
        ("services:\n  rank1:\n    image: trainer:latest\n    environment:\n      - WORLD_SIZE=4\n"
         "    deploy:\n      resources:\n        reservations:\n          devices:\n            - driver: nvidia\n"
         "              device_ids: ['2']\n              capabilities: [gpu]\n",
         "topology.ranks-split-across-containers"),
    ],
)
def test_a_heldout43c_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # nvbandwidth on one GPU always waives its peer tests; a host test is never waived for P2P
        (NVB_HEAD + "Device 0: NVIDIA H100 80GB HBM3\n\nWaiving device_to_device_memcpy_read_ce.\n",
         "nccl.p2p-unsupported"),
        (NVB_HEAD + "Device 0: NVIDIA L4\nDevice 1: NVIDIA L4\n\nWaiving host_to_device_memcpy_ce.\n",
         "nccl.p2p-unsupported"),
        # nvbandwidth v0.5+ prints only "Waived: " (no test name): not read
        ("Device 0: NVIDIA L4 (00000000:01:00)\nDevice 1: NVIDIA L4 (00000000:02:00)\n\nWaived: \n",
         "nccl.p2p-unsupported"),
        # Mesa's loader on a host, or in a container given /dev/dri (device, bind mount) or --privileged
        ("libGL error: MESA-LOADER: failed to retrieve device information\nlibGL error: failed to load driver: iris\n",
         "device.render-node-missing"),
        ("$ docker run --rm --device /dev/dri -e DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix ros:humble rviz2\n"
         "libGL error: MESA-LOADER: failed to retrieve device information\n", "device.render-node-missing"),
        ("➜  sim git:(main) docker run --rm --gpus all -v /dev/dri:/dev/dri -e DISPLAY ros:humble rviz2\n"
         "libGL error: MESA-LOADER: failed to retrieve device information\n", "device.render-node-missing"),
        ("$ docker run --rm --privileged -e DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix ros:humble rviz2\n"
         "libGL error: MESA-LOADER: failed to retrieve device information\n", "device.render-node-missing"),
        # a ROS GUI crash with the graphics capability given, on a host, or of a non-GL node
        ("$ docker run --gpus all -e NVIDIA_DRIVER_CAPABILITIES=all -e DISPLAY -it myorg/nav2:cuda bash\n"
         "[ERROR] [rviz2-1]: process has died [pid 4242, exit code -11, cmd '/opt/ros/humble/lib/rviz2/rviz2'].\n",
         "nvidia.driver-capabilities-missing"),
        ("[ERROR] [rviz2-1]: process has died [pid 4242, exit code -11, cmd '/opt/ros/humble/lib/rviz2/rviz2'].\n",
         "nvidia.driver-capabilities-missing"),
        ("$ docker run --gpus all -it myorg/nav2:cuda bash\n"
         "[ERROR] [controller_server-3]: process has died [pid 977, exit code -11, cmd "
         "'/opt/ros/humble/lib/nav2_controller/controller_server'].\n", "nvidia.driver-capabilities-missing"),
        ("$ docker run --runtime=nvidia -it myorg/ros2-cuda:humble bash\nroot@c0ffee:/# ros2 run demo_nodes_cpp talker\n"
         "[ros2run]: Segmentation fault\n", "nvidia.driver-capabilities-missing"),
        # Folding@home on a bare host, or under WSL2
        ("12:01:44:ERROR:WU00:FS01:Failed to start core: OpenCL device matching slot 1 not found, try setting "
         "'opencl-index' manually\n", "nvidia.opencl-icd-missing"),
        ("Running FAH in docker on WSL2 with --gpus all\n"
         "12:01:44:ERROR:WU00:FS01:Failed to start core: OpenCL device matching slot 1 not found, try setting "
         "'opencl-index' manually\n", "nvidia.opencl-icd-missing"),
        # LOC on a PCIe box is the workaround, not the fault; the NVL level keeps NVLink
        ("GPU 0: NVIDIA GeForce RTX 4090\nbox:12:12 [0] NCCL INFO NCCL_P2P_LEVEL set by environment to LOC\n",
         "nccl.p2p-disabled"),
        ("GPU 0: NVIDIA A100-SXM4-80GB\ndgx:12:12 [0] NCCL INFO NCCL_P2P_LEVEL set by environment to NVL\n",
         "nccl.p2p-disabled"),
        # one container with the first GPU, or all of them, or a one-rank job
        ("docker run --gpus '\"device=0\"' --ipc host -it nccl-tests bash\nWORLD_SIZE=2 RANK=0 ./all_reduce_perf\n",
         "topology.ranks-split-across-containers"),
        ("docker run --gpus all --ipc host -it nccl-tests bash\nWORLD_SIZE=8 ./all_reduce_perf\n",
         "topology.ranks-split-across-containers"),
        ("docker run --gpus '\"device=1\"' -it trainer python train.py\nWORLD_SIZE=1\n",
         "topology.ranks-split-across-containers"),
        ("docker run --gpus '\"device=1,2\"' -it trainer bash\nWORLD_SIZE=2 torchrun --nproc_per_node 2 train.py\n",
         "topology.ranks-split-across-containers"),
    ],
)
def test_a_heldout43c_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _all(tmp_path, text)


def test_nvidia_smi_q_field_blocked_is_not_a_device_cgroup(tmp_path: Path) -> None:
    text = (
        "GPU 00000000:00:04.0\n    ECC Mode\n"
        "        Current                           : GPU access blocked by the operating system\n"
        "        Pending                           : GPU access blocked by the operating system\n"
        "    Inforom Version\n"
        "        Image Version                     : GPU access blocked by the operating system\n"
    )
    assert causes(tmp_path, text) == []


def test_nvml_init_blocked_is_still_read(tmp_path: Path) -> None:
    found = causes(tmp_path, "Failed to initialize NVML: GPU access blocked by the operating system\n")
    assert found and found[0] == "device.cgroup-denied", found
