"""Compiled Hyperscan databases kept on disk between runs of explain.

Compiling the ~5500 prefilter literals takes Hyperscan 0.13-0.14 s per database, and a long log needs
two (engine.py: the full one and the one without the single literals found in a block's head): a
quarter of explain's time on a short log, 0.28 s of a 256 MiB one. A serialized database loads in
0.1 ms (bench/README.md, "start-up"). So the compiled bytes are cached, keyed by everything that
decides them: the literals, their flags, the Hyperscan version and the CPU they were compiled for
(hs_compile tunes for the host's instruction set, and a cache directory in an NFS home is shared by
hosts with other CPUs).
The scanner's literal tables of a knowledge base (~80 ms to build at every start-up, scanner._literal_tables) and the
packaged knowledge base itself (~100 ms to read and validate, signatures.knowledge_base) are kept here too, as
`tables-<key>.db` and `kb-<key>.db` files of marshal data under the same checks.

tpdoctor runs as root, so the cache trusts nothing it did not write:
- the directory is `$TPDOCTOR_CACHE_DIR`, else `$XDG_CACHE_HOME/tpdoctor`, else `~/.cache/tpdoctor`;
  `TPDOCTOR_CACHE_DIR=` (empty) turns the cache off. It is reached from / one component at a time through
  descriptors (openat, O_NOFOLLOW) and used only when no component is a link and none could be changed by
  another user (owned by root or this user; others may write only a sticky directory such as /tmp), and the
  directory itself is this user's and writable by no one else: root running with a user's HOME never writes
  where that user's link points. Every file operation then goes through the directory's descriptor;
- a file is read only when it is a regular file of this user, written by no one else, within
  MAX_FILE bytes, and its SHA-256 matches the one stored in its header; Hyperscan then checks its
  own header and CRC (hs_deserialize_database) before the bytes are used;
- a file is written to an O_CREAT|O_EXCL|O_NOFOLLOW temp file and renamed into place: a planted link
  is never written through, and readers never see half a file;
- at most MAX_ENTRIES databases are kept (the oldest go first).
Any failure (read-only home, full disk, a foreign file) means compiling as before: the cache makes
explain faster and never changes what it finds (tests/test_explain_hs_cache.py).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
import re
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tpdoctor.boundedio import read_fd_bounded
from tpdoctor.errors import InputError
from tpdoctor.safewrite import pid_alive, write_all

MAGIC = b"tpdoctor-hyperscan-db 1\n"
MAX_FILE = 64 << 20  # a database of today's knowledge is ~0.6 MB
MAX_ENTRIES = 24  # the full database plus the subsets of the logs read lately
# A file per kind: `hs-<key>.db`, a compiled database; `tables-<key>.db`, the scanner's literal tables of one knowledge
# base (scanner.py, _literal_tables); `kb-<key>.db`, the packaged knowledge base (signatures.py, knowledge_base).
# MAX_TABLES of each of the last two (one for the packaged knowledge; tests make their own)
_NAME = re.compile(r"^(hs|tables|kb)-[0-9a-f]{64}\.db$")
MAX_TABLES = 4  # per kind, for `tables` and `kb`
_TMP = ".hs-tmp-"

T = TypeVar("T")


def cache_dir() -> Path | None:
    """Where compiled databases live, or None when the cache is off."""
    env = os.environ.get("TPDOCTOR_CACHE_DIR")
    if env is not None:
        return Path(env) if env.strip() else None
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "tpdoctor"
    home = os.path.expanduser("~")
    return Path(home) / ".cache" / "tpdoctor" if os.path.isabs(home) else None


@functools.cache
def _cpu_identity() -> bytes:
    """The instruction-set features Hyperscan compiles for: the first `flags` line of /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", "rb") as f:
            for _ in range(64):
                line = f.readline(1 << 16)
                if not line:
                    break
                if line.startswith((b"flags", b"Features")):
                    return line.strip()
    except OSError:
        pass
    return platform.machine().encode()


def database_key(hs_version: str, literals: Sequence[bytes], flags: Sequence[int], ids: Sequence[int]) -> str:
    h = hashlib.sha256()
    for part in (MAGIC, hs_version.encode(), _cpu_identity()):
        h.update(len(part).to_bytes(8, "little") + part)
    h.update(b"".join(len(lit).to_bytes(4, "little") + lit for lit in literals))
    h.update(b"".join(f.to_bytes(4, "little") + i.to_bytes(4, "little") for f, i in zip(flags, ids, strict=True)))
    return h.hexdigest()


def source_key(files: Sequence[tuple[str, str | None]], inputs: Any) -> str | None:
    """A key for something built from these files (name, path: data files, the modules that build it) and `inputs`
    (plain values, marshalled by value: version 0 keeps no shared references or interning marks); None when a path is
    unknown or unreadable (then nothing is cached). The scanner's tables and the knowledge base are keyed so."""
    import marshal

    h = hashlib.sha256()
    for name, path in files:
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        h.update(len(name).to_bytes(8, "little") + name.encode() + len(data).to_bytes(8, "little") + data)
    h.update(marshal.dumps(inputs, 0))
    return h.hexdigest()


