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


def iter_buffers(
    stream: BinaryIO, chunk: int = CHUNK, max_line: int = MAX_LINE, notes: list[str] | None = None
) -> Iterator[tuple[bytearray, int]]:
    """Yield (buffer, end): buffer[:end] holds complete lines and ends in b'\\n'. Giant lines are
    cut at max_line.

    Zero-copy: the stream reads straight into one preallocated buffer (readinto), the block is
    scanned in place, and only the unfinished last line (usually < 200 bytes) is moved to the
    front before the next read. The buffer is reused, so the consumer must be done with it before
    asking for the next block.

    Damaged input (a truncated gzip) ends the stream with a note instead of an error, so what was
    readable is still explained.
    """
    buf = bytearray(chunk + max_line + 1)
    view = memoryview(buf)
    filled = 0  # bytes of an unfinished line carried at the front of buf
    skipping = False  # inside a giant line whose head was already emitted
    try:
        while True:
            n, error = _readinto(stream, view[filled : filled + chunk])
            if error is not None and notes is not None:
                notes.append(f"input ends in damaged data ({error}); explained what was readable")
            if not n:
                break
            total = filled + n
            if skipping:
                nl = buf.find(b"\n", 0, total)
                if nl < 0:
                    filled = 0
                    if error is not None:
                        break
                    continue
                view[0 : total - nl - 1] = view[nl + 1 : total]
                total -= nl + 1
                skipping = False
            cut = buf.rfind(b"\n", 0, total)
            if cut < 0:
                filled = total
            else:
                yield buf, cut + 1
                filled = total - cut - 1
                if filled:
                    view[0:filled] = view[cut + 1 : total]
            if filled > max_line:
                buf[max_line] = 0x0A
                yield buf, max_line + 1
                filled = 0
                skipping = True
            if error is not None:
                break
        if filled:
            buf[filled] = 0x0A
            yield buf, filled + 1
    finally:
        view.release()


def _readinto(stream: BinaryIO, view: memoryview) -> tuple[int, str | None]:
    """Fill `view` as far as the stream allows. readinto1() keeps what a truncated gzip
    decompressed before the damage (read() would drop the whole partial chunk)."""
    readinto1 = getattr(stream, "readinto1", None)
    got = 0
    size = len(view)
    while got < size:
        try:
            if readinto1 is not None:
                n = readinto1(view[got:])
            else:
                data = stream.read(size - got)
                n = len(data)
                view[got : got + n] = data
        except (OSError, EOFError) as exc:
            return got, str(exc) or type(exc).__name__
        if not n:
            break
        got += n
    return got, None
