"""Issue 13, heldout25 lessons (glearn25b): container runtime, NVIDIA toolkit and driver-library families.

Lines are written from the code that prints them (not copied from the heldout25 logs): bitsandbytes' CUDA setup
(cuda_setup/main.py get_cuda_lib_handle 0.35-0.38, generate_instructions 0.37-0.40), WSL spelled out next to a
libcuda dlopen failure, rootlesskit's parent (pkg/parent/parent.go 'failed to start the child: %w'), BuildKit's and
the legacy builder's failed RUN step running nvidia-smi (exit 127), rootless Docker and an unresolvable CDI device,
the GPU Operator's toolkit (nvidia-container-cli.real, its installer's wrapper) failing to load NVML on a host whose
nvidia-smi works; and the hook exits that name no cause: crun's exit code under the kubelet, a CDI hook (nvidia-ctk)
exiting 1, a CDI hook binary missing where the toolkit is shown installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes
from tpdoctor.explain import explain

SMI = (
    "| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |\n"
)
BNB = ("CUDA SETUP: WARNING! libcuda.so not found! Do you have a CUDA driver installed? If you are on a cluster, make "
       "sure you are on a CUDA machine!\n")
LIBCUDA = "OSError: libcuda.so.1: cannot open shared object file: No such file or directory\n"
RLK = "[rootlesskit:parent] error: failed to start the child: fork/exec /proc/self/exe: operation not permitted\n"
BUILD = 'ERROR: failed to solve: process "/bin/sh -c nvidia-smi" did not complete successfully: exit code: 127\n'
CDI = "docker: Error response from daemon: CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=all.\n"
OPERATOR_CLI = ("nvidia-container-cli.real: initialization error: load library failed: libnvidia-ml.so.1: cannot open "
                "shared object file: no such file or directory: unknown\n")
KUBELET_HOOK = ("  Warning  Failed   4m49s (x4 over 5m59s)  kubelet  Error: container create failed: error executing hook "
                "`/usr/local/nvidia/toolkit/nvidia-container-runtime-hook` (exit code: 1)\n")
CDI_HOOK_MISSING = ("error running createContainer hook #1: fork/exec /usr/bin/nvidia-cdi-hook: no such file or "
                    "directory: unknown\n")


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # bitsandbytes 0.35-0.38 get_cuda_lib_handle
        ("CUDA SETUP: WARNING! libcuda.so not found! Do you have a CUDA driver installed? If you are on a cluster, "
         "make sure you are on a CUDA machine!\n", "nvidia.driver-libs-off-library-path"),
        # bitsandbytes 0.37-0.40 generate_instructions (self.cuda is None)
        ("CUDA SETUP: Problem: The main issue seems to be that the main CUDA library was not detected.\n"
         "CUDA SETUP: Solution 1): Your paths are probably not up-to-date. You can update them via: sudo ldconfig.\n",
         "nvidia.driver-libs-off-library-path"),
        # libcuda not loadable under WSL, in words or by its kernel / library path, no container engine in the log
        ("Running on Windows Subsystem for Linux (Ubuntu 22.04).\n"
         "OSError: libcuda.so: cannot open shared object file: No such file or directory\n",
         "nvidia.driver-libs-off-library-path"),
        ("Python platform: Linux-5.15.146.1-microsoft-standard-WSL2-x86_64-with-glibc2.35\n"
         "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory\n",
         "nvidia.driver-libs-off-library-path"),
        ("I run this under WSL2.\n"
         "OSError: libcuda.so.1: cannot open shared object file: No such file or directory\n",
         "nvidia.driver-libs-off-library-path"),
        # rootlesskit's child refused its user namespace: the EPERM and EACCES forms
        ("[rootlesskit:parent] error: failed to start the child: fork/exec /proc/self/exe: operation not permitted\n",
         "userns.apparmor-restricted"),
        ("[rootlesskit:parent] error: failed to start the child: fork/exec /proc/self/exe: permission denied\n",
         "userns.apparmor-restricted"),
        ('time="2025-01-10T10:00:00Z" level=fatal msg="failed to start the child: fork/exec /proc/self/exe: '
         'permission denied"\n', "userns.apparmor-restricted"),
        # a RUN step running nvidia-smi, not found (127): BuildKit and the legacy builder
        ('ERROR: failed to solve: process "/bin/sh -c nvidia-smi" did not complete successfully: exit code: 127\n',
         "runtime.build-without-gpu"),
        ('ERROR: process "/bin/sh -c nvidia-smi -L" did not complete successfully: exit code: 127\n',
         "runtime.build-without-gpu"),
        ("The command '/bin/sh -c nvidia-smi' returned a non-zero code: 127\n", "runtime.build-without-gpu"),
        # rootless Docker: the CDI device unresolvable, the spec in directories its dockerd does not read
        ("Setting up rootless Docker with dockerd-rootless-setuptool.sh install\n"
         "docker: Error response from daemon: CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=0.\n",
         "runtime.cdi-spec-unresolved"),
        ("We run Docker rootless on this box.\n"
         "docker: Error response from daemon: CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=all.\n",
         "runtime.cdi-spec-unresolved"),
        # the GPU Operator's toolkit (nvidia-container-cli.real) cannot load NVML while the host's nvidia-smi works
        (SMI + "Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc "
         "create failed: unable to start container process: error during container init: error running hook #0: "
         "error running hook: exit status 1, stdout: , stderr: nvidia-container-cli.real: initialization error: load "
         "library failed: libnvidia-ml.so.1: cannot open shared object file: no such file or directory: unknown\n",
         "nvidia.toolkit-driver-root-wrong"),
    ],
)
def test_a_heldout25b_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


def test_the_operator_cli_form_is_read_without_a_host_driver(tmp_path: Path) -> None:
    # without the host's nvidia-smi the .real form is still the hook failing to load NVML (the toolkit's reading)
    text = ("stderr: nvidia-container-cli.real: initialization error: load library failed: libnvidia-ml.so.1: "
            "cannot open shared object file: no such file or directory: unknown\n")
    assert causes(tmp_path, text)[:1] == ["runtime.nvidia-toolkit-missing"]


def test_an_unknown_field_warning_does_not_lead_over_the_hook_failure(tmp_path: Path) -> None:
    text = ('W1222 14:39:49.104108 1716891 warnings.go:70] unknown field "spec.daemonsets.rollingUpdate"\n'
            + SMI + "nvidia-container-cli.real: initialization error: load library failed: libnvidia-ml.so.1: cannot "
            "open shared object file: no such file or directory: unknown\n")
    found = causes(tmp_path, text)
    assert found[:1] == ["nvidia.toolkit-driver-root-wrong"], found
    assert "k8s.schema-invalid" not in found


def test_helm_hang_tight_is_not_a_hang(tmp_path: Path) -> None:
    # helm repo update: "Hang tight while we grab the latest from your chart repositories..."
    text = ("Hang tight while we grab the latest from your chart repositories...\n"
            "...Successfully got an update from the \"nvidia\" chart repository\n"
            "|   0  NVIDIA RTX A5000               On  | 00000000:01:00.0 Off |                  Off |\n"
            "|   1  NVIDIA RTX A5000               On  | 00000000:25:00.0 Off |                  Off |\n")
    assert "nccl.p2p-unsupported" not in causes(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "not_cause", "twin"),
    [
        # bitsandbytes 0.41+: torch.cuda.is_available() False for any reason, and the runtime library's own message
        ("CUDA SETUP: Problem: The main issue seems to be that the main CUDA library was not detected or CUDA not "
         "installed.\n", "nvidia.driver-libs-off-library-path", BNB),
        ("CUDA SETUP: Problem: The main issue seems to be that the main CUDA runtime library was not detected.\n",
         "nvidia.driver-libs-off-library-path", BNB),
        # WSL named, but the libcuda failure is inside a docker run: the container's GPU request, not WSL's path
        ("docker run --rm -it my/image python train.py   # on WSL2\n" + LIBCUDA,
         "nvidia.driver-libs-off-library-path", "I run this under WSL2.\n" + LIBCUDA),
        # rootlesskit names the sysctl that is off (Debian): not AppArmor
        ("[rootlesskit:parent] /proc/sys/kernel/unprivileged_userns_clone needs to be set to 1.\n" + RLK,
         "userns.apparmor-restricted", RLK),
        # another errno: not a refusal
        ("[rootlesskit:parent] error: failed to start the child: fork/exec /proc/self/exe: no space left on device\n",
         "userns.apparmor-restricted", RLK),
        # a RUN step with nvidia-smi failing for another reason (exit 9: the driver), or another command exiting 127
        ('ERROR: failed to solve: process "/bin/sh -c nvidia-smi" did not complete successfully: exit code: 9\n',
         "runtime.build-without-gpu", BUILD),
        ('ERROR: failed to solve: process "/bin/sh -c make -j8" did not complete successfully: exit code: 127\n',
         "runtime.build-without-gpu", BUILD),
        # an unresolvable CDI device with a rootful engine: the spec (toolkit), not the rootless spec directory
        (CDI, "runtime.cdi-spec-unresolved", "dockerd-rootless.sh started\n" + CDI),
        # the operator's hook timing out on the driver's RPC: a GPU off the bus (Xid 79), not a setting
        ("stderr: nvidia-container-cli.real: initialization error: driver rpc error: timed out: unknown\n"
         "NVRM: Xid (PCI:0000:ca:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n",
         "runtime.nvidia-toolkit-missing", OPERATOR_CLI),
        # the plain hook binary's NVML failure with the host's nvidia-smi: not the operator's toolkit
        (SMI + "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: cannot open "
         "shared object file: no such file or directory: unknown\n", "nvidia.toolkit-driver-root-wrong",
         SMI + OPERATOR_CLI),
    ],
)
def test_a_neighbour_is_not_named(tmp_path: Path, text: str, not_cause: str, twin: str) -> None:
    # the family's own form names the cause; its neighbour does not
    assert causes(tmp_path, twin)[:1] == [not_cause]
    assert not_cause not in causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # crun's hook exit code under the kubelet (CRI-O): no gid, no cgroup, and the toolkit ran
        ("  Warning  Failed   4m49s (x4 over 5m59s)  kubelet  Error: container create failed: error executing hook "
         "`/usr/local/nvidia/toolkit/nvidia-container-runtime-hook` (exit code: 1)\n"
         "  Warning  BackOff  2m12s (x14 over 6m11s)  kubelet  Back-off restarting failed container toolkit-validation "
         "in pod nvidia-operator-validator-abcde_nvidia-gpu-operator(0000)\n"),
        # a CDI hook (nvidia-ctk) exiting 1 under Podman/crun: no group is involved
        ('Error: OCI runtime error: unable to start container "0123abcd": crun: {"msg":"error executing hook '
         '`/usr/bin/nvidia-ctk` (exit code: 1)","level":"error","time":"2024-11-05T09:37:14.582274Z"}\n'),
        # the CDI hook binary missing while the toolkit package is shown installed (a package without nvidia-cdi-hook)
        ("nvidia-container-toolkit-1.16.1_2\n"
         "Error: runc: runc create failed: unable to start container process: error during container init: error "
         "running hook #0: fork/exec /usr/bin/nvidia-cdi-hook: no such file or directory: OCI runtime attempted to "
         "invoke a command that was not found\n"),
        ("$ nvidia-ctk --version\nNVIDIA Container Toolkit CLI version 1.16.2\n"
         "error running createContainer hook #1: fork/exec /usr/bin/nvidia-cdi-hook: no such file or directory: unknown\n"),
    ],
)
def test_a_hook_exit_alone_stays_clean(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text) == []


def test_the_legacy_hook_exit_keeps_its_reading_only_under_podman(tmp_path: Path) -> None:
    # without the kubelet, crun's legacy hook exit is still read as the rootless group/cgroup problem
    text = "Error: OCI runtime error: error executing hook `/usr/bin/nvidia-container-toolkit` (exit code: 1)\n"
    assert causes(tmp_path, text)[:1] == ["userns.gid-unmapped"]
    assert causes(tmp_path, KUBELET_HOOK) == []


def test_the_cdi_hook_missing_is_the_toolkit_only_without_its_version(tmp_path: Path) -> None:
    assert causes(tmp_path, CDI_HOOK_MISSING)[:1] == ["runtime.nvidia-toolkit-missing"]
    assert causes(tmp_path, "nvidia-container-toolkit-1.17.3-1.x86_64\n" + CDI_HOOK_MISSING) == []


def test_the_benign_readings_say_why(tmp_path: Path) -> None:
    text = ("nvidia-container-toolkit 1.16.1-1\n"
            "error running createContainer hook #1: fork/exec /usr/bin/nvidia-cdi-hook: no such file or directory: "
            "unknown\n")
    assert any("does not ship nvidia-cdi-hook" in n for n in notes(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        # Docker Desktop on a Linux distribution with the NVIDIA toolkit / a GPU, said to fail
        "I installed nvidia-container-toolkit on Fedora 40 together with Docker Desktop, but it does not work.\n",
        "With docker-desktop on Debian 12 the GPUs are not found and --gpus all failed.\n",
        "Running Docker Desktop for Linux on Ubuntu 24.04: the NVIDIA Container Toolkit doesn't work.\n",
    ],
)
def test_docker_desktop_on_linux_with_a_gpu_is_the_vm_without_the_toolkit(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [("runtime.nvidia-toolkit-missing", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # Docker Desktop's GPU support is Windows + WSL2: not this family
        "Docker Desktop on Windows 11 with the WSL2 backend: --gpus all fails on Ubuntu 22.04 inside WSL.\n",
        # Docker Desktop named as what is not used, no failure told, or only asked about
        "We run Docker Engine on Ubuntu, not Docker Desktop, and the GPU container failed at start.\n",
        "Docker Desktop for Linux is installed on Ubuntu next to the NVIDIA Container Toolkit.\n",
        "Does the NVIDIA Container Toolkit work with Docker Desktop on Ubuntu, or does it fail?\n",
    ],
)
def test_docker_desktop_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    twin = "I installed nvidia-container-toolkit on Ubuntu 22.04 with Docker Desktop, but --gpus all did not work.\n"
    assert causes(tmp_path, twin)[:1] == ["runtime.nvidia-toolkit-missing"]
    assert causes(tmp_path, text) == []


def test_docker_desktop_context_tells_why_no_gpu_driver(tmp_path: Path) -> None:
    text = (" Context:    desktop-linux\n"
            'docker: Error response from daemon: could not select device driver "nvidia" with capabilities: [[gpu]].\n')
    log = tmp_path / "d.log"
    log.write_text(text, encoding="utf-8")
    found = [f for f in explain([str(log)]).findings if f.cause == "runtime.nvidia-toolkit-missing"]
    assert found and "Docker Desktop's VM" in found[0].message


@pytest.mark.parametrize(
    "text",
    [
        # the GPU missing while the image builds, in words (NVIDIA/nvidia-container-toolkit#351's family)
        "nvidia-smi runs fine with docker run --gpus all, but it is not found during the docker build.\n",
        "torch.cuda.is_available() returns False at build time, so setup.py skips the CUDA extension.\n",
        "We need the GPU during build to compile the kernels for the card we have.\n",
        "The GPU is not visible while building the docker image.\n",
    ],
)
def test_the_gpu_missing_at_build_time_in_words(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [("runtime.build-without-gpu", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        "The GPU is not needed at build time; TORCH_CUDA_ARCH_LIST is set.\n",
        "The GPU is not used during the build of the index.\n",
        "nvidia-smi shows no process while building the engine.\n",
        "CUDA is not installed in the build stage of the Dockerfile.\n",
    ],
)
def test_build_words_without_a_missing_gpu_stay_clean(tmp_path: Path, text: str) -> None:
    twin = "The GPU is not available during docker build.\n"
    assert causes(tmp_path, twin)[:1] == ["runtime.build-without-gpu"]
    assert causes(tmp_path, text) == []
