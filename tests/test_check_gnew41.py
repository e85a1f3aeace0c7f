"""Issue 13, gnew41: check's display.x11-unavailable rule (rules/display.py) on fake roots.

An X11 client reaches display :<n> through /tmp/.X11-unix/X<n>, or the abstract socket @/tmp/.X11-unix/X<n> in the
server's network namespace (listed by /proc/net/unix with a leading '@'; libxcb _xcb_open_unix tries it first on
Linux), then presents the cookie of the file XAUTHORITY names (X.Org os/auth.c CheckAuthorization)."""

from __future__ import annotations

from pathlib import Path

from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.rules.registry import run_fact_rules

_X11 = "display.x11-unavailable"
_UNIX_HEAD = "Num       RefCount Protocol Flags    Type St Inode Path\n"


def _facts(tmp_path: Path, *, sockets: tuple[str, ...] | None = None, abstract: tuple[str, ...] = (),
           cookie: bool | None = None, **env: str) -> Facts:
    fr = FakeRoot(tmp_path).dockerenv()
    if sockets is not None:
        fr.write("tmp/.X11-unix/.keep", "")
        for s in sockets:
            fr.write(f"tmp/.X11-unix/{s}", "")
    lines = [f"0000000000000000: 00000002 00000000 00010000 0001 01 {1000 + i} @/tmp/.X11-unix/{a}\n"
             for i, a in enumerate(abstract)]
    fr.write("proc/net/unix", _UNIX_HEAD + "".join(lines))
    if cookie:
        fr.write("tmp/.docker.xauth", "cookie")
    fr.set_env(**env).flush()
    return collect_facts(fr.root, dict(fr.env), live=False)


def _x11(facts: Facts) -> list[str]:
    return [f.message for f in run_fact_rules(facts, CheckOptions()) if f.cause == _X11]


def test_display_passed_without_the_socket_directory_is_found(tmp_path: Path) -> None:
    facts = _facts(tmp_path, DISPLAY=":0")
    assert facts.display.x11_socket_dir is False
    got = [f for f in run_fact_rules(facts, CheckOptions()) if f.cause == _X11]
    assert len(got) == 1 and got[0].confidence == "suggests", got
    assert "/tmp/.X11-unix/X0" in got[0].message
    assert got[0].fixes[0].id == "x11-share-socket-and-display"


def test_a_socket_directory_without_the_displays_socket_is_found(tmp_path: Path) -> None:
    msgs = _x11(_facts(tmp_path, sockets=("X0",), DISPLAY=":1.0"))
    assert len(msgs) == 1 and "X1" in msgs[0], msgs


def test_the_mounted_socket_is_clean(tmp_path: Path) -> None:
    assert _x11(_facts(tmp_path, sockets=("X0", "X1"), DISPLAY=":1")) == []
    assert _x11(_facts(tmp_path / "b", sockets=("X0",), DISPLAY="unix:0")) == []


def test_the_abstract_socket_of_the_hosts_network_is_enough(tmp_path: Path) -> None:
    facts = _facts(tmp_path, abstract=("X0",), DISPLAY=":0")
    assert facts.display.x11_abstract == ["X0"]
    assert _x11(facts) == []


def test_no_display_and_tcp_displays_are_not_judged(tmp_path: Path) -> None:
    assert _x11(_facts(tmp_path)) == []  # a headless job: nothing to say
    assert _x11(_facts(tmp_path / "b", DISPLAY="localhost:10.0")) == []  # ssh -X: a TCP proxy, no socket here
    assert _x11(_facts(tmp_path / "c", DISPLAY="gpu-ws:0")) == []


def test_an_xauthority_that_is_not_here_is_found(tmp_path: Path) -> None:
    got = [f for f in run_fact_rules(_facts(tmp_path, sockets=("X0",), DISPLAY=":0", XAUTHORITY="/tmp/.docker.xauth"),
                                     CheckOptions()) if f.cause == _X11]
    assert len(got) == 1 and "XAUTHORITY=/tmp/.docker.xauth" in got[0].message, got
    assert got[0].fixes[0].id == "x11-pass-cookie"
    ok = _facts(tmp_path / "b", sockets=("X0",), cookie=True, DISPLAY=":0", XAUTHORITY="/tmp/.docker.xauth")
    assert ok.display.xauthority_exists is True and _x11(ok) == []
