"""Issue 13, gnew43: container/host causes heldout42's and heldout43's collectors found uncovered (c4*/uncovered.md).

Lines are written from the format strings of the code that prints them (never copied from a collected log):

- runtime.engine-predates-cdi: Podman's `fmt.Fprintln(os.Stderr, "Error:", err)` around Go's os.Stat error
  ("stat %s: no such file or directory") from pkg/specgen/generate/config_linux.go DevicesFromPath (v3.0.1-v3.4.4,
  where a CDI name is not recognised: no CDI before 3.2, only /etc/cdi/*.json through cdi.HasDevice in 3.2-3.4);
  moby's 'error gathering device information while adding custom device %q: %s' for a docker CLI before 25.
- display.x11-mitshm-ipc-isolated: libX11 _XPrintDefaultError ("  Minor opcode of failed request:  %d (%s)" with
  XErrorDB's XRequest.MIT-SHM.<n> names), Qt 4's qt_x_errhandler ("  Minor opcode: %d (%s)"), GDK's gdk_x_error
  ("  (Details: serial %ld error_code %d request_code %d (%s) minor_code %d)").
- runtime.podman-compat-gpu-request-dropped: Podman's cmd/podman/compose.go composeProviderExec banner (">>>> Executing
  external compose provider %q. Please see podman-compose(1) for how to disable this message. <<<<"), a shell's
  `export DOCKER_HOST=unix://...podman.sock`, and the no-GPU symptoms' own format strings (bash's "%s: command not
  found", torch's "Found no NVIDIA driver on your system", runc's exec refusal).
- k8s.gpushare-not-assigned: gpushare-device-plugin buildErrResponse ("no-gpu-has-%d%s-to-run") as
  nvidia-container-cli refuses it: "device error: unknown device id: %s" (1.0.x) and "device error: %s: unknown
  device" (select_devices), and the hook's exec line ("--device=%s").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids


def _guarded(entry: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew43)."""
    assert entry in _ids(), entry


def test_the_new_readings_are_loaded() -> None:
    got = _ids()
    for sid in (
        "x11.mitshm-attach-failed",
        "x11.mitshm-request-failed",
        "gpushare.no-gpu-has-placeholder",
        "docker.host-podman-socket",
        "podman-compat-gpu-request-dropped",
        "docker-host-podman-gpu-request-dropped",
    ):
        assert sid in got, sid


def test_the_new_causes_have_remedies() -> None:
    from tpdoctor.explain.signatures import knowledge_base

    kb = knowledge_base()
    causes = {c for s in kb.signatures for c in s.causes}
    for cause in ("runtime.engine-predates-cdi", "display.x11-mitshm-ipc-isolated", "k8s.gpushare-not-assigned"):
        assert cause in causes, cause
    assert any(c.emit == "runtime.podman-compat-gpu-request-dropped" for c in kb.correlations)


# --- runtime.engine-predates-cdi --------------------------------------------------------------------------------------

_CDI = "runtime.engine-predates-cdi"


@pytest.mark.parametrize(
    "text",
    [
        "Error: stat nvidia.com/gpu=0: no such file or directory\n",
        "Error: stat nvidia.com/gpu=all: no such file or directory\n",
        "$ sudo podman run --rm --device=nvidia.com/gpu=1 docker.io/library/ubuntu:22.04 nvidia-smi -L\n"
        "Error: stat nvidia.com/gpu=1: no such file or directory\n",
        # the docker CLI before 25 (or compose before 2.30) passes the name as a path
        'docker: Error response from daemon: error gathering device information while adding custom device "nvidia.com/gpu=0": no such file or directory.\n',
    ],
)
def test_a_cdi_name_stated_as_a_path_names_the_engine_first(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_CDI, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # Podman >= 4.0 resolves the name through CDI: its failures are the spec's, not the engine's age
        "Error: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=all\n",
        'Error: setting up CDI devices: failed to inject devices: failed to stat CDI host device "/dev/nvidia-uvm-tools": no such file or directory\n',
        # a real device path that is missing
        "Error: stat /dev/nvidia1: no such file or directory\n",
        'docker: Error response from daemon: error gathering device information while adding custom device "/dev/dri/renderD129": no such file or directory.\n',
        # the CDI name on a healthy command line
        "podman run --rm --device nvidia.com/gpu=all --security-opt=label=disable ubuntu nvidia-smi -L\n"
        "GPU 0: NVIDIA GeForce RTX 3090 (UUID: GPU-5d7a1c4e-2b3f-4a6d-9e8c-0f1b2c3d4e5f)\n",
    ],
)
def test_cdi_look_alikes_do_not_name_the_engine(tmp_path: Path, text: str) -> None:
    _guarded("x11.mitshm-attach-failed")  # a reading of this pass, so the test fails before it
    assert _CDI not in _all(tmp_path, text)


