"""Issue 13, heldout23 lessons (glearn23b): NVIDIA driver, GPU Operator, OpenShift, MIG and fabric manager texts.

Lines are written from the code and docs that print them (not copied from the heldout23 logs):
nv-fabricmanager's multicast team failures (the handles gpud's fabric-manager log matcher reads, the team release
of NVIDIA/nccl#1043, a non-zero inband team setup response) and its healthy forms; libnvidia-container's host-side
cuInit refusing the host's own libcuda (804 / 803 after a driver upgrade without a reboot) against the image's
cuda-compat 804 inside the container; the GPU Operator validator's /dev/char symlink step (after the driver
validated; its PCI-id bug fixed in 23.9.0); the OpenShift Driver Toolkit imagestream missing behind the driver
container's elfutils failure; nvidia-mig-parted unable to destroy a MIG instance still in use (node not drained).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

_FM = "[Mar 02 2025 10:11:12] [ERROR] [tid 3111] "
_HOOK = (
    "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: "
    "unable to start container process: error during container init: error running hook #0: error running hook: "
    "exit status 1, stdout: , stderr: "
)
_MIG_FAILED = (
    'time="2024-03-01T08:00:00Z" level=error msg="error setting MIGConfig: error attempting multiple config '
    'orderings: all orderings failed"\n'
    "Changing the 'nvidia.com/mig.config.state' node label to 'failed'\n"
)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # nv-fabricmanager cannot set up or release the multicast team NCCL's NVLS asked for
        (_FM + "failed to find the GPU handle 9136482110390442213 in the multicast team request setup "
         "1184562201904731337.\n", "nvidia.fabric-manager-restarted"),
        (_FM + "failed to release multicast team with handle 4417, cannot find the team\n",
         "nvidia.fabric-manager-restarted"),
        ("[Mar 02 2025 10:11:13] [INFO] [tid 2990] Sending inband response message:  Message header details: "
         "magic Id:adbc request Id:5a1f00c2e9d4b7a1 status:57 type:3 length:24\n", "nvidia.fabric-manager-restarted"),
        # ... and it leads NCCL's NVLS failure that follows it
        ("node7:881:902 [2] transport/nvls.cc:214 NCCL WARN Cuda failure 1 'invalid argument'\n"
         + _FM + "failed to find the GPU handle 77 in the multicast team request setup 12.\n",
         "nvidia.fabric-manager-restarted"),
        # the container hook's own cuInit on the host's libcuda: 804 and 803, in the runc wrapper and bare
        (_HOOK + "nvidia-container-cli: initialization error: cuda error: forward compatibility was attempted on "
         "non supported hw: unknown.\n", "nvidia.driver-library-mismatch"),
        ("nvidia-container-cli: initialization error: cuda error: system has unsupported display driver / cuda "
         "driver combination\n", "nvidia.driver-library-mismatch"),
        # the same story in words: a new driver installed and no reboot since, or unattended-upgrades updating it
        ("This usually means a new NVIDIA graphics driver has been installed via apt but the system has not yet been "
         "rebooted.\n", "nvidia.driver-library-mismatch"),
        ("I had upgraded the nvidia driver to 550 without rebooting, and now every container fails at start.\n",
         "nvidia.driver-library-mismatch"),
        ("We updated the NVIDIA drivers without a reboot of the node.\n", "nvidia.driver-library-mismatch"),
        ("Turns out the nvidia driver was upgraded by unattended-upgrades last night.\n",
         "nvidia.driver-library-mismatch"),
        ("unattended-upgrades upgraded the nvidia-utils package overnight\n", "nvidia.driver-library-mismatch"),
    ],
)
def test_a_heldout23b_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # the GPU Operator validator's /dev/char symlink step fails after the driver validated (PCI id not in pci.ids)
        ('time="2023-09-20T12:00:00Z" level=info msg="Error: error validating driver installation: error creating '
         "symlinks: failed to get device nodes: failed to get GPU information: error getting all NVIDIA devices: "
         "error constructing NVIDIA PCI device 0000:c1:00.0: unable to get device name: failed to find device with "
         "id '2330'\"\n", "device.no-driver"),
        ("Error: error validating driver installation: error creating symlink creator: failed to create NVIDIA "
         "device nodes\n", "device.no-driver"),
        ("error validating driver installation: error creating symlinks: failed to create symlink: file exists\n\n"
         "Failed to create symlinks under /dev/char that point to all possible NVIDIA character devices.\n",
         "device.no-driver"),
        # the driver container's entitlement build failing on an OpenShift without the Driver Toolkit imagestream
        ("FATAL: failed to install elfutils packages. RHEL entitlement may be improperly deployed.\n"
         "2022-01-10T09:00:00.000Z\tINFO\tcontrollers.ClusterPolicy\tocpHasDriverToolkitImageStream: driver-toolkit "
         'imagestream not found\t{"Name": "driver-toolkit", "Namespace": "openshift"}\n', "device.no-driver"),
        ("FATAL: failed to install elfutils packages. RHEL entitlement may be improperly deployed.\n"
         "2022-01-10T09:00:01.000Z\tINFO\tcontrollers.ClusterPolicy\tWARNING: OpenShift DriverToolkit was requested "
         "but could not be enabled (dependencies missing)\n", "device.no-driver"),
        # mig-parted could not destroy a MIG instance still in use: the node was not drained
        ("Error clearing MigConfig: error destroying Compute instance for profile '(1, 0)': In use by another "
         "client\n" + _MIG_FAILED, "k8s.gpu-resource-unavailable"),
        ("Error clearing MigConfig: error walking gpu instances for '1': error destroying GPU instance for profile "
         "'14': In use by another client\n" + _MIG_FAILED, "k8s.gpu-resource-unavailable"),
    ],
)
def test_a_heldout23b_look_alike_is_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in causes(tmp_path, text)


def test_the_not_drained_mig_failure_says_why(tmp_path: Path) -> None:
    text = ("Error clearing MigConfig: error destroying Compute instance for profile '(0, 0)': In use by another "
            "client\n" + _MIG_FAILED)
    assert any("not drained" in n for n in notes(tmp_path, text)), notes(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # healthy fabric manager lines stay clean
        ("[Feb 25 2025 14:01:18] [INFO] [tid 1808] successfully setup multicast team for request id "
         "8331980469606044544.\n", "nvidia.fabric-manager-restarted"),
        ("[Feb 25 2025 13:59:45] [INFO] [tid 1808] successfully released multicast team with handle "
         "11081654703155798918.\n", "nvidia.fabric-manager-restarted"),
        ("[Feb 25 2025 14:01:18] [INFO] [tid 1584] Sending inband response message:  Message header details: "
         "magic Id:adbc request Id:73a12417a65c5380 status:0 type:3 length:24\n", "nvidia.fabric-manager-restarted"),
        ("[Feb 25 2025 14:01:18] [INFO] [tid 1808] multicast group 0 is allocated.\n",
         "nvidia.fabric-manager-restarted"),
        # 804 inside the container (the image's cuda-compat on a GeForce) is not the host's mismatch
        ("RuntimeError: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before calling "
         "NumCudaDevices() that might have already set an error? Error 804: forward compatibility was attempted on "
         "non supported HW\n", "nvidia.driver-library-mismatch"),
        ("cudaErrorCompatNotSupportedOnDevice: forward compatibility was attempted on non supported HW\n",
         "nvidia.driver-library-mismatch"),
        # another hook-side CUDA error is not read as the mismatch
        ("nvidia-container-cli: initialization error: cuda error: unknown error\n", "nvidia.driver-library-mismatch"),
        # advice, conditionals, a reboot that was done, another daemon not restarted
        ("If you upgrade the nvidia driver without rebooting, NVML will fail.\n", "nvidia.driver-library-mismatch"),
        ("Make sure to reboot after you installed the new NVIDIA driver.\n", "nvidia.driver-library-mismatch"),
        ("Restart your system after installing the new NVIDIA driver.\n", "nvidia.driver-library-mismatch"),
        ("You can install the driver without rebooting on most distributions.\n", "nvidia.driver-library-mismatch"),
        ("A new NVIDIA driver has been installed and the system has been rebooted.\n",
         "nvidia.driver-library-mismatch"),
        ("I updated the nvidia driver without restarting the docker daemon.\n", "nvidia.driver-library-mismatch"),
        ("We disabled unattended-upgrades for the nvidia packages.\n", "nvidia.driver-library-mismatch"),
        # MIG destroy refused for another reason, and an instance in use outside mig-parted
        ("Error clearing MigConfig: error destroying Compute instance for profile '(0, 0)': Insufficient "
         "Permissions\n", "nvidia.mig-multi-instance"),
        ("GPU 00000000:3B:00.0: In use by another client\n", "k8s.gpu-resource-unavailable"),
    ],
)
def test_a_heldout23b_neighbour_stays_clean(tmp_path: Path, text: str, cause: str) -> None:
    assert cause not in causes(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # the validator still names a driver that never validated, the elfutils failure alone still names it, and
        # a MIG layout failure without an instance in use still names the missing resource
        ('time="2024-06-01T10:00:00Z" level=error msg="driver is not ready: failed to locate nvidia-smi"\n',
         "device.no-driver"),
        ("FATAL: failed to install elfutils packages. RHEL entitlement may be improperly deployed.\n",
         "device.no-driver"),
        (_MIG_FAILED, "k8s.gpu-resource-unavailable"),
    ],
)
def test_a_heldout23b_control_keeps_its_cause(tmp_path: Path, text: str, cause: str) -> None:
    assert causes(tmp_path, text)[:1] == [cause], causes(tmp_path, text)
