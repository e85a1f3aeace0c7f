"""Issue 13, gk8s pass: the Kubernetes GPU stack as a user sees it when a GPU pod cannot get its GPUs.

Every positive line is written from the format string of the code the signature cites:
- NVIDIA/gpu-operator validator (validator/main.go @v1.7.0, v22.9.0, v23.9.0, v24.9.0;
  cmd/nvidia-validator/main.go @a22dbf6) and the operands' init containers (assets/*/0500_daemonset.yaml);
- NVIDIA/gpu-driver-container (ubuntu22.04 and rhel9 nvidia-driver @06a208c) and NVIDIA/nvidia-installer
  (kernel.c, misc.c @590.48.01);
- NVIDIA/k8s-device-plugin (factory.go, rm.go, nvml_manager.go, server.go @v0.12.0-v0.17.0) with go-nvml's
  code names (pkg/nvml/return.go);
- NVIDIA/nvidia-container-toolkit's installer (tools/container/containerd @v1.14.0, cmd/nvidia-ctk-installer);
- kubernetes dockershim (docker_sandbox.go, 'RuntimeHandler %q not supported') and systemd's systemctl.
Quiet lines are what a healthy GPU Operator start prints, or other components' twins of the same words.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as findings
from tpdoctor.explain import explain


def _first(tmp_path: Path, text: str) -> tuple[str, str] | None:
    """The first cause above notice and its strength (proves / suggests)."""
    log = tmp_path / "k.log"
    log.write_text(text)
    found = [f for f in explain([str(log)]).sorted_findings() if f.severity.value != "notice"]
    return (found[0].cause, found[0].confidence) if found else None


@pytest.mark.parametrize(
    ("line", "cause", "strength"),
    [
        # k8s-device-plugin factory.go:77 @v0.14.0 klog.Errorf("Failed to initialize NVML: %v.", ret), go-nvml name
        ("E0101 00:00:00.000000       1 factory.go:77] Failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND.",
         "runtime.nvidia-toolkit-missing", "suggests"),
        # nvml_manager.go:42 @v0.17.0 "failed to initialize NVML: %v", wrapped by main.go "error starting plugins"
        ("E0101 00:00:00.000000 1 main.go:132] error starting plugins: error getting plugins: failed to construct "
         "NVML resource managers: failed to initialize NVML: ERROR_DRIVER_NOT_LOADED",
         "runtime.nvidia-toolkit-missing", "suggests"),
        # factory.go:83 @v0.14.0 fmt.Errorf("nvml init failed: %v", ret)
        ("error starting plugins: nvml init failed: ERROR_LIBRARY_NOT_FOUND", "runtime.nvidia-toolkit-missing",
         "suggests"),
        # rm.go:64 @v0.13.0 log.Printf("Incompatible platform detected") on its own line
        ("2023/01/01 00:00:00 Incompatible platform detected", "runtime.nvidia-toolkit-missing", "suggests"),
        # server.go:256 @v0.12.0 "request for '%v: %v' too large: maximum request size for shared resources is 1"
        ("Warning  UnexpectedAdmissionError  5s  kubelet  Allocate failed due to rpc error: code = Unknown desc = "
         "request for 'nvidia.com/gpu: 2' too large: maximum request size for shared resources is 1, which is "
         "unexpected", "k8s.gpu-resource-unavailable", "proves"),
        # rm.go:79 @v0.17.0 "%w: maximum request size for shared resources is 1; found %d"
        ('Allocate failed due to rpc error: code = Unknown desc = invalid allocation request for "nvidia.com/gpu": '
         "invalid request: maximum request size for shared resources is 1; found 4, which is unexpected",
         "k8s.gpu-resource-unavailable", "proves"),
        # validator/main.go:362 @v1.7.0 fmt.Println("driver is not ready")
        ("driver is not ready", "device.no-driver", "suggests"),
        # cmd/nvidia-validator/main.go:924 @a22dbf6 log.Errorf("driver is not ready: %v", err) (logrus text)
        ('time="2025-01-01T00:00:00Z" level=error msg="driver is not ready: failed to locate nvidia-smi: no '
         "'nvidia-smi' file present on the host\"", "device.no-driver", "suggests"),
        # validator/main.go:409 @v1.7.0 fmt.Println("toolkit is not ready")
        ("toolkit is not ready", "runtime.nvidia-toolkit-missing", "suggests"),
        # main.go:410 log.Printf("Error: %v") of main.go:588 "error validating toolkit installation: %w"
        ('time="2025-01-01T00:00:00Z" level=info msg="Error: error validating toolkit installation: exit status 9"',
         "runtime.nvidia-toolkit-missing", "suggests"),
        # validateGPUResource: "GPU resources are not discovered by the node" (v1.7.0 .. a22dbf6)
        ('time="2025-01-01T00:00:00Z" level=info msg="Error: error validating plugin installation: GPU resources '
         'are not discovered by the node"', "k8s.gpu-resource-unavailable", "suggests"),
        # gpu-driver-container _resolve_kernel_version: echo "Could not resolve Linux kernel version" >&2
        ("Could not resolve Linux kernel version", "device.no-driver", "suggests"),
        # rhel9/nvidia-driver:142
        ("FATAL: failed to install elfutils-libel-devel. RHEL entitlement may be improperly deployed.",
         "device.no-driver", "suggests"),
        # nvidia-installer kernel.c:1303 ui_error("Unable to load the kernel module '%s'.  This ...")
        ("ERROR: Unable to load the kernel module 'nvidia.ko'.  This happens most frequently when this kernel "
         "module was built against the wrong or improperly configured kernel sources", "device.no-driver",
         "suggests"),
        # kernel.c:1291 with probable_reason ". Secure boot is enabled on this system, so this is likely"
        # (gnew23: its own id, host.secure-boot-unsigned-module, instead of the missing driver it leads to)
        ("ERROR: The kernel module failed to load. Secure boot is enabled on this system, so this is likely "
         "because it was not signed by a key that is trusted by the kernel. Please try installing the driver "
         "again, and sign the kernel module when prompted to do so.", "host.secure-boot-unsigned-module", "proves"),
        # misc.c:2509 ui_warn("The Nouveau kernel driver is currently in use by your system. ...")
        # (gnew23: its own id, host.nouveau-loaded)
        ("WARNING: The Nouveau kernel driver is currently in use by your system.  This driver is incompatible "
         "with the NVIDIA driver, and must be disabled before proceeding.", "host.nouveau-loaded", "proves"),
        # containerd runc shim exec of BinaryName (Go syscall "fork/exec %s: %v")
        ("Warning  Failed  2s  kubelet  Error: failed to create containerd task: failed to create shim task: OCI "
         "runtime create failed: unable to retrieve OCI runtime error (open /run/containerd/io.containerd.runtime"
         ".v2.task/k8s.io/ab/log.json: no such file or directory): fork/exec /usr/local/nvidia/toolkit/"
         "nvidia-container-runtime: no such file or directory: unknown", "runtime.nvidia-toolkit-missing", "proves"),
        # runc hook with an absolute path: os/exec 'exec: %q: %v' with the stat error
        ('error running hook #0: error running hook: exec: "/usr/bin/nvidia-container-runtime-hook": stat '
         "/usr/bin/nvidia-container-runtime-hook: no such file or directory, stdout: , stderr: : unknown",
         "runtime.nvidia-toolkit-missing", "proves"),
        # tools/container/containerd/containerd.go:205,255 @v1.14.0
        ('time="2025-01-01T00:00:00Z" level=fatal msg="error running nvidia-toolkit: unable to setup runtime: '
         "unable to restart containerd: unable to dial: dial unix /run/containerd/containerd.sock: connect: no "
         'such file or directory"', "runtime.nvidia-toolkit-missing", "suggests"),
        # dockershim docker_sandbox.go RunPodSandbox 'RuntimeHandler %q not supported'
        ('Warning  FailedCreatePodSandBox  3s  kubelet  Failed to create pod sandbox: rpc error: code = Unknown '
         'desc = RuntimeHandler "nvidia" not supported', "runtime.nvidia-toolkit-missing", "suggests"),
        # kubectl get node -o json: status.allocatable quantities are strings
        ('        "nvidia.com/gpu": "0",', "k8s.gpu-resource-unavailable", "suggests"),
        # systemctl status: "Unit %s could not be found."
        ("Unit nvidia-fabricmanager.service could not be found.", "nvidia.fabric-manager-not-running", "suggests"),
        # clusterpolicy_controller.go:186 @v23.9.0 "ClusterPolicy is not ready, states not ready: %v"
        ("ClusterPolicy is not ready, states not ready: [state-driver state-container-toolkit]", "device.no-driver",
         "suggests"),
        ("ClusterPolicy is not ready; states not ready: [state-container-toolkit state-device-plugin]",
         "runtime.nvidia-toolkit-missing", "suggests"),
        # clusterpolicy_controller.go:222 @v23.9.0 (controller-runtime's JSON logger)
        ('{"level":"info","msg":"No GPU node found, watching for new nodes to join the cluster."}',
         "k8s.gpu-resource-unavailable", "suggests"),
        # mig-parted cmd/nvidia-mig-parted/apply/config.go:64 'cannot set MIG config on non MIG-capable GPU'
        ('time="2025-01-01T00:00:00Z" level=error msg="cannot set MIG config on non MIG-capable GPU"',
         "k8s.gpu-resource-unavailable", "suggests"),
        # reconfigure-mig.sh __set_state_and_exit "failed" (kubectl describe node Labels)
        ("                    nvidia.com/mig.config.state=failed", "k8s.gpu-resource-unavailable", "suggests"),
        # mig-strategy.go:83 @v0.12.0 panic, device_map.go:176 @v0.14.0
        ("panic: For mig.strategy=single all devices on the node must all be configured with the same migEnabled "
         "value", "k8s.gpu-resource-unavailable", "suggests"),
        ("error starting plugins: error getting plugins: error building device map: more than one MIG device type "
         "present on node", "k8s.gpu-resource-unavailable", "suggests"),
        # kubelet lifecycle/predicate.go Reason 'UnexpectedAdmissionError' as kubectl shows it
        ("vllm-0   0/1     UnexpectedAdmissionError   0          5m", "k8s.gpu-resource-unavailable", "suggests"),
        # validator main.go:567 @v1.7.0 'gave up waiting for pod %s to be available' (generateName of the pod)
        ('time="2025-01-01T00:00:00Z" level=info msg="Error: error validating plugin installation: gave up waiting '
         'for pod nvidia-device-plugin-validator-7xk2m to be available"', "k8s.gpu-resource-unavailable", "suggests"),
        # kubectl get pods rows of the operands (assets/state-*/0500_daemonset.yaml names) in a failure state
        ("gpu-operator   nvidia-driver-daemonset-8xk2p     0/1     CrashLoopBackOff   12 (2m ago)   40m",
         "device.no-driver", "suggests"),
        ("nvidia-container-toolkit-daemonset-4h7qz   0/1     Init:CrashLoopBackOff   7          15m",
         "runtime.nvidia-toolkit-missing", "suggests"),
        # kubelet doBackOff event 'Back-off restarting failed container %s in pod %s'
        ("Warning  BackOff  kubelet  Back-off restarting failed container plugin-validation in pod "
         "nvidia-operator-validator-x2v9d_gpu-operator(1a2b)", "k8s.gpu-resource-unavailable", "suggests"),
        # gpu-driver-container _unload_driver: the driver container cannot unload modules it does not own (a host
        # driver, gpu-operator#126; or an earlier driver pod's clients): its pod crash-loops, no GPU stack on the node.
        # Quiet until gnew35 gave the cause an id (k8s.operator-driver-on-host-driver).
        ("Could not unload NVIDIA driver kernel modules, driver is in use",
         "k8s.operator-driver-on-host-driver", "suggests"),
    ],
)
def test_k8s_stack_form_names_its_cause(tmp_path: Path, line: str, cause: str, strength: str) -> None:
    assert _first(tmp_path, line + "\n") == (cause, strength)


@pytest.mark.parametrize(
    "line",
    [
        # a healthy GPU Operator start: the init containers wait a few rounds, then the operand runs
        "waiting for nvidia container stack to be setup",
        "waiting for the driver validations to be ready...",
        # the other components' "<x> driver is not ready" (validator/main.go nvidia-fs, gdrcopy, vGPU Manager)
        "nvidia-fs driver is not ready",
        'time="2025-01-01T00:00:00Z" level=info msg="gdrcopy driver is not ready"',
        "vGPU Manager is not ready",
        # the validator's retry while the driver container still builds the module
        'time="2025-01-01T00:00:00Z" level=warning msg="failed to validate the driver, retrying after 5 seconds\\n"',
        "MOFED drivers are not ready, skipping probe to avoid container restarts...",
        "I0101 00:00:00.000000 1 factory.go:104] Detected non-Tegra platform: /sys/devices/soc0/family file not found",
        'time="2025-01-01T00:00:00Z" level=info msg="GPU resources are not yet discovered by the node, retry: 3"',
        # a pod that asks for GPUs, and a node that has them
        "      nvidia.com/gpu: 1",
        '        "nvidia.com/gpu": "8",',
        # another unit absent
        "Unit nvidia-persistenced.service could not be found.",
        # an operand outside the GPU path (DCGM exporter) is not ready: no serving cause
        "ClusterPolicy is not ready; states not ready: [state-dcgm-exporter]",
        # operands starting (waiting in Init) or running
        "nvidia-device-plugin-validator-7xk2m   0/1     Completed   0   3m",
        "nvidia-driver-daemonset-8xk2p   0/1     Init:0/1   0   1m",
        "nvidia-device-plugin-daemonset-z9c4m   1/1     Running   0   25m",
        # the MIG manager's healthy end state
        "                    nvidia.com/mig.config.state=success",
    ],
)
def test_k8s_stack_quiet_lines(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n") == []


def test_waiting_for_stack_counts_next_to_a_pod_without_gpus(tmp_path: Path) -> None:
    # benign alone (above); with the scheduler unable to place a GPU pod it points at the operator's stack,
    # and the correlation drops the generic "resource unavailable" in favour of it
    text = (
        "waiting for nvidia container stack to be setup\n"
        "waiting for nvidia container stack to be setup\n"
        "Warning  FailedScheduling  12s  default-scheduler  0/2 nodes are available: 2 Insufficient "
        "nvidia.com/gpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.\n"
    )
    got = findings(tmp_path, text)
    assert got[:1] == ["runtime.nvidia-toolkit-missing"]
    assert "k8s.gpu-resource-unavailable" not in got


def test_validator_driver_line_outranks_insufficient_gpu(tmp_path: Path) -> None:
    text = (
        'time="2025-01-01T00:00:00Z" level=error msg="driver is not ready: error validating driver installation: '
        'exit status 1"\n'
        "Warning  FailedScheduling  default-scheduler  0/1 nodes are available: 1 Insufficient nvidia.com/gpu.\n"
    )
    got = findings(tmp_path, text)
    assert got[:1] == ["device.no-driver"]
    assert "k8s.gpu-resource-unavailable" not in got
