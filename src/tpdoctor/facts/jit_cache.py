"""Who owns the JIT caches' directories (issue 13, gnew47: fs.jit-cache-other-owner).

A JIT cache at a fixed path shared by every UID is made by whoever compiles first; another UID then cannot write into
it ('[Errno 13] Permission denied: '/tmp/torchinductor_root/...'' and the like). The directories, as each library
picks them, are facts/cache_dirs.py's; this module looks them up in the root, with the user name getpass.getuser()
gives (the environment, else /etc/passwd) and the temp dir that exists there.

A directory a variable names is recorded whenever it exists; TorchInductor's default whenever the user name is known;
the two old temp-dir defaults only where a release that uses them is installed (a stale /tmp/torch_extensions beside
torch 2.x is never read). HOME-based defaults are `fs.home-unwritable-arbitrary-uid`'s and are not recorded here."""

from __future__ import annotations

import os
import re
import stat

from tpdoctor.facts import cache_dirs
from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.nccl_conf import job_cwd
from tpdoctor.facts.oneccl_install import list_dir, python_prefixes, site_dirs
from tpdoctor.facts.passwd import passwd_entry
from tpdoctor.facts.process import may_create_in
from tpdoctor.model.facts import Facts, JitCacheDir

_DIST = re.compile(r"^(torch|triton)-([0-9]+)\.([0-9]+)[^/]*\.dist-info$")


def _release(version: tuple[int, int] | None, below: tuple[int, int]) -> bool:
    return version is not None and version < below


def user_name(ctx: CollectContext, facts: Facts) -> str | None:
    """getpass.getuser(): LOGNAME, USER, LNAME, USERNAME, else the name of the uid in /etc/passwd; None when unknown."""
    name = cache_dirs.env_user(ctx.env)
    if name:
        return name
    entry = passwd_entry(ctx, facts)
    return entry.name[: cache_dirs.MAX_NAME] if entry else None


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


def collect_jit_caches(ctx: CollectContext, facts: Facts) -> None:
    env = ctx.env

    def is_dir(path: str) -> bool:
        # a path the kernel refuses (longer than PATH_MAX: ENAMETOOLONG, which Path.is_dir raises) is no directory,
        # as tempfile's own test of the directory finds (gsafe48)
        try:
            return stat.S_ISDIR(os.stat(ctx.path(path)).st_mode)
        except (OSError, ValueError):
            return False

    user = user_name(ctx, facts) if not env.get("TORCHINDUCTOR_CACHE_DIR") else None
    # looked up once: the Inductor default and the old defaults both sit under it; a relative TMPDIR is the job's
    # cwd's (gsafe52: it was skipped, and /tmp's mount judged)
    tmp = cache_dirs.temp_dir(env, is_dir, job_cwd(ctx))
    # a variable's directory, and TorchInductor's default under the temp dir where the user name is known; explicit
    # ones first, so that a default at the same path is recorded as the variable's
    candidates = sorted(
        (c for c in cache_dirs.jit_cache_dirs(env, user=user, tmp=tmp) if c.explicit or (user and c.base == "tmp")),
        key=lambda c: not c.explicit,
    )
    # the dist-infos are listed only when an old default directory exists: most roots have none
    present = [c for c in cache_dirs.legacy_cache_dirs(env, tmp[0]) if is_dir(c.path)]
    if present:
        releases = installed_releases(ctx)
        candidates += [c for c in present if c.before and _release(releases.get(c.before[0]), c.before[1])]
    seen: set[str] = set()
    for candidate in candidates:
        path = candidate.path
        if path in seen:
            continue
        seen.add(path)
        host = ctx.path(path)
        try:
            st = host.stat()
        except (OSError, ValueError):
            # not there: the library creates it as this user; ValueError: a NUL in a variable's path or the user
            # name, no such directory (review48)
            continue
        if not stat.S_ISDIR(st.st_mode):
            continue
        writable = may_create_in(ctx, facts, host, st)
        facts.jit_caches.append(
            JitCacheDir(
                path=path,
                what=candidate.what,
                explicit=candidate.explicit,
                uid=st.st_uid,
                gid=st.st_gid,
                mode=stat.S_IMODE(st.st_mode),
                writable=writable,
            )
        )


COLLECTORS.append(collect_jit_caches)
