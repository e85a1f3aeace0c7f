"""Issue 13, explain's known leftovers (gfix44).

Lines are written from the code that prints them:
- Triton's libcuda_dirs (python/triton/backends/nvidia/driver.py v3.x, python/triton/common/build.py v2.1-v2.3):
  `msg = 'libcuda.so cannot found!\\n'` then `'Please make sure GPU is set up and then run "/sbin/ldconfig"'` and
  `' (requires sudo) to refresh the linker cache.'`, raised by `assert any(...)` (AssertionError); glearn43b read it as
  nvidia.driver-libs-off-library-path first. The contexts that decide nvidia.libcuda-not-loadable (GKE, WSL, a
  container without the compute capability, Jetson) decide it too.
- libX11's default error handler (src/XlibInt.c _XPrintDefaultError: "X Error of failed request:  %s", "  Major
  opcode of failed request:  %d (%s)", "  Minor opcode of failed request:  %d (%s)", "  Segment id in failed
  request:  0x%lx") for MIT-SHM (XErrorDB XRequest.MIT-SHM.1 X_ShmAttach, .3 X_ShmPutImage); the display around it:
  sshd's forwarded display (session.c "localhost:%u.%u"), OpenSSH's clientloop.c "Warning: No xauth data; using fake
  authentication data for X11 forwarding.", TigerVNC's Xvnc banner ("Xvnc %s - built %s", XVNCVERSION "TigerVNC
  1.12.0"). xserver Xext/shm.c shm_access reads a client's credentials only on a local connection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings
from tpdoctor.explain import explain

# --- 1. Triton's ld-cache lookup reaches the libcuda contexts ------------------------------------------------------

TRITON = (
    "AssertionError: libcuda.so cannot found!\n"
    'Please make sure GPU is set up and then run "/sbin/ldconfig" (requires sudo) to refresh the linker cache.\n'
)


def _first(tmp_path: Path, text: str) -> tuple[str, str]:
    log = tmp_path / "f.log"
    log.write_text(text, encoding="utf-8")
    f = explain([str(log)]).findings[0]
    return f.cause, f.message


@pytest.mark.parametrize(
    ("context", "cause"),
    [
        # nvidia-container-toolkit's NVIDIA_DRIVER_CAPABILITIES without compute: no libcuda injected
        ("docker run --rm -e NVIDIA_DRIVER_CAPABILITIES=utility --gpus all vllm/vllm-openai:v0.6.3\n",
         "nvidia.driver-capabilities-missing"),
        ("docker run --rm --gpus 'all,capabilities=utility' my/trainer:latest\n", "nvidia.driver-capabilities-missing"),
        # nvidia-smi works (NVML injected) and shows no CUDA version: libcuda (compute) missing
        ("|-----------------------------------------+------------------------+----------------------+\n"
         "| NVIDIA-SMI 550.54.14              Driver Version: 550.54.14      CUDA Version: N/A      |\n",
         "nvidia.driver-capabilities-missing"),
        # Jetson / L4T: libcuda comes only through the NVIDIA runtime's csv mode
        ("Running on a Jetson AGX Orin, JetPack 6.0, in the l4t-pytorch container.\n", "runtime.jetson-gpus-flag"),
    ],
)
def test_triton_libcuda_lookup_takes_the_context_cause(tmp_path: Path, context: str, cause: str) -> None:
    assert causes(tmp_path, context + TRITON)[0] == cause
    assert causes(tmp_path, TRITON + context)[0] == cause


@pytest.mark.parametrize(
    ("context", "words"),
    [
        ("The pod runs on GKE Autopilot with one L4 per pod.\n", "GKE's device plugin"),
        ("  Mounts: /usr/local/nvidia from nvidia-install-dir-host (ro) (/home/kubernetes/bin/nvidia)\n",
         "GKE mounts the host driver"),
        ("I run this under WSL2 on Windows 11, no container.\n", "/usr/lib/wsl/lib"),
    ],
)
def test_triton_libcuda_lookup_on_gke_and_wsl_names_the_platform(tmp_path: Path, context: str, words: str) -> None:
    cause, message = _first(tmp_path, context + TRITON)
    assert cause == "nvidia.driver-libs-off-library-path"
    assert words in message


def test_triton_libcuda_lookup_alone_keeps_glearn43b_reading(tmp_path: Path) -> None:
    assert causes(tmp_path, TRITON)[0] == "nvidia.driver-libs-off-library-path"
    # a container with compute asked for is no capability problem
    text = "docker run --rm -e NVIDIA_DRIVER_CAPABILITIES=compute,utility --gpus all my/img\n" + TRITON
    assert "nvidia.driver-capabilities-missing" not in causes(tmp_path, text)
    # the dlopen form keeps its own reading
    dl = "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory\n"
    assert findings(tmp_path, dl)[0][0] == "runtime.nvidia-toolkit-missing"


# --- 2. MIT-SHM on a remote X server (ssh -X, DISPLAY=host:N, VNC) is not the container's IPC namespace ------------

SHM_PUT = (
    "X Error of failed request:  BadShmSeg (invalid shared segment parameter)\n"
    "  Major opcode of failed request:  130 (MIT-SHM)\n"
    "  Minor opcode of failed request:  3 (X_ShmPutImage)\n"
    "  Segment id in failed request:  0x2a\n"
)
SHM_ATTACH = (
    "X Error of failed request:  BadAccess (attempt to access private resource denied)\n"
    "  Major opcode of failed request:  130 (MIT-SHM)\n"
    "  Minor opcode of failed request:  1 (X_ShmAttach)\n"
)
MITSHM = "display.x11-mitshm-ipc-isolated"


@pytest.mark.parametrize("error", [SHM_PUT, SHM_ATTACH])
@pytest.mark.parametrize(
    "context",
    [
        "$ env | grep DISPLAY\nDISPLAY=localhost:10.0\n",
        "$ ssh -X ana@gpu-box\n",
        "Warning: No xauth data; using fake authentication data for X11 forwarding.\n",
        "docker run --rm -e DISPLAY=host.docker.internal:0 my/slicer:2.1\n",
        "\nXvnc TigerVNC 1.12.0 - built Feb  2 2022 10:23:11\n",
        "Xlib:  extension \"MIT-SHM\" missing on display \"192.168.1.20:0.0\".\n",
    ],
)
def test_mitshm_on_a_remote_or_vnc_display_is_not_the_ipc_namespace(tmp_path: Path, context: str, error: str) -> None:
    assert MITSHM not in causes(tmp_path, context + error)
    log = tmp_path / "x.log"
    log.write_text(context + error, encoding="utf-8")
    notes = explain([str(log)]).notes
    assert not any("--ipc=host (compose" in n for n in notes)
    assert any("QT_X11_NO_MITSHM=1" in n for n in notes)


@pytest.mark.parametrize("error", [SHM_PUT, SHM_ATTACH])
@pytest.mark.parametrize(
    "context",
    [
        "",
        "docker run -it --rm -e DISPLAY=$DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix osrf/ros:humble-desktop rviz2\n",
        "export DISPLAY=:0\n",
        # a VNC server on the host whose socket the container gets is the host's X server: the IPC reading stays
        "Xvnc TigerVNC 1.12.0 - built\ndocker run -e DISPLAY=:1 -v /tmp/.X11-unix:/tmp/.X11-unix img\n",
        "$ ssh -X ana@gpu-box\n$ docker run -e DISPLAY=:0 -v /tmp/.X11-unix:/tmp/.X11-unix img\n",
    ],
)
def test_mitshm_on_a_local_display_stays_the_ipc_namespace(tmp_path: Path, context: str, error: str) -> None:
    assert causes(tmp_path, context + error)[0] == MITSHM


# --- 3. a CDI error beside Podman's compat API: the request reached CDI, the spec is the story ----------------------

# podman's compose provider banner (cmd/podman/compose.go) and a Docker client on Podman's socket
PODMAN_COMPOSE = (
    '>>>> Executing external compose provider "/usr/local/bin/docker-compose". Please see podman-compose(1) for how '
    "to disable this message. <<<<\n"
)
DOCKER_HOST_PODMAN = "export DOCKER_HOST=unix:///run/user/1000/podman/podman.sock\n"
NO_GPU = "RuntimeError: No CUDA GPUs are available\n"
# cncf-tags/container-device-interface pkg/cdi/cache.go InjectDevices ("unresolvable CDI devices %s"), Podman's
# "setting up CDI devices: %w" (libpod/container_internal_linux.go), nvidia-ctk cdi list ("Found %d CDI devices")
CDI_LIST = "$ nvidia-ctk cdi list\nINFO[0000] Found 3 CDI devices\nnvidia.com/gpu=0\nnvidia.com/gpu=1\nnvidia.com/gpu=all\n"
UNRESOLVABLE_3 = "Error response from daemon: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=3\n"
SPEC_ELSEWHERE = "sudo nvidia-ctk cdi generate --output=/home/ana/cdi/nvidia.yaml\n"
# pkg/cdi/spec.go validateVersion wrapped by ReadSpec ("invalid CDI Spec: %w") and the cache's "failed to load CDI Spec"
SPEC_VERSION = (
    'Error: setting up CDI devices: failed to refresh CDI cache: failed to load CDI Spec "/etc/cdi/nvidia.yaml": '
    'invalid CDI Spec: invalid version "0.8.0"\n'
)
# crun src/libcrun/linux.c do_mounts "cannot stat `%s`" for a spec's versioned driver library
SPEC_STALE = "Error: crun: cannot stat `/usr/lib64/libEGL_nvidia.so.550.54.14`: No such file or directory: OCI runtime error\n"


@pytest.mark.parametrize("client", [PODMAN_COMPOSE, DOCKER_HOST_PODMAN])
@pytest.mark.parametrize(
    ("cdi", "cause"),
    [
        (CDI_LIST + UNRESOLVABLE_3, "runtime.cdi-spec-version-unsupported"),
        (SPEC_ELSEWHERE + UNRESOLVABLE_3, "runtime.cdi-spec-unresolved"),
        (SPEC_VERSION, "runtime.cdi-spec-version-unsupported"),
        (UNRESOLVABLE_3, "runtime.nvidia-toolkit-missing"),
    ],
)
def test_cdi_error_outranks_podman_compat_drop(tmp_path: Path, client: str, cdi: str, cause: str) -> None:
    got = causes(tmp_path, client + cdi + NO_GPU)
    assert "runtime.podman-compat-gpu-request-dropped" not in got
    assert got[0] == cause


@pytest.mark.parametrize("client", [PODMAN_COMPOSE, DOCKER_HOST_PODMAN])
def test_stale_cdi_spec_beside_podman_compat_is_not_a_dropped_request(tmp_path: Path, client: str) -> None:
    got = causes(tmp_path, client + SPEC_STALE + NO_GPU)
    assert "runtime.podman-compat-gpu-request-dropped" not in got
    assert "runtime.cdi-spec-stale" in got


@pytest.mark.parametrize("client", [PODMAN_COMPOSE, DOCKER_HOST_PODMAN])
def test_podman_compat_without_a_cdi_error_keeps_gnew43(tmp_path: Path, client: str) -> None:
    assert causes(tmp_path, client + NO_GPU)[0] == "runtime.podman-compat-gpu-request-dropped"

