"""Issue 13, heldout41 lessons (glearn41b): GPU desktops and browsers in containers.

Lines are written from the code that prints them (not copied from the heldout41 logs):
- a Chromium renderer dying of a signal: the sad tab "Aw, Snap!" with "Error code: SIGTRAP|SIGBUS", the crash
  handler's "Received signal 7 BUS_ADRERR <addr>", chromedriver's "session deleted because of page crash",
  Puppeteer's "Page crashed!"; and a user's "it crashes chromium": records that name shm.too-small only beside a
  container with Docker's default /dev/shm (the documented cause: Kasm's SIGTRAP page, Puppeteer, docker-selenium);
- zsh's lower-case "bus error (core dumped)" (and users retyping bash's): the same reading as "Bus error";
- Mesa's llvmpipe in a container given its NVIDIA GPU with the graphics capability but no /dev/dri.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings

DOCKER_DEFAULT = "$ docker run -d -p 6901:6901 accetto/ubuntu-vnc-xfce-chromium-g3:latest\n"
DOCKER_SHM = "$ docker run -d --shm-size=2g -p 6901:6901 accetto/ubuntu-vnc-xfce-chromium-g3:latest\n"

CRASH = [
    "Aw, Snap! Something went wrong while displaying this webpage. Error code: SIGTRAP",
    "Aw, Snap! Error code: SIGBUS",
    "[0101/120000.5:ERROR:stack_trace_posix.cc] Received signal 7 BUS_ADRERR 7f3a2c001000",
    "selenium.common.exceptions.WebDriverException: Message: unknown error: session deleted because of page crash",
    "Error: Page crashed!",
]


@pytest.mark.parametrize("line", CRASH)
def test_browser_crash_in_container_with_default_shm_names_shm_too_small(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, DOCKER_DEFAULT + line + "\n")[:1] == [("shm.too-small", "suggests")]
    # neighbours: the crash alone (a renderer dies for many reasons), and beside a container given --shm-size
    assert causes(tmp_path, line + "\n") == []
    assert "shm.too-small" not in causes(tmp_path, DOCKER_SHM + line + "\n")


def test_sad_tab_in_an_unparsed_docker_create_names_shm_too_small(tmp_path: Path) -> None:
    # `docker create` is not parsed as a run command; the container is still in sight and no shm setting is
    text = "Container created with `docker create --name=ubuntu -p 6901:6901 accetto/ubuntu-vnc-xfce-chromium-g3`.\n" + CRASH[0] + "\n"
    assert findings(tmp_path, text)[:1] == [("shm.too-small", "suggests")]
    assert "shm.too-small" not in causes(tmp_path, text.replace("docker create ", "docker create --shm-size=1g "))


@pytest.mark.parametrize(
    "prose",
    ["Heavy pages consistently crash chromium inside the desktop.", "Firefox keeps crashing once a video page loads."],
)
def test_crash_prose_beside_default_shm_command(tmp_path: Path, prose: str) -> None:
    assert causes(tmp_path, DOCKER_DEFAULT + prose + "\n")[:1] == ["shm.too-small"]
    assert causes(tmp_path, prose + "\n") == []
    assert "shm.too-small" not in causes(tmp_path, DOCKER_SHM + prose + "\n")


@pytest.mark.parametrize(
    "line",
    [
        "zsh: bus error (core dumped)  ./tools/replay/replay --demo",  # zsh's job report (signames2.awk, jobs.c)
        "zsh: bus error  python3 serve.py",
        'replay died with "bus error(core dumped)" inside docker',  # bash's line retyped in lower case
    ],
)
def test_lowercase_bus_error_forms(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == ["shm.too-small"]
    # the words without the job report stay clean
    assert causes(tmp_path, "PCIe bus error counters are zero; no core dumped.\n") == []


GLX = "OpenGL renderer string: llvmpipe (LLVM 15.0.7, 256 bits)\n"
RUN_GFX = "$ docker run -it --gpus all -e NVIDIA_DRIVER_CAPABILITIES=all -p 6901:6901 kasmweb/ubuntu-jammy-desktop:1.16.0\n"


def test_llvmpipe_with_graphics_caps_and_no_dri_names_render_node(tmp_path: Path) -> None:
    assert findings(tmp_path, RUN_GFX + "$ glxinfo -B\n" + GLX) == [("device.render-node-missing", "suggests")]
    # neighbours: /dev/dri passed, no graphics capability (the capability decides), llvmpipe on a host
    run = RUN_GFX.replace("-p 6901", "--device /dev/dri/renderD128 -p 6901")
    assert "device.render-node-missing" not in causes(tmp_path, run + GLX)
    run = "$ docker run -it --gpus all -p 6901:6901 kasmweb/ubuntu-jammy-desktop:1.16.0\n"
    assert causes(tmp_path, run + GLX)[:1] == ["nvidia.driver-capabilities-missing"]
    assert causes(tmp_path, GLX) == []


@pytest.mark.parametrize(
    "line",
    [
        "In rootless mode --group-add creates a group in the user namespace but the device nodes keep their ownership in the host namespace.",
        "--group-add render adds a group inside the user-namespace with a different gid than the render group of the host",
    ],
)
def test_rootless_group_add_prose_names_gid_unmapped(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [("userns.gid-unmapped", "suggests")]
    # without the user namespace it is only a group-add question
    assert causes(tmp_path, "I added --group-add video so the container user can open /dev/dri on the host.\n") == []
