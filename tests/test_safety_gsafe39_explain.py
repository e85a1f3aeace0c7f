"""gsafe39: hostile logs against explain's scanner and its new fact readers (launcher.py, context.py, the launcher
`variants` of remedies): 64 KiB lines of repeated launcher words, 10^5 digits, NULs, invalid UTF-8, CR-only line ends,
a sparse 2 GiB file, /dev/zero, a FIFO, a directory. No traceback, bounded work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke
from tpdoctor.explain import scanner, signatures
from tpdoctor.explain.reader import MAX_LINE

MIB = 1 << 20


def _long_lines(word: bytes, size: int = MIB) -> bytes:
    line = (word * (MAX_LINE // len(word)))[: MAX_LINE - 1] + b"\n"
    return line * (size // len(line) + 1)


def test_a_wrap_joins_no_64k_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines of 64 KiB of "CUDA error: " were each joined with three neighbours on each side as a wrapped message:
    every candidate signature searched ~450 KB per line (25 s for 1 MiB). A wrapped piece is at most 4 KiB."""
    log = tmp_path / "cuda.log"
    log.write_bytes(_long_lines(b"CUDA error: ", 4 * MAX_LINE))
    longest = [0]
    real = signatures.LazyRegex.search

    def spy(self: signatures.LazyRegex, text: str) -> object:
        longest[0] = max(longest[0], len(text))
        return real(self, text)

    monkeypatch.setattr(signatures.LazyRegex, "search", spy)
    code, out = invoke("explain", str(log))
    _check(code, out, "64 KiB CUDA error lines")
    piece = getattr(scanner, "WRAP_PIECE_MAX", 4096)
    assert longest[0] <= MAX_LINE + 2 * (scanner.WRAP_PIECES - 1) * (piece + 1), longest[0]


def test_a_short_wrapped_message_still_joins(tmp_path: Path) -> None:
    log = tmp_path / "wrap.log"
    log.write_text(
        "RuntimeError: oneCCL: ze_fd_manager.cpp:158 opendir failed: could not open\n"
        "device directory\n"
    )
    code, out = invoke("explain", str(log), "--format", "json")
    _check(code, out, "wrapped")
    assert "oneccl.bypath-missing" in out


LAUNCHER_WORDS = [
    b"torchrun ", b"--nproc-per-node 2 ", b"accelerate launch ", b"--num_processes 8 ", b"mpirun -np 4 ",
    b"deepspeed --num_gpus 2 ", b"local_ranks=[0, 1, ", b"--tensor-parallel-size 2 ", b"docker run ",
    b"nRanks 8 nNodes 1 localRanks ", b"python -m sglang.launch_server --tp ", b"text-generation-launcher --num-shard ",
    b"num_gpus=", b"is_available() ", b"services:", b"apiVersion: v1 ",
]


@pytest.mark.parametrize("word", LAUNCHER_WORDS, ids=lambda w: w.decode().strip()[:20])
def test_64k_lines_of_launcher_words(tmp_path: Path, word: bytes) -> None:
    log = tmp_path / "l.log"
    log.write_bytes(_long_lines(word, 3 * MAX_LINE) + b"RuntimeError: CUDA error: invalid device ordinal\n")
    for fmt in ("text", "json"):
        code, out = invoke("explain", str(log), "--format", fmt)
        _check(code, out, f"{word!r} {fmt}")


def test_hostile_numbers_and_bytes(tmp_path: Path) -> None:
    digits = b"9" * 100_000
    cases = {
        "digits": b"torchrun --nproc-per-node " + digits + b" x.py\nlocal_ranks=[0, " + b"1, " * 30000 + b"]\n"
                  b"--tensor-parallel-size " + digits + b"\nmpirun -np " + digits + b"\n--num_processes " + digits
                  + b"\nRuntimeError: CUDA error: invalid device ordinal\n",
        "nul": b"torchrun --nproc\x00-per-node 2\x00\xff\xfe RuntimeError: CUDA error: invalid device ordinal\x00\n" * 50,
        "cr": b"torchrun --nproc-per-node 4 train.py\rRuntimeError: CUDA error: invalid device ordinal\r" * 50,
        "utf8": bytes(range(128, 256)) * 100 + b"\n--nproc-per-node \xd9\xa3\xd9\xa3\n",
        "yaml-bomb": b"apiVersion: v1\nkind: Pod\n" + b"".join(
            b"%s: &%s [%s]\n" % (bytes([97 + i]), bytes([97 + i]), b",".join([b"*" + bytes([96 + i])] * 9) if i else b"1")
            for i in range(9)
        ) + b"spec: *i\n",
    }
    for name, data in cases.items():
        log = tmp_path / f"{name}.log"
        log.write_bytes(data)
        for fmt in ("text", "json", "sarif"):
            code, out = invoke("explain", str(log), "--format", fmt)
            _check(code, out, f"{name} {fmt}")


def test_sparse_device_fifo_directory(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.log"
    with sparse.open("wb") as f:
        f.truncate(2 << 30)  # 2 GiB of NULs, no blocks: read in 4 MiB blocks
        f.seek(1 << 30)
        f.write(b"\nRuntimeError: CUDA error: invalid device ordinal\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, out = invoke("explain", str(sparse))
    _check(code, out, "sparse")
    assert "invalid device ordinal" in out
    for arg in ("/dev/zero", str(tmp_path)):  # refused: one line, exit 2
        code, out = invoke("explain", arg)
        assert code == 2 and out.count("\n") == 1, out
    code, out = invoke("explain", str(fifo))  # no writer: read as empty
    _check(code, out, "fifo")
    assert "read 0 lines" in out
