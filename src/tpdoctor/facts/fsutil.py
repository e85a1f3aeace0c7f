"""The one in-root path resolver: every read under `check --root` goes through here.

A root (a fixture, a mounted image, a captured container) holds symlinks such as
`/dev/dri/by-path/pci-…-render -> /dev/dri/renderD128`, and a hostile one holds
`proc/self/cgroup -> /etc/shadow` or `etc/group -> ../../../etc/shadow`. Following them with the
host's resolution would leave the root, so every path is resolved as the kernel's
openat2(RESOLVE_IN_ROOT) does: `/` and `..` stop at the root, absolute link targets restart at the
root. Files are opened with openat2 itself (Linux >= 5.6, race-free; include/uapi/linux/openat2.h)
and, where it is missing or filtered by seccomp, after a userspace walk of lstat/readlink with
O_NOFOLLOW on the last component and a check of /proc/self/fd that the opened file is inside.

- `host_path(root, p)`: p's directory resolved in the root, its last component not followed
  (for lstat/readlink of the entry itself);
- `follow_path(root, p)`: p fully resolved in the root (for stat, listdir, is_dir);
- `read_text(root, p)`: the file's text, opened in the root and read by the bounded reader.
Live (root `/`) the host's own resolution is the right one and paths are used as given.
"""

from __future__ import annotations

import ctypes
import errno
import os
import posixpath
import struct
from collections import deque
from pathlib import Path
from typing import Any

from tpdoctor.boundedio import open_flags, read_fd_bounded
from tpdoctor.errors import InputError

MAX_LINKS = 40  # the kernel's MAXSYMLINKS
MAX_SHOWN_PATH = 256  # characters of a path quoted in an error line
PATH_MAX = 4095  # the longest path string lstat() takes (PATH_MAX 4096 with its NUL)
# a sysfs attribute file holds at most a page (sysfs_emit, PAGE_SIZE): read no more of one that is read per device
SYSFS_ATTR_MAX = 4096
MAX_FACT_FILE = 16 << 20  # /proc/self/mounts of a busy host is < 1 MiB; a 300 MB "file" is hostile
READ_TIMEOUT_S = 5.0

_SYS_OPENAT2 = 437  # same number on x86_64, aarch64 and the generic table (since 5.6)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_openat2_state: list[bool] = []  # [] unknown, [True] works, [False] unavailable
_syscall: list[Any] = []  # libc's syscall(), looked up once (a CDLL and its attribute per open cost ~0.1 ms)


def _is_live(root: Path) -> bool:
    return str(root) == "/"


def _parent_and_name(inroot: str) -> tuple[str, str]:
    norm = "/" + "/".join(p for p in inroot.split("/") if p)
    head, _, name = norm.rpartition("/")
    return head or "/", name


def host_path(root: Path, inroot: str) -> Path:
    """The entry `inroot` itself (not followed) as a path on this machine."""
    if _is_live(root):
        return root / inroot.lstrip("/")
    parent, name = _parent_and_name(inroot)
    if name in ("", ".", ".."):
        resolved = resolve_in_root(root, inroot)
        return root / (resolved or "/").lstrip("/")
    resolved_parent = resolve_in_root(root, parent)
    if resolved_parent is None:  # a loop: a path that cannot exist
        return root / ".tpdoctor-symlink-loop" / name
    return root / resolved_parent.lstrip("/") / name


def follow_path(root: Path, inroot: str) -> Path:
    """`inroot` with every symlink followed inside the root, as a path on this machine."""
    if _is_live(root):
        return root / inroot.lstrip("/")
    resolved = resolve_in_root(root, inroot)
    if resolved is None:
        return root / ".tpdoctor-symlink-loop"
    return root / resolved.lstrip("/")


def resolve_in_root(root: Path, inroot: str) -> str | None:
    """The in-root absolute path `inroot` leads to, or None on a symlink loop.

    Linear in the path's length (gsafe48: a TMPDIR of 80,000 components took 45 s, quadratic in its joins and
    list pops). A host path longer than PATH_MAX cannot be lstat()ed (ENAMETOOLONG, which islink() reads as "not a
    link"), so past that length no lstat is tried: the same answer, without building the string."""
    parts = deque(p for p in inroot.split("/") if p)
    done: list[str] = []
    top = os.fspath(root).rstrip("/")  # strings, not Path objects: check resolves ~140 paths
    # hosts[i]: the host path of done[:i], while it is short enough to lstat (None past PATH_MAX)
    hosts: list[str | None] = [top]
    hops = 0
    while parts:
        part = parts.popleft()
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
                hosts.pop()
            continue
        base = hosts[-1]
        hp = None if base is None or len(base) + len(part) + 1 > PATH_MAX else base + "/" + part
        if hp is not None and os.path.islink(hp):
            hops += 1
            if hops > MAX_LINKS:
                return None
            target = os.readlink(hp)
            if target.startswith("/"):
                done = []
                hosts = [top]
            parts.extendleft(reversed([p for p in target.split("/") if p]))
            continue
        done.append(part)
        hosts.append(hp)
    return "/" + "/".join(done)


def _openat2(dirfd: int, rel: str, flags: int) -> int:
    """openat2(dirfd, rel, {flags, 0, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS}); OSError on failure,
    NotImplementedError where the syscall is missing or filtered."""
    if _openat2_state == [False]:
        raise NotImplementedError
    if not _syscall:
        _syscall.append(ctypes.CDLL(None, use_errno=True).syscall)
    how = struct.pack("QQQ", flags, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    buf = ctypes.create_string_buffer(how, len(how))
    fd = _syscall[0](_SYS_OPENAT2, dirfd, os.fsencode(rel), buf, ctypes.c_size_t(len(how)))
    if fd >= 0:
        _openat2_state[:] = [True]
        return int(fd)
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EPERM) and _openat2_state != [True]:
        _openat2_state[:] = [False]  # no syscall, or seccomp says no: use the userspace walk
        raise NotImplementedError
    raise OSError(err, os.strerror(err), rel)