def _ours_alone(st: os.stat_result) -> bool:
    """This user's, and writable by no one else: the cache directory, and every file read from it."""
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _trusted_step(st: os.stat_result, last: bool) -> bool:
    """A directory on the way to the cache may be changed only by us or root: owned by root or this user, and
    writable by others only with the sticky bit (/tmp). The cache directory itself is this user's alone."""
    if last:
        return _ours_alone(st)
    euid = os.geteuid()
    if st.st_uid not in (0, euid):
        return False
    sticky = bool(st.st_mode & stat.S_ISVTX)
    if st.st_mode & 0o002 and not sticky:
        return False
    return not (st.st_mode & 0o020 and st.st_uid != euid and not sticky)


def _safe_dir_fd(path: Path) -> int | None:
    """An O_DIRECTORY descriptor of `path`, reached from / one component at a time through descriptors
    (openat with O_NOFOLLOW: no symlink anywhere on the way, nothing swapped between a check and its use),
    each component created 0700 when absent; None when a component is a link, not a directory, or could be
    changed by another user (so root never writes where a user's link or directory points it)."""
    path = Path(os.path.abspath(path))  # lexical; with no link allowed on the way, the same as the real path
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open("/", flags)
    except OSError:
        return None
    parts = path.parts[1:]
    try:
        for i, name in enumerate(parts):
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=fd)
            nxt = os.open(name, flags, dir_fd=fd)
            os.close(fd)
            fd = nxt
            if not _trusted_step(os.fstat(fd), last=i == len(parts) - 1):
                os.close(fd)
                return None
    except OSError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def _opened_dir() -> Iterator[int | None]:
    path = cache_dir()
    fd = _safe_dir_fd(path) if path is not None else None
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def _read(dir_fd: int, name: str) -> bytes | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not _ours_alone(st):
            return None
        data = read_fd_bounded(fd, name, MAX_FILE, what="Hyperscan cache file")  # regular files only
    except (OSError, InputError):
        return None
    finally:
        os.close(fd)
    head, digest, payload = data[: len(MAGIC)], data[len(MAGIC) : len(MAGIC) + 32], data[len(MAGIC) + 32 :]
    if head != MAGIC or hashlib.sha256(payload).digest() != digest:
        return None
    return payload


def _write(dir_fd: int, name: str, payload: bytes) -> None:
    tmp = f"{_TMP}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd
        )
    except OSError:
        return
    try:
        write_all(fd, MAGIC + hashlib.sha256(payload).digest() + payload)
        os.close(fd)
        fd = -1
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
    finally:
        if fd >= 0:
            os.close(fd)
    _prune(dir_fd)


def _prune(dir_fd: int) -> None:
    """Keep the MAX_ENTRIES newest databases; drop temp files of writers that are gone."""
    try:
        entries = list(os.scandir(dir_fd))
    except OSError:
        return
    kinds: dict[str, list[tuple[float, str]]] = {"hs": [], "tables": [], "kb": []}
    for e in entries:
        with contextlib.suppress(OSError):
            st = e.stat(follow_symlinks=False)
            m = _NAME.match(e.name)
            if m and stat.S_ISREG(st.st_mode):
                kinds[m.group(1)].append((st.st_mtime, e.name))
            elif e.name.startswith(_TMP) and not _writer_alive(e.name[len(_TMP) :]):
                os.unlink(e.name, dir_fd=dir_fd)
    for kind, keep in (("hs", MAX_ENTRIES), ("tables", MAX_TABLES), ("kb", MAX_TABLES)):
        for _, name in sorted(kinds[kind], reverse=True)[keep:]:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)


def _writer_alive(tmp_tail: str) -> bool:
    """Whether the writer of `.hs-tmp-<pid>-<rand>` still runs (its temp file may be half written)."""
    pid = tmp_tail.split("-")[0]
    return pid.isdigit() and pid_alive(int(pid))


def load_or_compile(
    key: str, load: Callable[[bytes], object], compile_db: Callable[[], tuple[object, bytes | None]], kind: str = "hs"
) -> object:
    """The database cached under `key` (`load` turns the bytes into one), else `compile_db()`'s, which is
    then cached (unless its bytes are None). `load` raising means a bad file: it is compiled again and replaced.
    `kind`: the file name's prefix (_NAME), `tables` or `kb` for the scanner's tables or the knowledge base."""
    name = f"{kind}-{key}.db"
    with _opened_dir() as dir_fd:
        if dir_fd is not None:
            payload = _read(dir_fd, name)
            if payload is not None:
                try:
                    return load(payload)
                except Exception:  # hyperscan's errors: a file that is not a database
                    pass
        db, payload = compile_db()
        if dir_fd is not None and payload is not None:
            _write(dir_fd, name, payload)
        return db


def cached(
    kind: str,
    cls: type[T],
    key: Callable[[], str | None],
    build: Callable[[], T],
    dumps: Callable[[T], bytes | None],
    loads: Callable[[bytes], T],
    uncached: Callable[[], T] | None = None,
) -> T:
    """A value kept here as a `kind` file (`tables`, `kb`): read back (`loads`) from the file of `key()` when there is
    one, else `build()` and cached (`dumps`). With the cache off (cache_dir() None, `key` not called) or no key
    (a source unreadable), built without it: `uncached()`, where building for the cache costs more, else `build()`."""
    name = key() if cache_dir() is not None else None
    if name is None:
        return (uncached or build)()

    def compile_value() -> tuple[object, bytes | None]:
        value = build()
        return value, dumps(value)

    found = load_or_compile(name, loads, compile_value, kind=kind)
    assert isinstance(found, cls)
    return found
