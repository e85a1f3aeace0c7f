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
    assert got[0].severity.name.lower() == "degraded"  # before launch only a window needs it
    assert "/tmp/.X11-unix/X0" in got[0].message
    assert got[0].fixes[0].id == "x11-share-socket-and-display"


def test_a_socket_directory_without_the_displays_socket_is_found(tmp_path: Path) -> None:
    msgs = _x11(_facts(tmp_path, sockets=("X0",), DISPLAY=":1.0"))
    assert len(msgs) == 1 and "X1" in msgs[0], msgs


def test_the_mounted_socket_is_clean(tmp_path: Path) -> None:
    assert _facts(tmp_path / "z", sockets=("X0",), DISPLAY=":0").display.x11_sockets == ["X0"]  # read, and found
    assert _x11(_facts(tmp_path, sockets=("X0", "X1"), DISPLAY=":1")) == []
    assert _x11(_facts(tmp_path / "b", sockets=("X0",), DISPLAY="unix:0")) == []


def test_the_abstract_socket_of_the_hosts_network_is_enough(tmp_path: Path) -> None:
    facts = _facts(tmp_path, abstract=("X0",), DISPLAY=":0")
    assert facts.display.x11_abstract == ["X0"]
    assert _x11(facts) == []


def test_no_display_and_tcp_displays_are_not_judged(tmp_path: Path) -> None:
    assert _facts(tmp_path / "z", DISPLAY="localhost:10.0").display.x11_socket_dir is False  # looked at, not judged
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


# --- host.nomodeset-gpu-driver-disabled: /proc/cmdline and the PCI functions without a driver -----------------------

_NM = "host.nomodeset-gpu-driver-disabled"


def _pci_facts(tmp_path: Path, cmdline: str, gpus: list[tuple[str, str, str, bool]]) -> Facts:
    fr = FakeRoot(tmp_path)
    fr.write("proc/cmdline", cmdline + "\n")
    for bdf, vendor, klass, bound in gpus:
        fr.write(f"sys/bus/pci/devices/{bdf}/vendor", vendor + "\n")
        fr.write(f"sys/bus/pci/devices/{bdf}/class", klass + "\n")
        if bound:
            fr.symlink(f"sys/bus/pci/devices/{bdf}/driver", "../../../bus/pci/drivers/amdgpu")
    fr.flush()
    return collect_facts(fr.root, dict(fr.env), live=False)


def _nm(facts: Facts) -> list[str]:
    return [f.message for f in run_fact_rules(facts, CheckOptions()) if f.cause == _NM]


def test_nomodeset_with_an_amd_gpu_without_driver_is_found(tmp_path: Path) -> None:
    facts = _pci_facts(tmp_path, "BOOT_IMAGE=/vmlinuz ro quiet splash nomodeset",
                       [("0000:c5:00.0", "0x1002", "0x038000", False), ("0000:00:14.0", "0x8086", "0x0c0330", False)])
    assert facts.kernel.cmdline_nomodeset is True
    assert facts.kernel.gpus_without_driver == ["0000:c5:00.0 0x1002"]  # the USB controller is no GPU
    msgs = _nm(facts)
    assert len(msgs) == 1 and "0000:c5:00.0" in msgs[0], msgs


def test_nomodeset_is_quiet_where_it_disables_nothing(tmp_path: Path) -> None:
    # an NVIDIA-only host (nvidia.ko ignores nomodeset), a bound AMD GPU, and no nomodeset at all
    assert _nm(_pci_facts(tmp_path / "a", "ro nomodeset", [("0000:01:00.0", "0x10de", "0x030000", False)])) == []
    assert _nm(_pci_facts(tmp_path / "b", "ro nomodeset", [("0000:03:00.0", "0x1002", "0x030000", True)])) == []
    quiet = _pci_facts(tmp_path / "c", "ro quiet amdgpu.nomodeset=0", [("0000:03:00.0", "0x1002", "0x030000", False)])
    assert quiet.kernel.cmdline_nomodeset is False and _nm(quiet) == []


def test_the_collector_and_the_rule_read_display_alike(tmp_path: Path) -> None:
    """One reader (model/facts.py local_display_socket) for both: libxcb reads the number with strtoul, so ':07' is
    display 7 (socket X7); a non-ASCII digit is not a display. Before, the rule read `\\d+` (any Unicode digit,
    unbounded) and kept the leading zero ('X07'), while the collector read `[0-9]{1,9}`."""
    assert _x11(_facts(tmp_path, sockets=("X7",), DISPLAY=":07")) == []
    assert _x11(_facts(tmp_path / "b", sockets=("X0",), DISPLAY=":\u0661")) == []  # not a local display: not judged
    assert _x11(_facts(tmp_path / "c", sockets=("X0",), DISPLAY=":" + "9" * 40)) == []
