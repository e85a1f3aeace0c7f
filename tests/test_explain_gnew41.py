"""Issue 13, gnew41: display.x11-unavailable, a program in a container (or under sudo / ssh) that needs the host's X
display and cannot use it (heldout41's lead nvidia-holoscan/holoscan-sdk#39).

Lines are written from the format strings of the code that prints them (not copied from any log):

- the X server's refusal reasons, which Xlib/xcb print on the client's stderr: X.Org os/auth.c CheckAuthorization
  ("Authorization required, but no authorization protocol specified\\n" since a0269727, "No protocol specified\\n"
  before it, as in xorg-server-1.20.14; "Authorization protocol not supported by server\\n"), os/mitauth.c
  ("Invalid MIT-MAGIC-COOKIE-1 key"); PuTTY's x11fwd.c ("%s X11 proxy: %s": "No authorisation provided",
  "Unsupported authorisation protocol"), whose appname MobaXterm's MoTTY replaces;
- GLFW src/x11_init.c ("X11: Failed to open display %s", "X11: The DISPLAY environment variable is missing") and 3.4's
  src/platform.c ("Failed to detect any supported platform"), under an application's "Glfw Error %d: %s" or Open3D's
  "[Open3D WARNING] GLFW Error: %s"; Qt's xcb plugin ("qt.qpa.xcb: could not connect to display %s", older
  "QXcbConnection: Could not connect to display %s", "Could not connect to any X display."); libXt ("Error: Can't open
  display: %s"); GTK ("cannot open display: %s"); freeglut ("freeglut (%s): failed to open display '%s'"); Tk
  ("couldn't connect to display \\"%s\\"", "no display name and no $DISPLAY environment variable").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from explain_helpers import notes as _notes

_X11 = "display.x11-unavailable"


def _guarded(signature: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew41)."""
    assert signature in _ids(), signature


def test_the_new_signatures_are_loaded() -> None:
    got = _ids()
    for sid in ("x11.server-refused-client", "x11.display-open-failed"):
        assert sid in got, sid


_OPEN_FAILED = {
    "glfw-3.3": "Glfw Error 65544: X11: Failed to open display :1\n",
    "glfw-3.3-no-display": "glfw error 65544: X11: The DISPLAY environment variable is missing\nfailed to initialize GLFW\n",
    "glfw-3.4": "Glfw Error 65550: Failed to detect any supported platform\n"
    "[error] [gxf_wrapper.cpp:63] Exception occurred when starting operator: 'holoviz' - Failed to initialize glfw\n",
    "open3d": "[Open3D WARNING] GLFW Error: X11: Failed to open display :0\n[Open3D WARNING] Failed to create window\n",
    "qt5": "qt.qpa.xcb: could not connect to display :0\n"
    "qt.qpa.plugin: Could not load the Qt platform plugin \"xcb\" in \"\" even though it was found.\n",
    "qt5-old": "QXcbConnection: Could not connect to display :1\nAborted (core dumped)\n",
    "qt5-screen": "qt.qpa.screen: QXcbConnection: Could not connect to display\nCould not connect to any X display.\n",
    "xt": "Error: Can't open display: :0\n",
    "gtk": "(rviz:77): Gtk-WARNING **: 09:14:02.551: cannot open display: :1\n",
    "xdpyinfo": "xdpyinfo:  unable to open display \":0\".\n",
    "freeglut": "freeglut (./build/viewer): failed to open display ':0'\n",
    "tk": "_tkinter.TclError: couldn't connect to display \":1\"\n",
    "tk-no-display": "_tkinter.TclError: no display name and no $DISPLAY environment variable\n",
}


@pytest.mark.parametrize("form", sorted(_OPEN_FAILED))
def test_a_display_that_does_not_open_names_the_cause(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _OPEN_FAILED[form])
    assert got and got[0] == (_X11, "suggests"), got


_REFUSED = {
    "xorg-21": "Authorization required, but no authorization protocol specified\n",
    "xorg-1.20": "No protocol specified\n",
    "roslaunch": "[joint_state_publisher_gui-3] Authorization required, but no authorization protocol specified\n",
    "cookie": "Invalid MIT-MAGIC-COOKIE-1 key\n",
    "unsupported": "Authorization protocol not supported by server\n",
    "putty": "PuTTY X11 proxy: Unsupported authorisation protocol\n",
    "moba": "MoTTY X11 proxy: No authorisation provided\n",
}