def _inside(root: Path, fd: int) -> bool:
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return True  # no /proc: the walk above is all there is
    top = os.path.realpath(root)
    return real == top or real.startswith(top.rstrip("/") + "/")


def open_in_root(root: Path, inroot: str) -> int:
    """An O_RDONLY|O_NONBLOCK fd of `inroot` resolved inside `root`; OSError when absent."""
    if "\x00" in inroot:  # os.open raises ValueError, and openat2 would read the name only up to the NUL
        raise OSError(errno.EINVAL, "a NUL byte in the path", inroot[:200])
    flags = open_flags()
    if _is_live(root):
        return os.open(inroot, flags)
    rel = inroot.lstrip("/") or "."
    dirfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return _openat2(dirfd, rel, flags)
    except NotImplementedError:
        pass
    finally:
        os.close(dirfd)
    resolved = resolve_in_root(root, inroot)
    if resolved is None:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), inroot)
    fd = os.open(root / resolved.lstrip("/"), flags | os.O_NOFOLLOW)
    if not _inside(root, fd):  # a component was swapped for a link while we walked
        os.close(fd)
        raise OSError(errno.EXDEV, "resolves outside the root", inroot)
    return fd


def read_text(
    root: Path, inroot: str, errors: list[str] | None = None, *, head: int | None = None
) -> str | None:
    """File text, or None when absent; unreadable files are recorded in `errors`.

    Resolved inside the root, only a regular file, at most MAX_FACT_FILE bytes, within
    READ_TIMEOUT_S: /dev/zero planted as proc/self/mounts or a FIFO is an error line, not a hang.
    head: only the first `head` bytes are read, and a longer file is not an error (/proc/cpuinfo of a many-core host)."""
    data = read_bytes(root, inroot, errors, head or MAX_FACT_FILE, head_only=head is not None)
    return None if data is None else data.decode("utf-8", errors="replace")


def read_bytes(
    root: Path,
    inroot: str,
    errors: list[str] | None = None,
    max_bytes: int = MAX_FACT_FILE,
    what: str = "fact file",
    *,
    head_only: bool = False,
) -> bytes | None:
    """read_text's bytes, at most max_bytes: None when absent; an unreadable file is one line in `errors`.
    head_only: a longer file gives its first max_bytes (read_fd_bounded)."""
    try:
        fd = open_in_root(root, inroot)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if errors is not None:
            errors.append(f"{shown_path(inroot)}: {exc.__class__.__name__}: {exc.strerror or exc}")
        return None
    return read_fd_recorded(fd, inroot, max_bytes, what, errors, head_only=head_only)


def read_config_text(
    root: Path, inroot: str, errors: list[str], max_bytes: int, what: str, *, utf16_bom: bool = False
) -> str | None:
    """A daemon's config file as text: None (with one line in `errors`) when it is absent, out of reach, too large
    or not UTF-8 (a UTF-8 BOM is dropped). utf16_bom: also a UTF-16 LE file with its BOM, which dockerd >= v23.0
    decodes (daemon/config/config.go getConflictFreeConfiguration)."""
    data = read_bytes(root, inroot, errors, max_bytes, what)
    if data is None:  # a link out of reach, a directory, a FIFO, too large: the error line says which
        if not any(e.startswith(shown_path(inroot)) for e in errors):
            errors.append(f"{shown_path(inroot)}: not a readable file")
        return None
    if utf16_bom and data.startswith(b"\xff\xfe"):
        try:
            return data[2:].decode("utf-16-le")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.append(f"{shown_path(inroot)}: not UTF-8 text (byte {exc.start}): not read as {what}")
        return None


def read_fd_recorded(
    fd: int, inroot: str, max_bytes: int, what: str, errors: list[str] | None, *, head_only: bool = False
) -> bytes | None:
    """The bytes behind an fd from open_in_root (closed here), through the one bounded reader (size and
    READ_TIMEOUT_S); a failure is one line in `errors` and None. head_only: see read_fd_bounded."""
    try:
        return read_fd_bounded(fd, shown_path(inroot), max_bytes, READ_TIMEOUT_S, what=what, head_only=head_only)
    except (InputError, OSError) as exc:
        if errors is not None:
            errors.append(
                str(exc) if isinstance(exc, InputError)
                else f"{shown_path(inroot)}: {exc.__class__.__name__}: {exc.strerror or exc}"
            )
        return None
    finally:
        os.close(fd)


def shown_path(inroot: str, limit: int = MAX_SHOWN_PATH) -> str:
    """`inroot` as an error line names it: a path from the environment or a link target can be megabytes long (a
    hostile root's TMPDIR, HOME or NCCL_CONF_FILE; the kernel refuses it: ENAMETOOLONG), and one error line quoting
    it whole was a 2 MB line of check's report (gsafe48). Its head and tail are kept."""
    if len(inroot) <= limit:
        return inroot
    return f"{inroot[: limit // 2]}…({len(inroot)} characters)…{inroot[-(limit // 4):]}"


def join_inroot(directory: str, name: str) -> str:
    return posixpath.join(directory, name)


def numbered(name: str, prefix: str) -> int | None:
    """N of a `<prefix>N` directory entry (renderD128, X0): ASCII digits, at most nine (isdigit() alone takes `²`,
    which int() refuses); None for any other name. Hostile roots plant many such names: callers keep the lowest."""
    digits = name[len(prefix):] if name.startswith(prefix) else ""
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 9 else None

