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
        stream = io.BufferedReader(raw) if not isinstance(raw, io.BufferedReader) else raw  # type: ignore[arg-type]
        head = stream.peek(2)[:2]
        if head == GZIP_MAGIC:
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
    while True:
        try:
            data = stream.read(chunk)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            # A truncated or corrupt gzip still yields what was readable before the damage.
            if notes is not None:
                notes.append(f"input ends in damaged data ({exc}); explained what was readable")
            break
        if not data:
            break
        if skipping:
            nl = data.find(b"\n")
            if nl < 0:
                continue
            data = data[nl + 1 :]
            skipping = False
        buf = carry + data if carry else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            carry = buf
        else:
            carry = buf[cut + 1 :]
            yield buf[: cut + 1] if cut + 1 < len(buf) else buf
        if len(carry) > max_line:
            yield carry[:max_line] + b"\n"
            carry = b""
            skipping = True
    if carry:
        yield carry + b"\n"
