"""Who owns the JIT caches' directories (issue 13, gnew47: fs.jit-cache-other-owner).

A JIT cache at a fixed path shared by every UID is made by whoever compiles first; another UID then cannot write into
it ('[Errno 13] Permission denied: '/tmp/torchinductor_root/...'' and the like). The directories, as each library
picks them (read in the released wheels):

- TorchInductor: `TORCHINDUCTOR_CACHE_DIR`, else `tempfile.gettempdir()` + `/torchinductor_` + `getpass.getuser()`
  (torch 2.0.0 `_inductor/codecache.py` cache_dir; torch 2.5.1 `_inductor/runtime/runtime_utils.py`
  default_cache_dir, the user name with `\\/:*?"<>|` made `_`). One directory per user *name*: a root container and a
  root-in-a-user-namespace container, or a `--user` run whose `USER` still says root, share it under two UIDs.
- torch's extension builder: `TORCH_EXTENSIONS_DIR`, else `get_default_build_root()` (torch/utils/cpp_extension.py
  `_get_build_directory`): `tempfile.gettempdir()/torch_extensions` in torch 1.4.0 and 1.5.1, the user's cache
  directory (`torch._appdirs.user_cache_dir`, `~/.cache/torch_extensions`) from 1.6.0 (read at 1.6.0, 1.7.1, 1.8.1,
  1.9.0, 1.10.0, 2.5.1).
- Triton: `TRITON_CACHE_DIR`, else `/tmp/triton/` in Triton 1.x (1.1.1 `code_gen.py`), `$HOME/.triton/cache` from
  2.0.0 (`compiler.py` default_cache_dir; 2.1.0 and 3.1.0 `runtime/cache.py`).

A directory a variable names is recorded whenever it exists; TorchInductor's default whenever the user name is known;
the two old temp-dir defaults only where a release that uses them is installed (a stale /tmp/torch_extensions beside
torch 2.x is never read). HOME-based defaults are `fs.home-unwritable-arbitrary-uid`'s and are not recorded here."""

from __future__ import annotations

import os
import posixpath
import re
import stat

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.fsutil import read_text
from tpdoctor.facts.oneccl_install import list_dir, python_prefixes, site_dirs
from tpdoctor.model.facts import Facts, JitCacheDir

# getpass.getuser(): the first of these that is set, else the password database's name for the uid (CPython
# Lib/getpass.py)
_USER_VARS = ("LOGNAME", "USER", "LNAME", "USERNAME")
# torch/_inductor/runtime/runtime_utils.py default_cache_dir's sanitizer
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|]')
# tempfile._candidate_tempdir_list: TMPDIR, TEMP, TMP, then /tmp, /var/tmp, /usr/tmp
_TMP_VARS = ("TMPDIR", "TEMP", "TMP")
_DIST = re.compile(r"^(torch|triton)-([0-9]+)\.([0-9]+)[^/]*\.dist-info$")
MAX_NAME = 256


def _release(version: tuple[int, int] | None, below: tuple[int, int]) -> bool:
    return version is not None and version < below


def temp_dir(ctx: CollectContext) -> str:
    """tempfile.gettempdir() as the job would get it: the first of TMPDIR, TEMP, TMP naming a directory, else /tmp."""
    for name in _TMP_VARS:
        value = ctx.env.get(name, "")
        if value.startswith("/") and _is_dir(ctx, value):
            return posixpath.normpath("/" + value.lstrip("/"))
    return "/tmp"


def _is_dir(ctx: CollectContext, path: str) -> bool:
    """Whether `path` is a directory in the root; a path the kernel refuses (longer than PATH_MAX: ENAMETOOLONG,
    which Path.is_dir raises) is none, as tempfile's own test of the directory finds (gsafe48)."""
    try:
        return stat.S_ISDIR(os.stat(ctx.path(path)).st_mode)
    except (OSError, ValueError):
        return False


