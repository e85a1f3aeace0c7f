"""The one bounded reader: every file tpdoctor reads whole goes through `read_bytes_bounded`.

Bounded in size *and* time, whatever the file is:
- the file is opened O_NONBLOCK (a FIFO never blocks the open) and O_NOCTTY, then fstat'ed:
  only a regular file is read (st_size is 0 for /dev/zero, pipes and many /proc files, so the
  size cap is enforced on the bytes actually read, never on st_size);
- reading stops at `max_bytes + 1` bytes (one more tells "too large" from "exactly the cap");
- a wall-clock deadline is checked between reads (a FUSE or NFS file that trickles).

Log streams (`explain`) are not read whole: they are streamed by explain.reader, which uses
`check_stream_source` to refuse devices that never end while still allowing stdin and pipes.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

from tpdoctor.errors import InputError

CHUNK = 1 << 20
DEFAULT_TIMEOUT_S = 10.0


class TooLarge(InputError):
    pass


def open_flags(nofollow: bool = False) -> int:
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    if nofollow:
        flags |= os.O_NOFOLLOW
    return flags


def read_fd_bounded(
    fd: int,
    name: str,
    max_bytes: int,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    what: str = "file",
    *,
    head_only: bool = False,
) -> bytes:
    """Read a regular file's fd to the end, at most max_bytes, within timeout_s. Raises InputError.

    head_only: a longer file gives its first max_bytes bytes instead of TooLarge (a package's METADATA,
    whose headers come first and whose embedded README may be long)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (device, FIFO or socket)"
        raise InputError(f"{name}: {kind}: refusing to read it as a {what}")
    deadline = time.monotonic() + timeout_s
    parts: list[bytes] = []
    got = 0
    while True:
        try:
            data = os.read(fd, min(CHUNK, max_bytes + 1 - got))
        except BlockingIOError:
            data = b""
            if time.monotonic() > deadline:
                raise InputError(f"{name}: read timed out after {timeout_s:.0f} s") from None
            time.sleep(0.01)
            continue
        if not data:
            break
        parts.append(data)
        got += len(data)
        if got > max_bytes:
            if head_only:
                return b"".join(parts)[:max_bytes]
            raise TooLarge(f"{name}: over the {max_bytes}-byte limit for a {what}: refusing")
        if time.monotonic() > deadline:
            raise InputError(f"{name}: read timed out after {timeout_s:.0f} s")
    return b"".join(parts)


def read_bytes_bounded(
    path: Path | str,
    max_bytes: int,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    what: str = "file",
    nofollow: bool = False,
) -> bytes:
    """The bytes of a regular file, bounded; InputError (exit 2) with one line otherwise."""
    name = str(path)
    try:
        fd = os.open(path, open_flags(nofollow))
    except FileNotFoundError:
        raise InputError(f"cannot read {what} {name}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and nofollow:
            raise InputError(f"cannot read {what} {name}: is a symbolic link: refusing") from None
        raise InputError(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    try:
        return read_fd_bounded(fd, name, max_bytes, timeout_s, what)
    except OSError as exc:
        raise InputError(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text_bounded(path: Path | str, max_bytes: int, *, what: str = "file", nofollow: bool = False) -> str:
    """Strict UTF-8 text of a bounded regular file (a UTF-8 BOM is accepted and dropped)."""
    data = read_bytes_bounded(path, max_bytes, what=what, nofollow=nofollow)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}): refusing to parse") from None


_NULL_RDEV = os.makedev(1, 3)  # Linux's /dev/null (mem driver, minor 3)


def check_stream_source(name: str, fd: int) -> None:
    """A log given by name may be a file, a pipe or a socket (they end), but not a character or
    block device (/dev/zero, /dev/urandom never end and carry no log)."""
    st = os.fstat(fd)
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == _NULL_RDEV:
        # the null device, named on purpose (`explain /dev/null` in a script with no log yet): an empty log that ends
        # at once, read as an empty file is; it was refused as a device (gsafe44). Known by its device number (1, 3
        # on Linux), not its name: a node of another device named null is still refused
        return
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        raise InputError(f"{name}: is a device, not a log: refusing to read it")
    if stat.S_ISREG(st.st_mode) and st.st_size == 0 and _consuming_kernel_file(fd):
        raise InputError(
            f"{name}: is the kernel's {_kernel_file_kind(fd)}: reading it waits for new messages and takes them from "
            "the system logger; refusing (give `dmesg` output or a saved log instead)"
        )


# Files of the kernel that never end and whose reader consumes what it reads: /proc/kmsg (the syslog buffer: each
# message read there is gone for rsyslog/journald) and tracefs' trace_pipe. `explain /proc/kmsg` as root waited
# for ever and took the host's kernel messages while it did (gsafe45). Known by the name the descriptor resolves to
# (a bind mount of /proc elsewhere too) and their size, 0.
_CONSUMING = {"kmsg": "message buffer (/proc/kmsg)", "trace_pipe": "trace pipe", "trace_pipe_raw": "trace pipe"}


def _resolved(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _consuming_kernel_file(fd: int) -> bool:
    return os.path.basename(_resolved(fd)) in _CONSUMING


def _kernel_file_kind(fd: int) -> str:
    return _CONSUMING.get(os.path.basename(_resolved(fd)), "file")
