"""The lead's fixes of review44's leftovers (thirty-third session)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest


def test_explain_reads_stdin_from_a_growing_file_up_to_its_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`explain - < train.log` while the job goes on writing train.log: a named log is read up to its size at open
    (gsafe44), stdin redirected from the same file grew as fast as it was read and explain never ended (review44)."""
    from test_gsafe44 import read_while_appending
    from tpdoctor.explain.reader import open_log

    log = tmp_path / "train.log"
    first = b"NCCL WARN one\n" * 1000
    log.write_bytes(first)
    with open(log, "rb") as raw_stdin, open(log, "ab") as writer:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw_stdin))
        with open_log("-") as stream:
            got = read_while_appending(stream, writer, len(first))
    assert got == first


def test_stdin_from_a_regular_file_is_capped_where_it_stands(tmp_path: Path) -> None:
    """The cap starts where stdin stands (a script that read the first line itself leaves the rest to explain)."""
    import os

    from tpdoctor.explain.reader import _stdin_up_to_size

    log = tmp_path / "a.log"
    log.write_bytes(b"first\nsecond\n")
    fd = os.open(log, os.O_RDONLY)
    try:
        os.lseek(fd, 6, os.SEEK_SET)
        raw = open(fd, "rb", closefd=False)
        capped = _stdin_up_to_size(raw)
        with open(log, "ab") as w:
            w.write(b"third\n")
        assert capped.read() == b"second\n"
    finally:
        os.close(fd)


# --- review44's data leftovers ----------------------------------------------------------------------------------------

EGL = "nvidia.egl-vendor-icd-missing"


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("ls: cannot access '/usr/share/glvnd/egl_vendor.d/10_nvidia.json': No such file or directory\n", True),
        ("cat: /usr/share/glvnd/egl_vendor.d/10_nvidia.json: No such file or directory\n", True),
        # libglvnd reads /etc/glvnd/egl_vendor.d too, where NVIDIA's file is normally absent
        ("ls: cannot access '/etc/glvnd/egl_vendor.d/10_nvidia.json': No such file or directory\n", False),
        ("cat: /etc/glvnd/egl_vendor.d/10_nvidia.json: No such file or directory\n", False),
    ],
)
def test_the_egl_vendor_file_is_missing_only_where_nvidia_puts_it(tmp_path: Path, line: str, named: bool) -> None:
    from explain_helpers import causes

    assert (EGL in causes(tmp_path, line)) is named


SHM_ATTACH = (
    "X Error of failed request:  BadAccess (attempt to access private resource denied)\n"
    "  Major opcode of failed request:  130 (MIT-SHM)\n"
    "  Minor opcode of failed request:  1 (X_ShmAttach)\n"
)
MITSHM = "display.x11-mitshm-ipc-isolated"


@pytest.mark.parametrize(
    ("config", "forwarded"),
    [
        ("X11Forwarding yes\n", True),
        ("ForwardX11 yes\n", True),
        ("ForwardX11Trusted yes\n", True),
        # an sshd_config / ssh -G dump saying the forwarding is off is no forwarded display
        ("X11Forwarding no\n", False),
        ("ForwardX11 no\n", False),
        ("ForwardX11Trusted no\n", False),
        ("forwardx11 no\nX11Forwarding=no\n", False),
    ],
)
def test_x11_forwarding_switched_off_keeps_the_ipc_reading(tmp_path: Path, config: str, forwarded: bool) -> None:
    from explain_helpers import causes

    got = causes(tmp_path, config + SHM_ATTACH)
    assert (MITSHM in got) is not forwarded, got


# --- gsafe44's leftover: SARIF's artifactLocation.uri is a URI reference ---------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["my run #1?.log", "100% done.log", "a:b.log", "ünïcode ✓.log", b"c1\x9b2J\x9d0;t.log"],
)
def test_sarif_uri_is_the_name_percent_encoded(tmp_path: Path, name: str | bytes) -> None:
    """A log named with a space, `#`, `?`, `%`, a colon or bytes that are not UTF-8 went into artifactLocation.uri raw:
    no valid URI reference (a consumer reads `#1?.log` as a fragment). It is percent-encoded; decoding gives the name."""
    import json
    import os
    import re
    from urllib.parse import unquote_to_bytes

    from test_safety_fuzz import invoke

    fname = os.fsdecode(name) if isinstance(name, bytes) else name
    log = tmp_path / fname
    log.write_text("NCCL WARN Cuda failure 217 'peer access is not supported between these two devices'\n")
    code, out = invoke("explain", "--format", "sarif", str(log))
    assert code in (0, 3), out[-2000:]
    uris = [
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for run in json.loads(out)["runs"]
        for res in run["results"]
        for loc in res.get("locations", [])
    ]
    assert uris, out[-2000:]
    for uri in uris:
        # RFC 3986 characters only, and no scheme-looking first segment
        assert re.fullmatch(r"[A-Za-z0-9\-._~/%!$&'()*+,;=@]*", uri), uri
        assert unquote_to_bytes(uri) == os.fsencode(str(log)), uri


def test_sarif_uri_of_a_name_holding_a_secret_stays_redacted() -> None:
    from tpdoctor.render.sarif import artifact_uri

    uri = artifact_uri("/logs/run HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz0123.log")
    assert "hf_abcdefghijklmnopqrstuvwxyz0123" not in uri and "HF_TOKEN" in uri, uri