def test_the_compat_api_line_stays_the_absent_node(tmp_path: Path) -> None:
    # Podman's Docker API wraps the same stat ('container create: ...'): a Docker client's path form, read elsewhere
    _guarded("gpushare.no-gpu-has-placeholder")
    got = _findings(tmp_path, "Error response from daemon: container create: stat nvidia.com/gpu=all: no such file or directory\n")
    assert got and got[0][0] == "device.host-node-absent", got
    assert _CDI not in [c for c, _ in got]


# --- display.x11-mitshm-ipc-isolated ----------------------------------------------------------------------------------

_SHM = "display.x11-mitshm-ipc-isolated"
_XLIB = (
    "X Error of failed request:  {err}\n"
    "  Major opcode of failed request:  {major} (MIT-SHM)\n"
    "  Minor opcode of failed request:  {minor} ({name})\n"
    "  Serial number of failed request:  4411\n"
    "  Current serial number in output stream:  4412\n"
)
_QT4 = "X Error: {err} {code}\n  Extension:    {major} (MIT-SHM)\n  Minor opcode: {minor} ({name})\n  Resource id:  0x4a00011\n"
_GDK = (
    "(rviz:1): Gdk-ERROR **: 10:02:37.498: The program 'rviz' received an X Window System error.\n"
    "The error was '{err}'.\n"
    "  (Details: serial 316 error_code {code} request_code {major} (MIT-SHM) minor_code {minor})\n"
)
_ACCESS = "BadAccess (attempt to access private resource denied)"
_SEG = "BadShmSeg (invalid shared segment parameter)"


@pytest.mark.parametrize(
    "text",
    [
        _XLIB.format(err=_ACCESS, major=130, minor=1, name="X_ShmAttach"),
        _XLIB.format(err=_ACCESS, major=131, minor=1, name="X_ShmAttach"),  # another server's opcode
        _QT4.format(err=_ACCESS, code=10, major=130, minor=1, name="X_ShmAttach"),
        _GDK.format(err=_ACCESS, code=10, major=130, minor=1),
        _XLIB.format(err="BadValue (integer parameter out of range for operation)", major=130, minor=3, name="X_ShmPutImage"),
        _QT4.format(err=_SEG, code=128, major=130, minor=3, name="X_ShmPutImage"),
        _QT4.format(err="BadDrawable (invalid Pixmap or Window parameter)", code=9, major=130, minor=3, name="X_ShmPutImage"),
        _XLIB.format(err=_SEG, major=130, minor=5, name="X_ShmCreatePixmap"),
        _GDK.format(err=_SEG, code=128, major=130, minor=3),
    ],
)
def test_a_failed_mitshm_request_names_the_ipc_namespace(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_SHM, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # other extensions' failures: GLX, RANDR, the core protocol
        _XLIB.replace("(MIT-SHM)", "(GLX)").format(err="BadValue (integer parameter out of range for operation)", major=152, minor=3, name="X_GLXCreateContext"),
        "X Error of failed request:  BadMatch (invalid parameter attributes)\n  Major opcode of failed request:  42 (X_SetInputFocus)\n",
        "  (Details: serial 211 error_code 8 request_code 152 (GLX) minor_code 5)\n",
        "  Minor opcode of failed request:  1 (X_GLXRender)\n",
        # the fix on a command line, xdpyinfo's extension list, prose
        "docker run --rm -e DISPLAY -e QT_X11_NO_MITSHM=1 -v /tmp/.X11-unix:/tmp/.X11-unix osrf/ros:noetic-desktop rviz\n",
        "number of extensions:    28\n    BIG-REQUESTS\n    MIT-SCREEN-SAVER\n    MIT-SHM\n    RANDR\n",
        "XShmAttach is called once per image; see the MIT-SHM extension documentation\n",
    ],
)
def test_mitshm_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("x11.mitshm-attach-failed")
    assert _SHM not in _all(tmp_path, text)


