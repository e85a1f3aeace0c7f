"""Issue 13, heldout47 lessons (glearn47b): display and graphics in GPU containers.

Lines are written from the code that prints them (not copied from the heldout47 logs):
- an EGL program's failure (moderngl/glcontext glcontext/egl.cpp "eglInitialize failed (0x%x)" and "requested device
  index %d, but found %d devices"; nvdiffrast glutil.cpp "[F glutil.cpp:%d] eglInitialize() failed"; PyOpenGL's
  EGLError "err = EGL_NOT_INITIALIZED"; dm_control "Cannot initialize a headless EGL display.") beside Mesa's libEGL
  failing to load its software rasteriser (src/loader/loader.c "MESA-LOADER: failed to open %s: %s (search paths %s,
  suffix %s)" / "... failed to open %s (search paths %s)", egllog.c "libEGL %s: %s") names the NVIDIA EGL vendor file
  (its message names the graphics capability beside it); either line alone names nothing;
- OpenCV's GTK highgui "(-2:Unspecified error) Can't initialize GTK backend in function 'cvInitSystem'" names the display;
- Wolf's hw_linux.cpp get_vendor: "{node} doesn't exists, automatic vendor recognition failed" (the render node is not
  in Wolf's container) and "Unable to recognise GPU vendor: {name}" (the render node is not the GPU meant).
Prose-only misses (colmap#45, nvdiffrec#61, DepthFlow#25, wolf#310, wolf#297, truenas/apps#4916) stay hard cases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings

EGL = "nvidia.egl-vendor-icd-missing"
X11 = "display.x11-unavailable"

SWRAST_20 = (
    "libEGL warning: MESA-LOADER: failed to open swrast: /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so: cannot open "
    "shared object file: No such file or directory (search paths /usr/lib/x86_64-linux-gnu/dri, suffix _dri)\n"
)
KMS_SWRAST = (
    "libEGL warning: MESA-LOADER: failed to open kms_swrast: /usr/lib/dri/kms_swrast_dri.so: cannot open shared "
    "object file: No such file or directory (search paths /usr/lib/dri, suffix _dri)\n"
)
SWRAST_17 = "libEGL warning: MESA-LOADER: failed to open swrast (search paths /usr/lib/x86_64-linux-gnu/dri)\n"

EGL_FAILURES = {
    "glcontext": "Exception: eglInitialize failed (0x3001)\n",
    "glcontext-no-device": "Exception: requested device index 0, but found 0 devices\n",
    "nvdiffrast": "[F glutil.cpp:338] eglInitialize() failed\n",
    "pyopengl": "OpenGL.raw.EGL._errors.EGLError: EGLError(\n\terr = EGL_NOT_INITIALIZED,\n\tbaseOperation = eglInitialize,\n",
    "dm_control": "ImportError: Cannot initialize a headless EGL display.\n",
}


@pytest.mark.parametrize("mesa", [SWRAST_20, KMS_SWRAST, SWRAST_17], ids=["mesa20", "kms_swrast", "mesa17"])
@pytest.mark.parametrize("failure", list(EGL_FAILURES.values()), ids=list(EGL_FAILURES))
def test_egl_failure_with_mesa_software_fallback_names_the_vendor_file(tmp_path: Path, mesa: str, failure: str) -> None:
    found = _findings(tmp_path, mesa + failure)
    assert found and found[0] == (EGL, "suggests")


@pytest.mark.parametrize(
    "text",
    [
        # either line alone: a bare EGL failure is in dev as a host driver without GL, an image bug, an app setting
        *EGL_FAILURES.values(),
        SWRAST_20,
        # GLX's loader (an X server's Mesa vendor), Android's hardware drivers, Mesa's hardware driver on the host
        "libGL error: MESA-LOADER: failed to open swrast: /usr/lib/dri/swrast_dri.so: cannot open shared object file\n"
        "Exception: eglInitialize failed (0x3001)\n",
        "W EGL-MAIN: MESA-LOADER: failed to open crocus: dlopen failed: library \"/vendor/lib64/dri/crocus_dri.so\" not found\n"
        "Exception: eglInitialize failed (0x3001)\n",
        "libEGL warning: MESA-LOADER: failed to open radeonsi: /usr/lib/dri/radeonsi_dri.so: cannot open shared object "
        "file: No such file or directory (search paths /usr/lib/dri, suffix _dri)\n"
        "Exception: eglInitialize failed (0x3001)\n",
        # devices found: glcontext asked for one past them
        "Exception: requested device index 2, but found 2 devices\n" + SWRAST_20,
        # the function names only
        "Exception: eglInitialize not found\n" + SWRAST_20,
    ],
)
def test_egl_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    assert EGL not in _causes(tmp_path, text)


@pytest.mark.parametrize(
    "line",
    [
        "cv2.error: OpenCV(4.8.0) /io/opencv/modules/highgui/src/window_gtk.cpp:635: error: (-2:Unspecified error) "
        "Can't initialize GTK backend in function 'cvInitSystem'",
        "  what():  OpenCV(4.5.4) ./modules/highgui/src/window_gtk.cpp:624: error: (-2:Unspecified error) "
        "Can't initialize GTK backend in function 'cvInitSystem'",
        # the form users paste without OpenCV's prefix
        "error: can't initialize GTK backend in function 'cvInitSystem'",
    ],
)
def test_opencv_gtk_backend_names_the_display(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[0] == (X11, "suggests")


@pytest.mark.parametrize(
    "line",
    [
        # a script testing the text, a README's sentence
        "    if \"Can't initialize GTK backend\" in str(e):",
        "Warning: Can't initialize GTK backend seen earlier; display disabled, running headless",
    ],
)
def test_opencv_gtk_text_in_code_stays_clean(tmp_path: Path, line: str) -> None:
    assert X11 not in _causes(tmp_path, line + "\n")


@pytest.mark.parametrize(
    "line",
    [
        "12:01:44.512031118 WARN  | /dev/dri/renderD128 doesn't exists, automatic vendor recognition failed",
        "wolf-1  | 08:55:13.507763756 WARN  | /dev/dri/renderD129 doesn't exists, automatic vendor recognition failed",
        "WARN  | /dev/dri/by-path/pci-0000:03:00.0-render doesn't exists, automatic vendor recognition failed",
    ],
)
def test_wolf_render_node_not_in_container(tmp_path: Path, line: str) -> None:
    found = _findings(tmp_path, line + "\n")
    assert found[0] == ("device.render-node-missing", "suggests")


@pytest.mark.parametrize(
    "line",
    [
        "11:02:13.331095164 WARN  | Unable to recognise GPU vendor: red hat, inc.",
        "wolf-1  | 19:12:30.691482909 WARN  | Unable to recognise GPU vendor: aspeed technology, inc.",
    ],
)
def test_wolf_unrecognised_vendor_names_the_wrong_node(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[0] == ("device.render-node-wrong", "suggests")


@pytest.mark.parametrize(
    "text",
    [
        # Wolf's normal detection lines: an AMD or NVIDIA node found, the NVIDIA probe of a non-NVIDIA GPU
        "14:18:23.639223656 DEBUG | /dev/dri/renderD129 vendor: Advanced Micro Devices, Inc. [AMD/ATI]\n",
        "14:18:23.628258792 DEBUG | /proc/driver/nvidia/gpus/0000:05:00.0/information doesn't exists, this might be "
        "normal if the GPU is not Nvidia\n",
        "19:12:30.691482909 DEBUG | /dev/dri/renderD128 vendor: NVIDIA Corporation\n",
    ],
)
def test_wolf_detection_lines_stay_clean(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text) == []
