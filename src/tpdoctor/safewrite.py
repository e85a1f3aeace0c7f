"""The one file writer: `audit --write` and `explain --config --write` change the user's file here.

tpdoctor runs as root on files other people own, so the writer:
- refuses a symlinked config (it names the target to run on instead: writing through a link as
  root is how a planted link overwrites any file), a non-regular file, a read-only file (no write
  bit for anyone: someone meant it) and a file that changed since it was parsed (bytes, inode,
  size and mtime are compared under an exclusive flock, so of two concurrent writers the second
  refuses instead of losing the first one's update);
- makes the backup `FILE.tpdoctor.bak` from the bytes that were parsed (never a re-read), in a
  temp file created O_CREAT|O_EXCL|O_NOFOLLOW next to the target, then renamed over the old
  backup (rename never follows a planted `FILE.tpdoctor.bak` symlink: it replaces the link);
- writes the new text to another O_EXCL temp file with the original's owner, group, mode and
  extended attributes (POSIX ACLs, SELinux labels), the original's line endings (CRLF) and BOM,
  fsyncs it and renames it over the file, then fsyncs the directory;
- removes on the next run the temp files a killed run left (`.FILE.tpdoctor-tmp-<pid>-<rand>`,
  only when that pid is gone).

Order: the backup is durable before the file is replaced, so after kill -9 at any point either
FILE holds the original, or FILE holds the fix and FILE.tpdoctor.bak the original.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from tpdoctor.boundedio import read_fd_bounded
from tpdoctor.errors import InputError

BACKUP_SUFFIX = ".tpdoctor.bak"
TMP_MARK = ".tpdoctor-tmp-"
LOCK_TIMEOUT_S = 10.0
_TMP_RE = re.compile(r"^\.(?P<name>.+)\.tpdoctor-tmp-(?P<pid>\d+)-[0-9a-f]{8}$")


@dataclass(frozen=True)
class TextStyle:
    """How the original spells its text; the writer puts it back so only changed lines differ."""

    bom: bool = False
    crlf: bool = False
    # line ends of a lone CR (classic Mac; YAML reads them as breaks): written back as LF, every line of the file
    # changed for a one-line fix (gsafe43)
    cr: bool = False

    def apply(self, text: str) -> bytes:
        if self.crlf:
            text = re.sub(r"(?<!\r)\n", "\r\n", text)
        elif self.cr:
            text = text.replace("\n", "\r")
        return (b"\xef\xbb\xbf" if self.bom else b"") + text.encode("utf-8")


def detect_style(data: bytes) -> TextStyle:
    bom = data.startswith(b"\xef\xbb\xbf")
    lf = data.count(b"\n")
    crlf = data.count(b"\r\n")
    return TextStyle(bom=bom, crlf=lf > 0 and crlf * 2 > lf, cr=lf == 0 and b"\r" in data)


def normalize_text(text: str, style: TextStyle) -> str:
    """The text the parsers see: no BOM, LF line endings when the file uses CRLF or CR."""
    text = text.removeprefix("\ufeff")
    if style.cr:
        return text.replace("\r", "\n")
    return text.replace("\r\n", "\n") if style.crlf else text


@dataclass(frozen=True)
class ReadState:
    """A file as it was read for parsing: its bytes and the identity they came from."""

    path: Path
    data: bytes
    dev: int
    ino: int
    size: int
    mtime_ns: int


def read_state(path: Path, max_bytes: int, what: str = "config file") -> ReadState:
    """Read a regular file once, bounded, with the fstat of the very fd the bytes came from."""
    from tpdoctor.boundedio import open_flags

    try:
        fd = os.open(path, open_flags())
    except FileNotFoundError:
        raise InputError(f"cannot read {what} {path}: no such file") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        data = read_fd_bounded(fd, str(path), max_bytes, what=what)
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return ReadState(path, data, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def refuse_same_file_twice(paths: list[Path]) -> None:
    """`--write d.yaml ./d.yaml`: two edits of one inode would lose the first; refuse up front."""
    seen: dict[tuple[int, int], Path] = {}
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue  # the reader reports it
        key = (st.st_dev, st.st_ino)
        if key in seen:
            raise InputError(f"{p} and {seen[key]} are the same file: give it once with --write")
        seen[key] = p


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(directory: Path, name: str, dir_fd: int | None = None) -> list[Path]:
    """Remove temp files a killed writer left next to `name` (their pid is gone); returns them. With `dir_fd`, in
    that directory (write_fixed's pinned one), whatever `directory` names meanwhile (review39)."""
    removed: list[Path] = []
    try:
        entries = os.listdir(dir_fd if dir_fd is not None else directory)
    except OSError:
        return removed
    for entry in entries:
        m = _TMP_RE.match(entry)
        if not m or m.group("name") not in (name, name + BACKUP_SUFFIX):
            continue
        if int(m.group("pid")) != os.getpid() and pid_alive(int(m.group("pid"))):
            continue
        p = directory / entry
        at = entry if dir_fd is not None else p
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.stat(at, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                os.unlink(at, dir_fd=dir_fd)
                removed.append(p)
    return removed


def _create_temp(directory: Path, name: str, mode: int, dir_fd: int | None = None) -> tuple[int, Path]:
    for _ in range(100):
        tmp = Path(f".{name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            fd = os.open(
                tmp if dir_fd is not None else directory / tmp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                mode & 0o600,
                dir_fd=dir_fd,
            )
        except FileExistsError:
            continue
        return fd, tmp if dir_fd is not None else directory / tmp
    raise InputError(f"{directory}: cannot create a temp file next to {name}")


def _copy_metadata(src_fd: int, dst_fd: int, st: os.stat_result) -> None:
    """Owner, group, extended attributes (ACLs, labels), then mode (chown clears set-id bits)."""
    try:
        os.fchown(dst_fd, st.st_uid, st.st_gid)
    except PermissionError:
        if os.geteuid() == 0:
            raise
        # not root: the file stays ours (we could write it, so it is ours or group-writable)
    try:
        names = os.listxattr(src_fd)
    except OSError:
        names = []
    for xname in names:
        with contextlib.suppress(OSError):
            os.setxattr(dst_fd, xname, os.getxattr(src_fd, xname))
    os.fchmod(dst_fd, stat.S_IMODE(st.st_mode))


def write_all(fd: int, data: bytes | memoryview) -> None:
    """os.write until all of `data` is written (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(directory: Path, dir_fd: int | None = None) -> None:
    if dir_fd is not None:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
        return
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _lock(fd: int, path: Path) -> None:
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise InputError(f"{path}: another tpdoctor --write holds it: try again") from None
            time.sleep(0.02)


def _place(
    directory: Path, name: str, data: bytes, st: os.stat_result, src_fd: int, dest: Path, dir_fd: int | None = None
) -> None:
    """data -> O_EXCL temp next to dest, with st's metadata, fsynced, renamed over dest. With `dir_fd`, `name` and
    `dest` are names in that directory (the one the file was read from, however its path changes meanwhile)."""
    fd, tmp = _create_temp(directory, name, 0o600, dir_fd)
    try:
        try:
            write_all(fd, data)
            _copy_metadata(src_fd, fd, st)
            os.fsync(fd)
        finally:
            os.close(fd)
        # replaces a planted symlink at dest; never writes through it
        os.replace(tmp, dest.name if dir_fd is not None else dest, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


def write_fixed(state: ReadState, new_text: str, style: TextStyle) -> Path:
    """Replace the file read as `state` with new_text (in its style); return the backup's path."""
    path = state.path
    directory = path.parent if str(path.parent) else Path(".")
    # the directory is opened once and every later step names the file in it (dir_fd): a directory link on the
    # path swapped after the checks below cannot move the write (or the backup) into another directory
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        return _write_fixed_in(dfd, state, new_text, style)
    finally:
        os.close(dfd)


def _write_fixed_in(dfd: int, state: ReadState, new_text: str, style: TextStyle) -> Path:
    path = state.path
    directory = path.parent if str(path.parent) else Path(".")
    name = path.name
    try:
        lst = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    if stat.S_ISLNK(lst.st_mode):
        target = os.path.realpath(path)
        raise InputError(
            f"{path} is a symbolic link (to {target}): not writing through it; run --write on {target}"
        )
    if not stat.S_ISREG(lst.st_mode):
        raise InputError(f"{path}: not a regular file: not writing")
    if not lst.st_mode & 0o222:
        raise InputError(
            f"{path} is read-only (mode {stat.S_IMODE(lst.st_mode):04o}): not writing; "
            "make it writable first if the change is wanted (the diff: --fix)"
        )
    clean_stale_temps(directory, name, dfd)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        _lock(fd, path)
        st = os.fstat(fd)
        try:
            now = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            now = None
        current = read_fd_bounded(fd, str(path), max(len(state.data), 1) * 2 + 4096, what="config file")
        same = (
            now is not None
            and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino) == (state.dev, state.ino)
            and st.st_size == state.size
            and st.st_mtime_ns == state.mtime_ns
            and current == state.data
        )
        if not same:
            raise InputError(f"{path} changed since tpdoctor read it: not writing; run again")
        new_data = style.apply(new_text)
        try:
            _place(directory, name + BACKUP_SUFFIX, state.data, st, fd, directory / (name + BACKUP_SUFFIX), dfd)
            _fsync_dir(directory, dfd)
            _place(directory, name, new_data, st, fd, path, dfd)
            _fsync_dir(directory, dfd)
        except OSError as exc:
            if exc.errno in (errno.EISDIR, errno.ENOTEMPTY):
                raise InputError(
                    f"{directory / (name + BACKUP_SUFFIX)} is a directory: not writing"
                ) from None
            raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        os.close(fd)  # releases the lock
    return directory / (name + BACKUP_SUFFIX)


def open_output(path: Path, mode: int = 0o600, append: bool = False) -> int:
    """A descriptor for writing a file tpdoctor makes (a snapshot, a report, verify's logs and events in a --logs
    directory): O_NOFOLLOW, a regular file, not a hard link, emptied unless `append`; created with `mode` when new.
    OSError otherwise. Nothing is truncated before it is judged."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
    flags |= os.O_APPEND if append else 0
    # judged before it is opened too: opening a device for writing can act (a watchdog starts its timer on open,
    # a tape rewinds), so a path that already names something other than a regular file is never opened (review42)
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISREG(before.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
    fd = os.open(path, flags, mode)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if st.st_nlink > 1:
            raise OSError(errno.EMLINK, f"a hard link ({st.st_nlink} names of one file): not written through", str(path))
        _refuse_planted(path, st)
        if not append:
            os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_planted(path: Path, st: os.stat_result) -> None:
    """A file another user made in a sticky, world-writable directory (/tmp, /dev/shm) is theirs: root wrote its
    report into `/tmp/report.json` planted by `nobody`, who then reads it (an --explain-log is 0600 when tpdoctor makes
    it) where fs.protected_regular is 0 (gsafe45). The kernel's protected_regular rule, kept whatever the sysctl says:
    the file must be the writer's or the directory owner's."""
    if st.st_uid == os.geteuid():
        return
    try:
        parent = os.stat(path.parent)
    except OSError:
        return
    if parent.st_mode & stat.S_ISVTX and parent.st_mode & stat.S_IWOTH and st.st_uid != parent.st_uid:
        raise OSError(
            errno.EACCES, f"owned by uid {st.st_uid} in a shared sticky directory: not written into", str(path)
        )


def write_output_file(path: Path, text: str, mode: int = 0o600) -> None:
    """Write a report/snapshot tpdoctor produces: redacted, O_NOFOLLOW (a planted symlink at
    `path` is refused, never written through, and so is a hard link), created private (0600) when new. OSError on
    failure (callers turn it into one line)."""
    from tpdoctor.redact import redact_text

    # a file name that is not UTF-8 (`/sys/class/net/\xff…` under --root) is a lone surrogate here: strict UTF-8 raised
    # UnicodeEncodeError (exit 1); `\udcff` is a JSON escape, so a snapshot reads back the same name (gsafe41)
    data = redact_text(text).encode("utf-8", errors="backslashreplace")
    # a hard link to another file (a snapshot path planted as a second name of /etc/cron.d/x or ~/.bashrc) was
    # truncated at open and written through, as root: open_output judges the file before it empties it (gsafe42)
    fd = open_output(path, mode)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