@pytest.mark.parametrize("form", sorted(_REFUSED))
def test_the_servers_refusal_before_the_open_failure_names_the_cause(tmp_path: Path, form: str) -> None:
    text = _REFUSED[form] + "Glfw Error 65544: X11: Failed to open display localhost:11.0\n"
    got = _findings(tmp_path, text)
    assert got and got[0] == (_X11, "suggests"), got
    # both lines are evidence of the one cause
    assert _X11 in _all(tmp_path, _REFUSED[form] + "qt.qpa.xcb: could not connect to display :1\n")


@pytest.mark.parametrize("form", sorted(_REFUSED))
def test_the_refusal_alone_is_a_note(tmp_path: Path, form: str) -> None:
    # hwloc (Open MPI) probes the display for GPUs and prints the refusal in runs that then work
    text = _REFUSED[form] + "Time = 0.5\nExecutionTime = 1.2 s\nEnd\n"
    assert _X11 not in [c for c, _ in _findings(tmp_path, text)]
    assert any("refused a connection" in n for n in _notes(tmp_path, text)), _notes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        "ValueError: No protocol specified in the URL 'models/llama'\n",  # not the X server's reason line
        "Error: No protocol specified for the endpoint\n",
        "[GLFW] Wayland: Failed to connect to display\n",  # Wayland, not X11
        "libEGL warning: DRI2: failed to authenticate\n",
        "DISPLAY=:0\nXAUTHORITY=/run/user/1000/gdm/Xauthority\n",  # an environment dump
        "QStandardPaths: XDG_RUNTIME_DIR not set, defaulting to '/tmp/runtime-root'\n",
        "[AVHWDeviceContext @ 0x5555] No VA display found for device /dev/dri/renderD128.\n",
        "Glfw Error 65543: GLX: Failed to create context: GLXBadFBConfig\n",  # a display that opened
    ],
)
def test_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("x11.display-open-failed")
    _guarded("x11.server-refused-client")
    assert _X11 not in _all(tmp_path, text)


def test_a_container_failure_of_its_own_is_not_hidden(tmp_path: Path) -> None:
    text = (
        "docker: Error response from daemon: could not select device driver \"\" with capabilities: [[gpu]].\n"
        "Glfw Error 65550: Failed to detect any supported platform\n"
    )
    got = [c for c, _ in _findings(tmp_path, text)]
    assert "runtime.nvidia-toolkit-missing" in got and _X11 in got, got


# --- host.nomodeset-gpu-driver-disabled -----------------------------------------------------------------------------
# drivers/gpu/drm/drm_nomodeset.c disable_modeset's pr_warn (vgacon.c text_mode before v5.17), amdgpu_init's DRM_ERROR
# before v5.17 ('VGACON disables amdgpu kernel modesetting.'), the kernel's "Command line: %s" / "Kernel command line:
# %s" boot lines, /etc/default/grub, and the amdgpu(-pro) installer's refusal; then rocminfo's "ROCk module is NOT
# loaded, possibly no GPU devices", rocm-smi's "Driver not initialized (amdgpu not found in modules)", torch's "No XPU
# devices are available."

_NM = "host.nomodeset-gpu-driver-disabled"
_NM_LINES = {
    "drm-warn": "[    0.000000] You have booted with nomodeset. This means your GPU drivers are DISABLED\n",
    "amdgpu-5.x": "[    2.113541] [drm:amdgpu_init [amdgpu]] *ERROR* VGACON disables amdgpu kernel modesetting.\n",
    "cmdline": "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz-6.14.0-15-generic root=UUID=0 ro quiet splash nomodeset\n",
    "kcmdline": "[    0.031415] Kernel command line: BOOT_IMAGE=/boot/vmlinuz-6.8.0 ro nomodeset amd_iommu=on\n",
    "grub": "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash nomodeset\"\n",
    "installer": "nomodeset detected in kernel parameters. amdgpu requires KMS\n",
}
_NO_GPU = {
    "rocminfo": "ROCk module is NOT loaded, possibly no GPU devices\n",
    "rocm-smi": "ERROR:root:Driver not initialized (amdgpu not found in modules)\n",
    "xpu": "RuntimeError: No XPU devices are available.\n",
}


@pytest.mark.parametrize("form", sorted(_NM_LINES))
@pytest.mark.parametrize("gpu", sorted(_NO_GPU))
def test_nomodeset_beside_an_amd_or_intel_gpu_not_found_names_it_first(tmp_path: Path, form: str, gpu: str) -> None:
    got = _findings(tmp_path, _NM_LINES[form] + _NO_GPU[gpu])
    assert got and got[0] == (_NM, "suggests"), got


