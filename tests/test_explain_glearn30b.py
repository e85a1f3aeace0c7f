"""Issue 13, heldout30 lessons, container stack and host driver (glearn30b).

Lines are written from the code and docs that print them (not copied from the heldout30 logs):
- the container-device-interface cache's read error ("failed to read CDI Spec %q: %w", pkg/cdi/spec.go ReadSpec),
  which Podman logs at debug ("The following error was triggered when refreshing the CDI registry: %v"), and root's
  Podman resolving a CDI device that the user's rootless Podman calls unresolvable (podman#17539: the spec was 0600);
- nvidia-smi missing in one container while the toolkit's own `docker run --gpus all ... nvidia-smi` probe prints its
  table: that container had no GPU request (gpu-jupyter#22);
- a GPU subset passed to rootless Podman and every GPU still listed: no device cgroup (podman#21454, #21468);
- the driver module not loading with Secure Boot on (NVIDIA/yum-packaging-precompiled-kmod UEFI.md, #67);
- OpenGL on Mesa's llvmpipe in a container given its GPU with --gpus and no graphics capability (glxinfo, eglinfo,
  glmark2, glxgears -info; nvidia-container-toolkit DefaultDriverCapabilities "utility,compute").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings

# --- CDI: the spec exists and the engine cannot read it ---

UNRESOLVABLE = "Error: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu={dev}\n"


@pytest.mark.parametrize(
    "text",
    [
        # Podman's debug line around CDI's ReadSpec error, then the injection failure
        'time="2025-03-02T10:11:12Z" level=debug msg="The following error was triggered when refreshing the CDI '
        'registry: failed to read CDI Spec \\"/etc/cdi/nvidia.yaml\\": open /etc/cdi/nvidia.yaml: permission denied"\n'
        + UNRESOLVABLE.format(dev="all"),
        # ReadSpec's text alone, a spec under /var/run/cdi
        'failed to read CDI Spec "/var/run/cdi/nvidia.yaml": open /var/run/cdi/nvidia.yaml: permission denied\n',
    ],
)
def test_cdi_spec_read_denied_is_the_spec_not_the_toolkit(tmp_path: Path, text: str) -> None:
    got = _causes(tmp_path, text)
    assert got[:1] == ["runtime.cdi-spec-unresolved"]
    assert "runtime.nvidia-toolkit-missing" not in got


@pytest.mark.parametrize(
    "user_line",
    [
        "$ podman run --rm --device nvidia.com/gpu={dev} docker.io/nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi",
        "2. podman run -it --device=nvidia.com/gpu={dev} fedora:39 nvidia-smi -L",
        "podman container run --rm --device nvidia.com/gpu={dev} ubuntu nvidia-smi",
    ],
)
@pytest.mark.parametrize("dev", ["0", "all"])
def test_root_podman_resolves_rootless_does_not(tmp_path: Path, user_line: str, dev: str) -> None:
    text = (
        f"$ sudo podman run --rm --device nvidia.com/gpu={dev} ubuntu nvidia-smi -L\n"
        "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-11111111-2222-3333-4444-555555555555)\n"
        + user_line.format(dev=dev)
        + "\n"
        + UNRESOLVABLE.format(dev=dev)
    )
    assert _findings(tmp_path, text)[:1] == [("runtime.cdi-spec-unresolved", "suggests")]
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # no spec at all: rootless only, nothing shows root's engine resolving it
        "$ podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi\n" + UNRESOLVABLE.format(dev="all"),
        # root's engine alone fails the same way
        "$ sudo podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi\n" + UNRESOLVABLE.format(dev="all"),
    ],
)
def test_unresolvable_without_root_resolving_stays_the_toolkit(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text)[:1] == ["runtime.nvidia-toolkit-missing"]


def test_other_cdi_read_errors_stay_clean(tmp_path: Path) -> None:
    # a spec that is missing is not read at all (ReadSpec returns os.IsNotExist bare); a parse error is another cause
    text = 'failed to parse CDI Spec "/etc/cdi/x.yaml": yaml: line 3: mapping values are not allowed in this context\n'
    assert "runtime.cdi-spec-unresolved" not in _causes(tmp_path, text)


# --- the toolkit's probe works; the failing container had no GPU request ---

PROBE = [
    "docker run --rm --gpus all nvidia/cuda:11.0-base nvidia-smi",
    "sudo docker run --gpus=all nvidia/cuda:12.2.0-base-ubuntu22.04 nvidia-smi",
    'docker run --rm --gpus "device=0" nvidia/cuda:10.2-base nvidia-smi -L',
]
TABLE = "| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |\n"


@pytest.mark.parametrize("probe", PROBE)
@pytest.mark.parametrize(
    "missing",
    [
        "/bin/bash: nvidia-smi: command not found",
        "bash: nvidia-smi: command not found",
        "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA Display Driver is properly installed and present in your system.",
    ],
)
def test_probe_works_smi_missing_elsewhere_is_no_gpu_request(tmp_path: Path, probe: str, missing: str) -> None:
    text = probe + "\n" + TABLE + "but in my notebook container:\n" + missing + "\n"
    got = _causes(tmp_path, text)
    assert got[:1] == ["device.nvidia-node-missing"]
    assert "runtime.nvidia-toolkit-missing" not in got


@pytest.mark.parametrize(
    "text",
    [
        # no probe in the log: the host's table alone does not show the toolkit works
        TABLE + "bash: nvidia-smi: command not found\n",
        # the probe is quoted but printed no table
        PROBE[0] + "\nbash: nvidia-smi: command not found\n",
    ],
)
def test_smi_missing_without_a_working_probe_keeps_the_toolkit(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text)[:1] == ["runtime.nvidia-toolkit-missing"]


# --- rootless Podman: a GPU subset is not enforced ---

SUBSET = [
    "rocm-smi lists all 8 GPUs instead of the selected subset",
    "rocm-smi shows every GPU in the node, not just the one I passed",
    "I pass a single render node but the container still sees all GPUs",
    "With one renderD node given, rocminfo still reports all 4 GPUs",
]


@pytest.mark.parametrize("prose", SUBSET)
@pytest.mark.parametrize(
    "run",
    [
        "$ podman run --rm --device=/dev/kfd --device=/dev/dri/renderD129 docker.io/rocm/rocm-terminal rocm-smi",
        "1. podman  run --rm --device /dev/kfd --device /dev/dri/renderD128 rocm/dev-ubuntu-22.04 rocminfo",
    ],
)
def test_rootless_podman_subset_all_listed_is_the_device_cgroup(tmp_path: Path, prose: str, run: str) -> None:
    assert _causes(tmp_path, run + "\n" + prose + "\n")[:1] == ["runtime.rootless-device-cgroup"]


def test_podman_info_rootless_and_subset(tmp_path: Path) -> None:
    text = (
        "docker run is fine; podman: --device=/dev/kfd --device=/dev/dri/renderD130\n"
        "rocm-smi lists all GPUs rather than the one passed\n"
        "security:\n  rootless: true\n"
    )
    assert _causes(tmp_path, text)[:1] == ["runtime.rootless-device-cgroup"]


@pytest.mark.parametrize(
    "text",
    [
        # privileged: every device is the container's, nothing to do with rootless
        "$ podman run --privileged --device=/dev/kfd --device=/dev/dri/renderD128 rocm/rocm-terminal rocm-smi\n" + SUBSET[0] + "\n",
        # rootful (sudo) Podman and Docker enforce the subset: not this cause
        "$ sudo podman run --device=/dev/kfd --device=/dev/dri/renderD128 rocm/rocm-terminal rocm-smi\n" + SUBSET[0] + "\n",
        "$ docker run --device=/dev/kfd --device=/dev/dri/renderD128 rocm/rocm-terminal rocm-smi\n" + SUBSET[0] + "\n",
        # rootless Podman with the subset and no complaint
        "$ podman run --device=/dev/kfd --device=/dev/dri/renderD128 rocm/rocm-terminal rocm-smi\nGPU[0] : Temperature (Sensor edge) (C): 35.0\n",
        # ordinary wording about all GPUs
        "$ podman run --device=/dev/kfd --device=/dev/dri/renderD128 rocm/rocm-terminal rocm-smi\nwe use all GPUs rather than one per job for training\n",
    ],
)
def test_subset_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "runtime.rootless-device-cgroup" not in _causes(tmp_path, text)


# --- Secure Boot refusing the driver module ---


@pytest.mark.parametrize(
    "prose",
    [
        "The driver module still fails to load with secure boot on",
        "nvidia.ko won't load when Secure Boot is enabled",
        "the kmod-nvidia modules cannot be loaded because of UEFI Secure Boot",
        "SecureBoot is enabled and the nvidia module does not load",
        "amdgpu failed to load with secure-boot enabled",
    ],
)
def test_module_not_loading_with_secure_boot_names_it(tmp_path: Path, prose: str) -> None:
    assert _causes(tmp_path, prose + "\n")[:1] == ["host.secure-boot-unsigned-module"]


@pytest.mark.parametrize(
    "prose",
    [
        "After disabling Secure Boot the driver loads fine",
        "the nvidia module failed to load with secure boot disabled",
        "Secure Boot is enabled on this machine; the driver works",
        "SecureBoot enabled",
    ],
)
def test_secure_boot_neighbours_stay_clean(tmp_path: Path, prose: str) -> None:
    assert "host.secure-boot-unsigned-module" not in _causes(tmp_path, prose + "\n")


def test_secure_boot_state_relates_to_driver_not_loaded(tmp_path: Path) -> None:
    text = (
        "$ mokutil --sb-state\nSecureBoot enabled\n"
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n"
    )
    log = tmp_path / "sb.log"
    log.write_text(text, encoding="utf-8")
    from tpdoctor.explain import explain

    found = explain([str(log)]).findings
    assert any("host.secure-boot-unsigned-module" in f.related for f in found)


# --- OpenGL on llvmpipe under --gpus without graphics ---

GPUS_RUN = "docker run --rm -it --gpus all -e DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix ubuntu:22.04 bash\n"


@pytest.mark.parametrize(
    "renderer",
    [
        "OpenGL renderer string: llvmpipe (LLVM 15.0.7, 256 bits)",
        "    GL_RENDERER:   llvmpipe (LLVM 12.0.0, 256 bits)",
        "GL_RENDERER   = llvmpipe (LLVM 17.0.6, 256 bits)",
        "    Device: llvmpipe (LLVM 15.0.7, 256 bits) (0xffffffff)",
        "OpenGL core profile renderer: llvmpipe (LLVM 15.0.7, 256 bits)",
        "OpenGL renderer string: softpipe",
    ],
)
def test_gpus_without_graphics_cap_on_llvmpipe(tmp_path: Path, renderer: str) -> None:
    assert _causes(tmp_path, GPUS_RUN + renderer + "\n")[:1] == ["nvidia.driver-capabilities-missing"]


def test_caps_without_graphics_on_llvmpipe(tmp_path: Path) -> None:
    text = "-e NVIDIA_DRIVER_CAPABILITIES=compute,utility\nOpenGL renderer string: llvmpipe (LLVM 15.0.7, 256 bits)\n"
    assert _causes(tmp_path, text)[:1] == ["nvidia.driver-capabilities-missing"]


@pytest.mark.parametrize(
    "text",
    [
        # no GPU request: llvmpipe is expected
        "docker run --rm -it -e DISPLAY ubuntu:22.04 glxinfo -B\nOpenGL renderer string: llvmpipe (LLVM 15.0.7, 256 bits)\n",
        # graphics requested: llvmpipe is something else (no X access, the host's GL libraries)
        "docker run --gpus all -e NVIDIA_DRIVER_CAPABILITIES=all ubuntu glxinfo\nOpenGL renderer string: llvmpipe (LLVM 15.0.7, 256 bits)\n",
        # the NVIDIA renderer
        GPUS_RUN + "OpenGL renderer string: NVIDIA GeForce GTX 1080 Ti/PCIe/SSE2\n",
        # llvmpipe named in passing
        GPUS_RUN + "we tried LIBGL_ALWAYS_SOFTWARE=1 to force llvmpipe\n",
    ],
)
def test_llvmpipe_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "nvidia.driver-capabilities-missing" not in _causes(tmp_path, text)
