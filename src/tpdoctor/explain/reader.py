"""Read logs of any shape as blocks of whole lines, in one pass, with flat memory.

A block is a bytes object that ends with b"\\n" and holds only complete lines, so the
multi-pattern engine can scan it at C speed and a line never straddles two blocks. A line
longer than `max_line` keeps its first `max_line` bytes (the rest is skipped up to the next
newline) so that one megabyte-long line cannot grow memory or slow the regexes.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from tpdoctor.errors import InputError

CHUNK = 4 << 20  # large reads amortise the per-call cost; small enough to stay cache-friendly
MAX_LINE = 64 << 10
GZIP_MAGIC = b"\x1f\x8b"


@contextmanager
def open_log(name: str) -> Iterator[BinaryIO]:
    """Open a path or '-' (stdin) as a binary stream, transparently gunzipping by magic bytes."""
    if name == "-":
        raw: BinaryIO = sys.stdin.buffer
        close = False
    else:
        if os.path.isdir(name):
            raise InputError(f"{name}: is a directory (give log files, or '-' for stdin)")
        try:
            raw = open(name, "rb")  # closed in finally
        except FileNotFoundError:
            raise InputError(f"{name}: no such file") from None
        except OSError as exc:
            raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
        close = True
    try:
        # open(..., "rb") and stdin.buffer are BufferedReaders already; peek() needs one.
        stream = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
        if stream.peek(2)[:2] == GZIP_MAGIC:
            yield gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[misc]
        else:
            yield stream
    finally:
        if close:
            raw.close()


def iter_blocks(
    stream: BinaryIO, chunk: int = CHUNK, max_line: int = MAX_LINE, notes: list[str] | None = None
) -> Iterator[bytes]:
    """Yield blocks of complete lines (each ending in b'\\n'); giant lines are cut at max_line.

    Damaged input (a truncated gzip) ends the stream with a note instead of an error, so what was
    readable is still explained.
    """
    carry = b""
    skipping = False  # inside a giant line whose head was already emitted
    damaged = False
    while not damaged:
        data, error = _read(stream, chunk)
        if error is not None:
            damaged = True
            if notes is not None:
                notes.append(f"input ends in damaged data ({error}); explained what was readable")
        if not data:
            break
        if skipping:
            nl = data.find(b"\n")
            if nl < 0:
                continue
            data = data[nl + 1 :]
            skipping = False
        cut = data.rfind(b"\n")
        if cut < 0:
            carry += data
        else:
            # one copy per block: the carried head plus this read up to its last newline
            head = data if cut + 1 == len(data) else data[: cut + 1]
            yield carry + head if carry else head
            carry = data[cut + 1 :]
        if len(carry) > max_line:
            yield carry[:max_line] + b"\n"
            carry = b""
            skipping = True
    if carry:
        yield carry + b"\n"


def _read(stream: BinaryIO, size: int) -> tuple[bytes, str | None]:
    """Read about `size` bytes with read1() so that a truncated gzip still returns what it
    decompressed before the damage (read() would drop the whole partial chunk)."""
    read1 = getattr(stream, "read1", None)
    if read1 is None:
        try:
            return stream.read(size), None
        except (OSError, EOFError) as exc:
            return b"", str(exc)
    parts: list[bytes] = []
    got = 0
    while got < size:
        try:
            piece = read1(size - got)
        except (OSError, EOFError) as exc:
            return b"".join(parts), str(exc) or type(exc).__name__
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts), None
