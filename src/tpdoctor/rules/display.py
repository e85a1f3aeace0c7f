"""The host's X display for a program in the container (issue 13, gnew41): display.x11-unavailable.

An X11 client connects to display :<n> through the server's Unix socket /tmp/.X11-unix/X<n> (Linux X servers also
listen on the abstract socket @/tmp/.X11-unix/X<n>, which only a process in the server's network namespace reaches),
then the server admits it by its access list (`xhost`) or by the cookie in the file XAUTHORITY names (X.Org os/auth.c
CheckAuthorization). A container started with `-e DISPLAY` but without `-v /tmp/.X11-unix:/tmp/.X11-unix`, or with
an XAUTHORITY that points at a file it was not given, fails in the program that opens the window (GLFW 'X11: Failed
to open display', Qt 'could not connect to display'; nvidia-holoscan/holoscan-sdk#39, osrf/docker_images#740,
carla-simulator/carla#3786)."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.model.facts import local_display_socket
from tpdoctor.rules.registry import fact_rule

_CAUSE = "display.x11-unavailable"


@fact_rule(_CAUSE)
def x11_display_reachable(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """A DISPLAY that names a local X display has its socket here, and the cookie XAUTHORITY names exists.

    **What it checks.** Only when DISPLAY is set. For a local display (`:<n>`, `:<n>.<screen>`, `unix:<n>`): the X
    server's socket `/tmp/.X11-unix/X<n>` in this root, or the abstract socket `@/tmp/.X11-unix/X<n>` in this
    network namespace (/proc/net/unix: a container on the host's network reaches the server that way without the
    directory). A TCP display (`localhost:10.0` from `ssh -X`, `host:0`) is not judged. Then, when XAUTHORITY is set
    to an absolute path, that the file exists.

    **Why it matters.** A program that opens a window or an X display (Holoviz/GLFW in Holoscan, RViz and other Qt
    tools, Open3D, Isaac Sim/Gym viewers, CARLA, glxinfo) connects through that socket and then presents the cookie
    the file holds; without the socket XOpenDisplay fails at once (GLFW: `X11: Failed to open display :0`, or 3.4's
    `Failed to detect any supported platform`; Qt: `could not connect to display :0`), and without a cookie the
    server refuses the client unless `xhost` admits its user (`Authorization required, but no authorization protocol
    specified`). DISPLAY passed with `-e DISPLAY` alone gives the name, not the socket.

    **How to fix.** Mount the socket directory and pass DISPLAY (`-e DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix`;
    compose `environment: DISPLAY` and `volumes: /tmp/.X11-unix:/tmp/.X11-unix`), then either mount a cookie file
    and point XAUTHORITY at it (`xauth nlist $DISPLAY | sed -e 's/^..../ffff/' | xauth -f /tmp/.docker.xauth nmerge
    -`) or admit the container's user on the host (`xhost +SI:localuser:root`). A job that needs no window should
    run headless (unset DISPLAY, the application's headless mode, EGL).

    Degraded, not a blocker, before launch: only a program that opens a window needs the display (in a log where
    one failed to, explain names the cause a blocker).

    Example: `docker run --gpus all -e DISPLAY=:0 holoscan ...` without the mount: DISPLAY=:0 and no
    /tmp/.X11-unix/X0 in the container.
    """
    display = facts.env.get("DISPLAY", "").strip()
    if not display:
        return
    d = facts.display
    sock = local_display_socket(display)
    if sock and d.x11_socket_dir is not None:
        if sock not in d.x11_sockets and sock not in d.x11_abstract:
            if not d.x11_socket_dir:
                where = "/tmp/.X11-unix is not here (the X server's socket directory was not mounted)"
            else:
                held = ", ".join(d.x11_sockets) or "nothing"
                where = f"/tmp/.X11-unix holds {held}, not {sock}"
            yield make_finding(
                _CAUSE,
                f"DISPLAY={display} names the local X display {sock[1:]}, but its socket /tmp/.X11-unix/{sock} is "
                f"not here and this network namespace has no abstract @/tmp/.X11-unix/{sock}: a program that opens a "
                "window (GLFW, Qt, GTK, Xlib) fails with 'Failed to open display' / 'could not connect to display'",
                [("env", f"DISPLAY={display}"), ("/tmp/.X11-unix", where)],
                confidence="suggests",
                severity="degraded",  # before launch: only a program that opens a window needs it (explain: blocker)
                prefer="x11-share-socket-and-display",
            )
    xauth = facts.env.get("XAUTHORITY", "").strip()
    if d.xauthority_exists is False and xauth:
        yield make_finding(
            _CAUSE,
            f"XAUTHORITY={xauth} names a file that is not here: Xlib finds no cookie for DISPLAY={display}, and the X "
            "server refuses the client ('Authorization required, but no authorization protocol specified') unless "
            "`xhost` admits its user",
            [("env", f"XAUTHORITY={xauth}"), (xauth, "absent")],
            confidence="suggests",
            severity="degraded",
            prefer="x11-pass-cookie",
        )