@pytest.mark.parametrize("form", sorted(_NM_LINES))
def test_nomodeset_alone_is_a_note(tmp_path: Path, form: str) -> None:
    # NVIDIA hosts boot with it and CUDA works: nvidia.ko does not honour nomodeset
    text = _NM_LINES[form] + "[    3.2] nvidia-nvlink: Nvlink Core is being initialized, major device number 235\n"
    assert _NM not in [c for c, _ in _findings(tmp_path, text)]
    assert any("booted with nomodeset" in n for n in _notes(tmp_path, text)), _notes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        "Kernel command line: BOOT_IMAGE=/vmlinuz ro quiet amdgpu.nomodeset=0\nROCk module is NOT loaded, possibly no GPU devices\n",
        "Kernel command line: BOOT_IMAGE=/vmlinuz ro quiet nomodeset.conf\nROCk module is NOT loaded, possibly no GPU devices\n",
        "If the screen stays black, try adding nomodeset to the boot options.\nROCk module is NOT loaded, possibly no GPU devices\n",
    ],
)
def test_nomodeset_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("kernel.nomodeset-gpu-drivers-disabled")
    assert _NM not in _all(tmp_path, text)


# --- display.xorg-wrapper-console-only: xserver hw/xfree86/xorg-wrapper.c ('%s: Only console users are allowed to run
# the X server\n', '%s: Only root is allowed to run the X server\n' with argv[0] the wrapper's path) -----------------

_XW = "display.xorg-wrapper-console-only"


@pytest.mark.parametrize(
    "line",
    [
        "/usr/lib/xorg/Xorg.wrap: Only console users are allowed to run the X server\n",
        "/usr/libexec/Xorg.wrap: Only console users are allowed to run the X server\n",
        "/usr/lib/xorg/Xorg.wrap: Only root is allowed to run the X server\n",
    ],
)
def test_xorgs_wrapper_refusal_names_the_wrapper_config(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line + "xinit: giving up\nxinit: unable to connect to X server: Connection refused\n")
    assert got and got[0] == (_XW, "proves"), got


def test_the_wrapper_config_itself_stays_clean(tmp_path: Path) -> None:
    _guarded("xorg.wrapper-console-only")
    text = "allowed_users=console\nneeds_root_rights=auto\n# Only console users may start X unless allowed_users=anybody\n"
    assert _XW not in _all(tmp_path, text)


# --- runtime.nvidia-toolkit-missing: the nvidia-docker command is gone (bash '%s: command not found', dash '%s: not
# found', zsh 'command not found: %s') ---------------------------------------------------------------------------------

_TK = "runtime.nvidia-toolkit-missing"


@pytest.mark.parametrize(
    "line",
    [
        "bash: nvidia-docker: command not found\n",
        "./docker/run.sh: line 7: nvidia-docker: command not found\n",
        "run.sh: 4: nvidia-docker: not found\n",
        "zsh: command not found: nvidia-docker\n",
    ],
)
def test_a_missing_nvidia_docker_command_names_the_toolkit(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (_TK, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        "bash: nvidia-docker-compose: command not found\n",  # another tool
        "E: Unable to locate package nvidia-docker\n",
        "docker: 'nvidia-docker' is not a docker command.\n",
    ],
)
def test_nvidia_docker_look_alikes_do_not_name_the_wrapper(tmp_path: Path, text: str) -> None:
    _guarded("nvidia-docker.command-not-found")
    assert _TK not in _all(tmp_path, text)


@pytest.mark.parametrize(
    "line",
    [
        # a headless training host whose script sets clocks or fans through nvidia-settings (GTK's warning), or
        # switches the screensaver off: the job goes on without a display
        "(nvidia-settings:2311): Gtk-WARNING **: 12:00:00.000: cannot open display: \n",
        "xset:  unable to open display \"\"\n",
        "xhost:  unable to open display \":0\"\n",
    ],
)
def test_side_tools_without_a_display_in_a_working_run_stay_clean(tmp_path: Path, line: str) -> None:
    text = line + "INFO llm_engine.py:100] Initializing an LLM engine with config: tensor_parallel_size=2\n"
    assert _X11 not in _all(tmp_path, text)
    # the same words from the program itself still name it
    assert _X11 in _all(tmp_path, "(rviz:77): Gtk-WARNING **: 09:14:02.551: cannot open display: :1\n")
