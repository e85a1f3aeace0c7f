"""Read logs of any shape as blocks of whole lines, in one pass, with flat memory.

A block is a bytes object that ends with b"\\n" and holds only complete lines, so the
multi-pattern engine can scan it at C speed and a line never straddles two blocks. A line
longer than `max_line` keeps its first `max_line` bytes (the rest is skipped up to the next
newline) so that one megabyte-long line cannot grow memory or slow the regexes.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import mmap
import os
import re
import stat
import sys
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, BinaryIO

from tpdoctor.errors import InputError
from tpdoctor.explain.normalize import JSON_ESCAPE

CHUNK = 4 << 20  # large reads amortise the per-call cost; small enough to stay cache-friendly
MAX_LINE = 64 << 10
GZIP_MAGIC = b"\x1f\x8b"
WritableBuffer = bytearray | mmap.mmap  # a block is read into one of these in place


UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}
# UTF-32's little-endian BOM begins with UTF-16's: it was read as UTF-16 (a NUL after every character, nothing found)
# and the big-endian one as binary data (gsafe41)
UTF32_BOMS = {b"\xff\xfe\x00\x00": "utf-32-le", b"\x00\x00\xfe\xff": "utf-32-be"}


@contextmanager
def open_log(name: str, notes: list[str] | None = None) -> Iterator[BinaryIO]:
    """Open a path or '-' (stdin) as a binary stream, transparently gunzipping by magic bytes
    and transcoding UTF-16 or UTF-32 (by its BOM) to UTF-8.

    A named FIFO is opened O_NONBLOCK (no writer: no hang, it reads as empty) and read like stdin;
    a character or block device (/dev/zero, /dev/urandom) never ends and is refused."""
    if name == "-":
        if sys.stdin is None:
            raise InputError("stdin is closed: pass log files or pipe one into `tpdoctor explain -`")
        raw: BinaryIO = sys.stdin.buffer
        close = False
        _check_stdin(raw)
        raw = _stdin_up_to_size(raw)
    else:
        raw = _open_named(name)
        close = True
    try:
        # open(..., "rb") and stdin.buffer are BufferedReaders already; peek() needs one.
        stream = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
        try:
            stream = _whole_head(stream)
            head = stream.peek(2)[:2]
        except OSError as exc:
            # the first read failed (`/proc/self/mem`: EIO, a file on a failing disk or a dead NFS server): the error
            # named no file (`tpdoctor: error: Input/output error`, gsafe46)
            shown = name if name != "-" else "<stdin>"
            raise InputError(f"{shown}: cannot read: {exc.strerror or exc}") from None
        if head == GZIP_MAGIC:
            counted = _Counted(stream)
            gz = gzip.GzipFile(fileobj=counted, mode="rb")
            capped = io.BufferedReader(_GzipCapped(gz, counted, name, notes))
            yield _as_text(capped, name, notes)
        else:
            yield _as_text(stream, name, notes)
    finally:
        if close:
            raw.close()


# A gzip bomb (10 MB of deflate that expands to 10 GB) took minutes, in flat memory but with no end in sight: what a
# gzipped log expands to is capped at GZIP_RATIO times the compressed bytes read, and at least GZIP_FLOOR (a GiB of
# NCCL_DEBUG=INFO output gzips to ~30-60 MB, well under the ratio). Past it: a note, and the head is explained (gsafe42)
GZIP_RATIO = 200
GZIP_FLOOR = 1 << 30


class _Counted(io.RawIOBase):
    """The compressed stream, counting the bytes the gzip reader takes from it."""

    def __init__(self, inner: io.BufferedReader[Any]) -> None:
        self._inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._inner.read(size if size is not None else -1)
        self.count += len(data)
        return data

    def readinto(self, b: WritableBuffer | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def fileno(self) -> int:
        return self._inner.fileno()  # size_hint: a gzip stream's size is its compressed file's, as GzipFile says


class _GzipCapped(io.RawIOBase):
    """A gzip stream that ends, with a note, once it has expanded past its cap (see GZIP_RATIO)."""

    def __init__(self, gz: gzip.GzipFile, counted: _Counted, name: str, notes: list[str] | None) -> None:
        self._gz = gz
        self._counted = counted
        self._name = name if name != "-" else "<stdin>"
        self._notes = notes
        self._out = 0
        self._damage: BaseException | None = None

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._counted.fileno()

    def readinto(self, b: WritableBuffer | memoryview) -> int:  # type: ignore[override]
        cap = max(GZIP_FLOOR, GZIP_RATIO * self._counted.count)
        if self._out >= cap:
            if self._notes is not None:
                self._notes.append(
                    f"{self._name}: gzip data expanding past {self._out >> 20} MiB, over {GZIP_RATIO} times its "
                    "compressed size (a gzip bomb?): explained that head only"
                )
                self._notes = None  # once
            return 0
        if self._damage is not None:
            raise self._damage
        view = memoryview(b)[: cap - self._out]
        try:
            n = self._gz.readinto1(view)  # damage (a cut stream) raises here, after what was readable: iter_buffers notes it
        except (OSError, EOFError, zlib.error) as exc:
            # Raised again by every later read: GzipFile forgets a header cut short (the 2-byte magic alone) and
            # reads on as an empty stream, so a peek that met the damage first (_as_text) lost the note (gsafe48).
            self._damage = exc
            raise
        self._out += n
        return n


HEAD = 4  # the longest BOM (UTF-32's); the gzip magic is 2


class _Prefixed(io.RawIOBase):
    """`head` (bytes already read from `inner`), then the rest of `inner`, one raw read at a time."""

    def __init__(self, head: bytes, inner: io.BufferedReader[Any]) -> None:
        self._head = head
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, b: WritableBuffer | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._inner.readinto1(b)

    def fileno(self) -> int:
        return self._inner.fileno()  # size_hint: a pipe stays a pipe


def _whole_head(stream: io.BufferedReader[Any]) -> io.BufferedReader[Any]:
    """`stream` such that peek() shows its first HEAD bytes (fewer only at its end). peek() does one read of the raw
    stream at most: from a pipe whose writer sent `\\xff\\xfe` first, a UTF-32-LE log's BOM was seen as UTF-16's and
    the log decoded as UTF-16 (a NUL after every character, nothing found: gsafe42)."""
    try:
        if len(stream.peek(HEAD)) >= HEAD:
            return stream  # a file, or a pipe whose first read brought enough
        head = stream.read(HEAD)  # blocks until HEAD bytes or the end, as reading the log would
    except (OSError, ValueError):
        return stream  # unreadable: the reader says so
    return io.BufferedReader(_Prefixed(head, stream))


def _check_stdin(raw: BinaryIO) -> None:
    """stdin redirected from a device that never ends (`explain - < /dev/zero`) was read until killed; a named one is
    refused (check_stream_source), so is this one (gsafe44). A terminal (a log pasted, then Ctrl-D) and the null device
    stay readable; a stream with no descriptor (a test's BytesIO) is read as it is."""
    from tpdoctor.boundedio import check_stream_source

    try:
        fd = raw.fileno()
    except (AttributeError, OSError, ValueError):
        return
    try:
        if os.isatty(fd):
            return
    except OSError:
        return
    check_stream_source("stdin", fd)


def _stdin_up_to_size(raw: BinaryIO) -> BinaryIO:
    """stdin redirected from a regular file (`explain - < train.log` while the job writes it) is read up to the size
    the file had, from where stdin stands, as a named log is (_UpTo): it grew as fast as it was read (review44)."""
    try:
        fd = raw.fileno()
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size <= 0:
            return raw
        left = st.st_size - os.lseek(fd, 0, os.SEEK_CUR)
    except (AttributeError, OSError, ValueError):
        return raw
    return io.BufferedReader(_UpTo(raw, max(left, 0)))


def _open_named(name: str) -> BinaryIO:
    from tpdoctor.boundedio import check_stream_source

    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{name}: is a directory (give log files, or '-' for stdin)")
        check_stream_source(name, fd)
        os.set_blocking(fd, True)  # a pipe with a writer is read like stdin
    except BaseException:
        os.close(fd)
        raise
    raw = open(fd, "rb", buffering=0)  # closed by open_log
    if stat.S_ISREG(st.st_mode) and st.st_size > 0:
        return io.BufferedReader(_UpTo(raw, st.st_size))
    return io.BufferedReader(raw)


class _UpTo(io.RawIOBase):
    """A regular file read up to the size it had when it was opened. A log still being written (`explain train.log`
    while the job runs, or `yes > f`) grew as fast as it was read and explain never ended (4 GB in a minute, gsafe44):
    it is explained as it was when explain opened it. A file whose size says nothing (procfs: 0) is read to its end."""

    def __init__(self, inner: Any, size: int) -> None:
        self._inner = inner
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(b)[: min(len(b), self._left)]
        n = self._inner.readinto(view)
        n = n or 0
        self._left -= n
        return n

    def fileno(self) -> int:
        return int(self._inner.fileno())

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def _as_text(stream: BinaryIO, name: str, notes: list[str] | None) -> BinaryIO:
    """The stream as UTF-8 lines: UTF-16 (by its BOM) transcoded, a log quoted as one escaped string unescaped, and a
    note for a head that is not text."""
    peek = getattr(stream, "peek", None)
    try:
        head = peek(4)[:4] if peek is not None else b""
    except (OSError, EOFError, zlib.error):
        return stream  # damaged from the start: iter_buffers notes it
    encoding = UTF32_BOMS.get(head) or UTF16_BOMS.get(head[:2])
    shown = name if name != "-" else "<stdin>"
    if encoding is None:
        sample = b""
        if peek is not None:
            with contextlib.suppress(OSError, EOFError, zlib.error):
                sample = peek(ESCAPED_SAMPLE)[:ESCAPED_SAMPLE]
        packed = _compressed_kind(sample)
        if packed is not None:  # read as one binary line it said "no known cause" (exit 0): an input error
            kind, tool = packed
            raise CompressedLogError(
                f"{shown}: {kind}-compressed, which explain does not decompress (gzip it does): "
                f"{tool} FILE | tpdoctor explain -",
                kind,
            )
        note = _head_note(sample[:512])
        if note and notes is not None:
            notes.append(f"{shown}: {note}")
        if note is None and _is_cr_log(sample):
            if notes is not None:
                notes.append(f"{shown}: lines end in a carriage return (CR) only: read with CR as the line end")
            return _CrLines(stream)  # type: ignore[return-value]
        if note is None and _is_escaped_log(sample):
            if notes is not None:
                notes.append(
                    f"{shown}: a log quoted as one escaped string (\\n between its lines): read with the escapes"
                    " undone; line numbers count the \\n escapes"
                )
            return _Unescaped(stream)  # type: ignore[return-value]
        return stream
    if notes is not None:
        notes.append(f"{shown}: {encoding[:6].upper()} text (BOM): decoded to UTF-8")
    return _Transcoded(stream, encoding)  # type: ignore[return-value]


# Compressions explain does not undo (gzip it does): their bytes were read as one "binary" line and the log was
# "explained" as nothing (exit 0, gsafe45). The note says how to read it instead.
_COMPRESSED = (
    (b"\xfd7zXZ\x00", "xz", "xz -dc"),
    (b"BZh", "bzip2", "bzip2 -dc"),
    (b"\x28\xb5\x2f\xfd", "zstd", "zstd -dc"),
    (b"\x04\x22\x4d\x18", "lz4", "lz4 -dc"),
    (b"PK\x03\x04", "zip", "unzip -p"),
)


class CompressedLogError(InputError):
    """A log in a compression explain does not undo; `kind` names it (`tpdoctor run` says it in its own words: the
    "xz -dc FILE | tpdoctor explain -" hint named run's own temporary file, which is gone, gsafe46)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _compressed_kind(sample: bytes) -> tuple[str, str] | None:
    for magic, kind, tool in _COMPRESSED:
        if sample.startswith(magic) and (kind != "bzip2" or sample[3:4] in b"123456789"):
            return kind, tool
    return None


def _head_note(sample: bytes) -> str | None:
    """What the first bytes of a log without a BOM say it is, when it is not UTF-8 text."""
    if len(sample) >= 16 and sample.count(0) == len(sample):
        return "starts with only NUL bytes: not a text log"
    # ASCII text in UTF-16 without a BOM: every other byte is NUL
    if len(sample) >= 16 and sample[1::2].count(0) > 0.9 * (len(sample) // 2):
        return "looks like UTF-16 without a BOM; convert it (iconv -f UTF-16LE -t UTF-8) to explain it"
    if len(sample) >= 64 and _control_share(sample) > 0.05:
        # a log is text; a core dump, an image or a tarball is not (what it matched there means little)
        return "looks like binary data, not a text log: what it matched there is doubtful"
    return None


def _control_share(sample: bytes) -> float:
    """The share of bytes in the sample that text never holds (C0 controls other than tab, newlines, form feed and
    ESC, and DEL). UTF-8 multi-byte sequences are >= 0x80 and do not count."""
    text_controls = b"\t\n\r\x0c\x1b"
    bad = sum(1 for b in sample if (b < 0x20 and b not in text_controls) or b == 0x7F)
    return bad / len(sample)


# A log that reached the user as one quoted string: a JSON field (`kubectl get pod -o json`'s termination
# message, an API's error body, a structured logger's `exc_info`) or a Python repr, where each line break is the
# two bytes `\n`. Read as it is, every line of it is one line of the file, and what a signature anchors on a line
# (`^`, the lines around it) is gone. Decided once on the head: at least ESCAPED_MIN escapes and more than twice as
# many as real newlines (a Docker json-file record has one of each and is unwrapped per line, normalize.unescape).
ESCAPED_SAMPLE = 8192
ESCAPED_MIN = 3


def _is_escaped_log(sample: bytes) -> bool:
    escaped = sample.count(b"\\n")
    return escaped >= ESCAPED_MIN and escaped > 2 * sample.count(b"\n")


def _is_cr_log(sample: bytes) -> bool:
    """Lines ended by a lone CR (classic Mac text, a program that only ever returns the carriage): the whole file was
    one line, cut at MAX_LINE, and an error past its first 64 KiB was never read (exit 0, gsafe45). Decided on the
    head: no LF at all and at least ESCAPED_MIN CRs (a progress bar's CRs between LF lines keep the LF reading)."""
    return b"\n" not in sample and sample.count(b"\r") >= ESCAPED_MIN


_ESCAPE = re.compile(JSON_ESCAPE.pattern.encode())  # the escapes normalize.unescape undoes on one line
_ESCAPED_AS = {b"n": b"\n", b"r": b"", b"t": b"\t", b'"': b'"', b"'": b"'", b"/": b"/", b"\\": b"\\"}


def _unescape_bytes(m: re.Match[bytes]) -> bytes:
    c = m.group(1)
    if len(c) == 5:  # \u001b, \u003c (Go's encoders escape < > &)
        return chr(int(c[1:], 16)).encode("utf-8", errors="replace")
    return _ESCAPED_AS[c]


class _Rewritten(io.RawIOBase):
    """A byte stream read through a conversion, chunk by chunk (flat memory): `convert` gets each chunk read and,
    once, b"" with final=True at the end."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._pending = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def convert(self, data: bytes, final: bool) -> bytes:
        raise NotImplementedError

    def read(self, size: int = -1) -> bytes:
        want = CHUNK if size is None or size < 0 else size
        while len(self._pending) < want and not self._eof:
            data = self._inner.read(CHUNK)
            self._eof = not data
            self._pending += self.convert(data, self._eof)
        out, self._pending = self._pending[:want], self._pending[want:]
        return out


class _Unescaped(_Rewritten):
    """A log quoted as one escaped string, read with its escapes undone. A backslash run at the end of a chunk waits
    for the next one, so an escape is never cut in two."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__(inner)
        self._carry = b""

    def convert(self, data: bytes, final: bool) -> bytes:
        data, self._carry = self._carry + data, b""
        if not final:  # at the very end a backslash run is kept as it is
            run = data.rfind(b"\\", max(0, len(data) - 6))
            if run >= 0:
                while run > 0 and data[run - 1] == 0x5C:  # the start of the backslash run
                    run -= 1
                data, self._carry = data[:run], data[run:]
        return _ESCAPE.sub(_unescape_bytes, data)


class _CrLines(_Rewritten):
    """A log whose lines end in CR, read with LF line ends (a CR LF later in it stays one line end). A CR at the end of
    a chunk waits for the next one, which may start with its LF."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__(inner)
        self._carry = b""

    def convert(self, data: bytes, final: bool) -> bytes:
        data, self._carry = self._carry + data, b""
        if not final and data.endswith(b"\r"):
            data, self._carry = data[:-1], b"\r"
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


class _Transcoded(_Rewritten):
    """A UTF-16 or UTF-32 byte stream read as UTF-8."""

    def __init__(self, inner: BinaryIO, encoding: str) -> None:
        import codecs

        super().__init__(inner)
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")

    def convert(self, data: bytes, final: bool) -> bytes:
        return self._decoder.decode(data, final=final).lstrip("\ufeff").encode("utf-8")


def iter_blocks(
    stream: BinaryIO, chunk: int = CHUNK, max_line: int = MAX_LINE, notes: list[str] | None = None
) -> Iterator[bytes]:
    """Yield blocks of complete lines (each ending in b'\\n') as bytes; see iter_buffers."""
    for buf, end in iter_buffers(stream, chunk, max_line, notes):
        yield bytes(buf[:end])


def size_hint(stream: BinaryIO) -> int:
    """The size of the file behind `stream` when it is a regular file (for a gzip stream, the
    compressed size), else 0: pipes, stdin and transcoding wrappers say nothing."""
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def iter_buffers(
    stream: BinaryIO,
    chunk: int = CHUNK,
    max_line: int = MAX_LINE,
    notes: list[str] | None = None,
    buffers: Sequence[WritableBuffer] | None = None,
) -> Iterator[tuple[WritableBuffer, int]]:
    """Yield (buffer, end): buffer[:end] holds complete lines and ends in b'\\n'. Giant lines are
    cut at max_line.

    Zero-copy: the stream reads straight into preallocated buffers (readinto), the block is
    scanned in place, and only the unfinished last line (usually < 200 bytes) is moved to the
    front of the next buffer before the next read. Given `buffers` (each at least
    chunk + max_line + 1 bytes) are used in turn: a consumer may still read the last
    `len(buffers) - 1` blocks it was given (explain/scanpool.py's workers do) but must be done with
    a buffer before it comes round again.

    Damaged input (a truncated gzip) ends the stream with a note instead of an error, so what was
    readable is still explained.
    """
    bufs: Sequence[WritableBuffer] = buffers or [bytearray(chunk + max_line + 1)]
    slot = 0
    buf = bufs[0]
    view = memoryview(buf)
    filled = 0  # bytes of an unfinished line carried at the front of buf
    skipping = False  # inside a giant line whose head was already emitted

    def turn(start: int, stop: int) -> None:
        """After a yield: the next buffer in the ring receives buf[start:stop] at its front."""
        nonlocal slot, buf, view
        if len(bufs) == 1:
            if stop > start:
                view[0 : stop - start] = view[start:stop]
            return
        slot = (slot + 1) % len(bufs)
        nxt = bufs[slot]
        if stop > start:
            nxt[0 : stop - start] = view[start:stop]
        view.release()
        buf, view = nxt, memoryview(nxt)

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
                turn(cut + 1, total)
            if filled > max_line:
                buf[max_line] = 0x0A
                yield buf, max_line + 1
                filled = 0
                skipping = True
                turn(0, 0)
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
        except (OSError, EOFError, zlib.error) as exc:
            return got, str(exc) or type(exc).__name__
        if not n:
            break
        got += n
    return got, None