def user_name(ctx: CollectContext, facts: Facts) -> str | None:
    """getpass.getuser(): LOGNAME, USER, LNAME, USERNAME, else the name of the uid in /etc/passwd; None when unknown."""
    for name in _USER_VARS:
        value = ctx.env.get(name, "")
        if value:
            return value[:MAX_NAME]
    uid = facts.process.uid
    passwd = read_text(ctx.root, "/etc/passwd", facts.errors) if uid is not None else None
    if passwd is None or uid is None:
        return None
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2] == str(uid) and fields[0] and not line.startswith("#"):
            return fields[0][:MAX_NAME]
    return None


def installed_releases(ctx: CollectContext) -> dict[str, tuple[int, int]]:
    """The lowest (major, minor) of torch and triton among the Python environments' dist-infos."""
    found: dict[str, tuple[int, int]] = {}
    for prefix in python_prefixes(ctx):
        for site in site_dirs(ctx, prefix):
            for entry in list_dir(ctx, site):
                m = _DIST.match(entry)
                if m:
                    version = (int(m.group(2)[:6]), int(m.group(3)[:6]))
                    found[m.group(1)] = min(found.get(m.group(1), version), version)
    return found


def writable_by(st: os.stat_result, uid: int | None, gid: int | None, groups: list[int]) -> bool | None:
    """May `uid` create entries in the directory (write and search), by its mode bits alone (the owner's class
    first, then the group's, then others', as the kernel's generic_permission does; root may)."""
    if uid is None:
        return None
    if uid == 0:
        return True
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == uid:
        return mode & 0o300 == 0o300
    if st.st_gid == gid or st.st_gid in groups:
        return mode & 0o030 == 0o030
    return mode & 0o003 == 0o003


def collect_jit_caches(ctx: CollectContext, facts: Facts) -> None:
    env = ctx.env
    proc = facts.process
    candidates: list[tuple[str, str, bool]] = []
    for var in ("TORCHINDUCTOR_CACHE_DIR", "TORCH_EXTENSIONS_DIR", "TRITON_CACHE_DIR"):
        if env.get(var, "").startswith("/"):
            candidates.append((var, env[var], True))
    tmp = temp_dir(ctx)
    if not env.get("TORCHINDUCTOR_CACHE_DIR"):
        user = user_name(ctx, facts)
        if user:
            what = f"TorchInductor's default cache (the temp dir + torchinductor_<user>, user {user!r})"
            candidates.append((what, posixpath.join(tmp, "torchinductor_" + _UNSAFE_NAME.sub("_", user)), False))
    legacy: list[tuple[str, str, str, tuple[int, int]]] = []
    if not env.get("TORCH_EXTENSIONS_DIR"):
        legacy.append(("torch", "torch's extension build root before 1.6 (the temp dir + torch_extensions)",
                       posixpath.join(tmp, "torch_extensions"), (1, 6)))
    if not env.get("TRITON_CACHE_DIR"):
        legacy.append(("triton", "Triton 1.x's default cache (/tmp/triton)", "/tmp/triton", (2, 0)))
    # the dist-infos are listed only when an old default directory exists: most roots have none
    present = [item for item in legacy if ctx.path(item[2]).is_dir()]
    if present:
        releases = installed_releases(ctx)
        candidates += [(what, path, False) for dist, what, path, below in present if _release(releases.get(dist), below)]
    seen: set[str] = set()
    for what, path, explicit in candidates:
        path = posixpath.normpath("/" + path.lstrip("/"))
        if path in seen:
            continue
        seen.add(path)
        host = ctx.path(path)
        try:
            st = host.stat()
        except OSError:
            continue  # not there: the library creates it as this user
        if not stat.S_ISDIR(st.st_mode):
            continue
        if ctx.live:
            writable: bool | None = os.access(host, os.W_OK | os.X_OK)
        else:
            writable = writable_by(st, proc.uid, proc.gid, proc.groups)
        facts.jit_caches.append(
            JitCacheDir(
                path=path,
                what=what,
                explicit=explicit,
                uid=st.st_uid,
                gid=st.st_gid,
                mode=stat.S_IMODE(st.st_mode),
                writable=writable,
            )
        )


COLLECTORS.append(collect_jit_caches)
