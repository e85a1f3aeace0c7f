"""The lead's fixes of review44's leftovers (thirty-third session)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest


def test_explain_reads_stdin_from_a_growing_file_up_to_its_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`explain - < train.log` while the job goes on writing train.log: a named log is read up to its size at open
    (gsafe44), stdin redirected from the same file grew as fast as it was read and explain never ended (review44)."""
    from tpdoctor.explain.reader import open_log

    log = tmp_path / "train.log"
    first = b"NCCL WARN one\n" * 1000
    log.write_bytes(first)
    with open(log, "rb") as raw_stdin, open(log, "ab") as writer:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw_stdin))
        with open_log("-") as stream:
            got = bytearray()
            while True:
                writer.write(b"more\n" * 1000)  # the job goes on writing while explain reads
                writer.flush()
                data = stream.read(4096)
                if not data:
                    break
                got += data
                assert len(got) <= len(first), "read past the size stdin's file had"
    assert bytes(got) == first


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
