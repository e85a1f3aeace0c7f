"""Issue 13, heldout14 lessons (glearn14b): the NVIDIA container stack behind its misses.

Every line is written from the upstream format string its signature cites (not copied from the heldout14 logs):
libnvidia-container's device-cgroup step (nvcgo v1.go/v2.go/ebpf.go, wrapped "failed to add device rules: %s"),
its chroot into the driver root (nvc.c load_kernel_modules), `nvidia-ctk cdi list` next to the CDI library's
"unresolvable CDI devices", the NVIDIA device plugin's start-up lines, and the prose retellings of the rootless
no-cgroups setting, the /run/nvidia/driver root, NVML lost after days and nvidia-smi working while CUDA is not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

# libnvidia-container src/nvc_mount.c / rpc: error_setx(err, "failed to add device rules: %s", rerr), printed by
# nvidia-container-cli as "nvidia-container-cli: mount error: %s" inside the engine's hook error
HOOK = ("docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
        "runtime create failed: runc create failed: unable to start container process: error during container init: "
        "error running prestart hook #0: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
        "nvidia-container-cli: mount error: failed to add device rules: {rest}\n")
# libnvidia-container src/nvc.c: log_infof("using root %s"), log_errf("failed to change root directory: %s")
NVC_LOG = ("I1201 10:00:00.000001 4242 nvc.c:393] using root {root}\n"
           "E1201 10:00:00.000002 4243 nvc.c:251] failed to change root directory: No such file or directory\n"
           "W1201 10:00:00.000003 4243 nvc.c:252] skipping kernel modules load due to failure\n")
# nvidia-ctk cdi list (cmd/nvidia-ctk/cdi/list/list.go): Infof("Found %d CDI devices") then one name a line;
# podman pkg/specgen/generate: "setting up CDI devices: %w", CDI pkg/cdi/cache.go "unresolvable CDI devices %s"
CDI = ("$ nvidia-ctk cdi list\nINFO[0000] Found {n} CDI devices\n{names}"
       "$ podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi -L\n"
       "Error: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=all\n")
# NVIDIA/k8s-device-plugin cmd/nvidia-device-plugin/main.go (v0.14): klog lines of a plugin that found no GPU
PLUGIN = ("I0601 08:00:00.000000       1 main.go:154] Starting FS watcher.\n"
          "I0601 08:00:00.000001       1 main.go:161] Starting OS watcher.\n"
          "I0601 08:00:00.000002       1 main.go:176] Retreiving plugins.\n"
          "I0601 08:00:00.000003       1 main.go:234] No devices found. Waiting indefinitely.\n")
# nvidia-smi's banner as the utility-only plugin pod prints it (no libcuda: CUDA Version N/A)
SMI_NA = "| NVIDIA-SMI 525.105.17   Driver Version: 525.105.17   CUDA Version: N/A      |\n"


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # cgroup v1: Go's *PathError from os.OpenFile / WriteString (nvcgo internal/cgroup/v1.go)
        (HOOK.format(rest="open /sys/fs/cgroup/devices/user.slice/devices.allow: permission denied: unknown."),
         "nvidia.hook-cgroup-denied", "proves"),
        (HOOK.format(rest="write /sys/fs/cgroup/devices/lxc.payload.gpu/devices.allow: operation not permitted"),
         "nvidia.hook-cgroup-denied", "proves"),
        # cgroup v2: each eBPF step of v2.go AddDeviceRules
        (HOOK.format(rest="unable to attach new device filters program: failed to call BPF_PROG_ATTACH "
                          "(BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI): operation not permitted"),
         "nvidia.hook-cgroup-denied", "proves"),
        (HOOK.format(rest="unable to generate new device filter program with no existing programs: unable to "
                          "create new device filters program: load program: operation not permitted"),
         "nvidia.hook-cgroup-denied", "proves"),
        (HOOK.format(rest="unable to open the cgroup path: permission denied"), "nvidia.hook-cgroup-denied", "proves"),
        # the query line cut before its errno, as pasted from a narrow terminal
        (HOOK.format(rest="unable to find any existing device filters attached"), "nvidia.hook-cgroup-denied",
         "suggests"),
        # prose: the rootless setup told in words
        ("With rootless Docker the GPU only works once I set no-cgroups = true in "
         "/etc/nvidia-container-runtime/config.toml; rootful Docker needs it false.\n",
         "nvidia.hook-cgroup-denied", "suggests"),
        ("The toolkit fails by default because cgroups are not supported in rootless mode.\n",
         "nvidia.hook-cgroup-denied", "suggests"),
        # NVML lost after the pod ran for a while, in prose
        ("Our pod runs fine, but after a few days nvidia-smi inside it prints Failed to initialize NVML: Unknown "
         "Error; deleting the pod fixes it.\n", "device.nvml-cgroup-lost", "suggests"),
        ("After some hours the container loses the GPU: NVML init failed with Unknown Error.\n",
         "device.nvml-cgroup-lost", "suggests"),
        # the driver root that does not exist (libnvidia-container's debug log)
        (NVC_LOG.format(root="/run/nvidia/driver"), "nvidia.toolkit-driver-root-wrong", "suggests"),
        (NVC_LOG.format(root="/opt/nvidia/driver"), "nvidia.toolkit-driver-root-wrong", "suggests"),
        # the driver root in prose
        ('Somebody had set root = "/run/nvidia/driver" in config.toml; after a reboot no GPU container started.\n',
         "nvidia.toolkit-driver-root-wrong", "suggests"),
        ('root = "/run/nvidia/driver" was the problem, I commented it out and the hook works again.\n',
         "nvidia.toolkit-driver-root-wrong", "suggests"),
        # two toolkit configs compared: the host's root next to the operator's
        ('node-a:\n[nvidia-container-cli]\n  root = "/"\nnode-b:\n[nvidia-container-cli]\n'
         '  root = "/run/nvidia/driver"\n', "nvidia.toolkit-driver-root-wrong", "suggests"),
        # the spec is listed by nvidia-ctk and still unresolvable to the engine
        (CDI.format(n=2, names="nvidia.com/gpu=0\nnvidia.com/gpu=all\n"), "runtime.cdi-spec-version-unsupported",
         "suggests"),
        # nvidia-smi fine in the container, CUDA not
        ("nvidia-smi works inside the container, but:\n>>> torch.cuda.is_available()\nFalse\n",
         "nvidia.driver-capabilities-missing", "suggests"),
        # the same with torch's own words (torch/cuda/__init__.py _check_driver) and a bare dlopen failure
        ("nvidia-smi runs fine in the container, yet\nRuntimeError: Found no NVIDIA driver on your system. Please "
         "check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx\n",
         "nvidia.driver-capabilities-missing", "suggests"),
        ("Running nvidia-smi inside the container works, but torch.cuda.is_available() returns False\n",
         "nvidia.driver-capabilities-missing", "suggests"),
        ("Inside the pod nvidia-smi works.\nOSError: libcuda.so.1: cannot open shared object file: No such file or "
         "directory\n", "nvidia.driver-capabilities-missing", "suggests"),
        # the device plugin found nothing while the node's driver answers
        (PLUGIN + "# nvidia-smi\n" + SMI_NA, "k8s.gpu-resource-unavailable", "suggests"),
    ],
)
def test_a_heldout14_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    "text",
    [
        # the rootless setup done right: no error
        "sudo nvidia-ctk config --set nvidia-container-cli.no-cgroups --in-place\n",
        # a healthy toolkit debug log with the host root
        "I1201 10:00:00.000001 4242 nvc.c:393] using root /\nI1201 10:00:00.000002 4242 nvc.c:394] using ldcache "
        "/etc/ld.so.cache\n",
        # the operator's config alone is the right one under the GPU Operator
        '[nvidia-container-cli]\n  root = "/run/nvidia/driver"\n  ldconfig = "@/run/nvidia/driver/sbin/ldconfig.real"\n',
        # nvidia-smi works and CUDA does too
        "nvidia-smi works inside the container\n>>> torch.cuda.is_available()\nTrue\n",
        # NVML unknown error with no sign of time passing is no prose family of ours (the line signature decides)
        "The pod has been running for a few days without problems.\n",
        # a BPF verifier refusal is not a permission problem
        HOOK.format(rest="unable to generate new device filter program from existing programs: load program: "
                         "invalid argument: last insn is not an exit or jmp"),
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert all(c not in ("nvidia.hook-cgroup-denied", "nvidia.toolkit-driver-root-wrong", "device.nvml-cgroup-lost",
                         "nvidia.driver-capabilities-missing") for c in found), found


def test_an_unresolvable_device_with_no_spec_listed_is_still_the_missing_toolkit(tmp_path: Path) -> None:
    found = _findings(tmp_path, CDI.format(n=0, names=""))
    assert found and found[0] == ("runtime.nvidia-toolkit-missing", "proves"), found


def test_cuda_na_in_the_device_plugin_pod_is_expected(tmp_path: Path) -> None:
    text = PLUGIN.replace("No devices found. Waiting indefinitely.", "Starting GRPC server for 'nvidia.com/gpu'")
    text += "# nvidia-smi\n" + SMI_NA
    found = [c for c, _ in _findings(tmp_path, text)]
    assert "nvidia.driver-capabilities-missing" not in found, found
    assert any("device plugin's pod" in n for n in _notes(tmp_path, text))


def test_cuda_na_in_a_workload_container_is_still_the_capabilities(tmp_path: Path) -> None:
    found = _findings(tmp_path, SMI_NA)
    assert found and found[0][0] == "nvidia.driver-capabilities-missing", found


def test_the_debug_logs_root_line_joins_the_load_library_failure(tmp_path: Path) -> None:
    # `nvidia-container-cli -k -d /dev/tty info`: nvc.c copy_config "using root %s", then src/cli/main.c's
    # "initialization error: %s" with driver.c's "load library failed: %s"
    text = ("I1201 10:00:00.000001 4242 nvc.c:393] using root /run/nvidia/driver\n"
            "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: cannot open shared "
            "object file: no such file or directory\n")
    found = _findings(tmp_path, text)
    assert found and found[0][0] == "nvidia.toolkit-driver-root-wrong", found