# --- k8s.gpushare-not-assigned ----------------------------------------------------------------------------------------

_GS = "k8s.gpushare-not-assigned"


@pytest.mark.parametrize(
    "text",
    [
        "stderr: nvidia-container-cli: device error: unknown device id: no-gpu-has-1024MiB-to-run\n",
        "nvidia-container-cli: device error: no-gpu-has-4GiB-to-run: unknown device\n",
        # the hook's exec line before the refusal (escaped inside the kubelet's event)
        'stderr: exec command: [/usr/bin/nvidia-container-cli --load-kmods configure --ldconfig=@/sbin/ldconfig.real --device=no-gpu-has-512MiB-to-run --compute --utility --pid=4242 /var/lib/docker/overlay2/0a1b/merged]\\\\n"": unknown\n',
        # the first versions had no unit
        "nvidia-container-cli: device error: unknown device id: no-gpu-has-2-to-run\n",
    ],
)
def test_gpushares_placeholder_proves_no_gpu_was_assigned(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_GS, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        "nvidia-container-cli: device error: 3: unknown device\n",
        "nvidia-container-cli: device error: GPU-5d7a1c4e-2b3f-4a6d-9e8c-0f1b2c3d4e5f: unknown device\n",
        "grep -r no-gpu-has- /var/log/gpushare  # the placeholder's prefix\n",
        "Allocatable:\n  aliyun.com/gpu-count:  2\n  aliyun.com/gpu-mem:    30\n",
    ],
)
def test_gpushare_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("gpushare.no-gpu-has-placeholder")
    assert _GS not in _all(tmp_path, text)


# --- runtime.podman-compat-gpu-request-dropped --------------------------------------------------------------------------

_PC = "runtime.podman-compat-gpu-request-dropped"
_CLIENTS = {
    "banner": '>>>> Executing external compose provider "/usr/libexec/docker/cli-plugins/docker-compose". Please see podman-compose(1) for how to disable this message. <<<<\n',
    "socket": "export DOCKER_HOST=unix:///run/user/1000/podman/podman.sock\n",
    "rootful": "DOCKER_HOST=unix:///run/podman/podman.sock docker compose up -d\n",
}
_NO_GPU = {
    "bash": "bash: nvidia-smi: command not found\n",
    "torch": "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx\n",
    "exec": 'Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nvidia-smi": executable file not found in $PATH: unknown\n',
}


@pytest.mark.parametrize("client", sorted(_CLIENTS))
@pytest.mark.parametrize("symptom", sorted(_NO_GPU))
def test_a_docker_client_on_podman_then_no_gpu_names_the_dropped_request(tmp_path: Path, client: str, symptom: str) -> None:
    got = _findings(tmp_path, _CLIENTS[client] + " Container app-1  Started\n" + _NO_GPU[symptom])
    assert got and got[0] == (_PC, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # the client alone, or with GPUs listed
        _CLIENTS["banner"] + " Container app-1  Started\n",
        _CLIENTS["socket"] + "GPU 0: NVIDIA L4 (UUID: GPU-5d7a1c4e-2b3f-4a6d-9e8c-0f1b2c3d4e5f)\n",
        # podman-compose as the provider, or Docker's own socket, before the same symptom
        '>>>> Executing external compose provider "/usr/bin/podman-compose". Please see podman-compose(1) for how to disable this message. <<<<\n'
        + _NO_GPU["bash"],
        "export DOCKER_HOST=unix:///var/run/docker.sock\n" + _NO_GPU["bash"],
        # the symptom alone
        _NO_GPU["torch"],
    ],
)
def test_podman_compat_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("docker.host-podman-socket")
    assert _PC not in _all(tmp_path, text)
