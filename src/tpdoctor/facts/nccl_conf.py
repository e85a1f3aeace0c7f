"""NCCL's configuration files, read as NCCL reads them, and merged into the environment it sees.

Before NCCL reads any variable it loads `$NCCL_CONF_FILE` (2.23+; when unset or empty, `~/.nccl.conf`: the
home directory of the process's uid in /etc/passwd up to 2.29, `$HOME` from 2.30) and then `/etc/nccl.conf`, and `setenv(name, value, 0)`s every `NAME=VALUE` line: the environment wins
over the files and the first file over the second (NVIDIA/nccl src/misc/param.cc initEnvFunc/setEnvFile,
src/os/linux.cc ncclOsSetEnv @5067397; src/include/param.h initEnv in 2.9-2.11; 2.18-2.29
src/misc/param.cc userHomeDir = getpwuid(getuid())->pw_dir). Measured with torch's NCCL 2.28.9 on the H200 host:
a `$HOME/.nccl.conf` with HOME pointing elsewhere was not read, /etc/nccl.conf was, the environment won. A cloud or HPC image's /etc/nccl.conf written for another machine is a common
hidden setting (skypilot#2905: Azure's image), so check evaluates what NCCL will see, not only the
shell's variables.

How NCCL splits a line, which is where hand-written files go wrong: the name is every byte before the
first '=' and the value every byte after it, untrimmed (`NCCL_DEBUG = INFO` sets "NCCL_DEBUG " to
" INFO", which nothing reads) and unquoted (quotes stay in the value); a line without '=' is skipped;
'#' lines are skipped from 2.26 on (before, `#NAME=1` set a variable named "#NAME", harmless), and the
trailing '\\r' of a CRLF file is stripped only from 2.26 on.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.fsutil import read_text
from tpdoctor.facts.passwd import passwd_entry
from tpdoctor.model.facts import Facts, NcclConfLine
from tpdoctor.redact import redact_value

ETC_CONF = "/etc/nccl.conf"
# NCCL copies at most 1023 bytes of a name or a value (envVar[1024], envValue[1024])
MAX_PART = 1023
# Settings read from one file. NCCL reads them all, but a real file sets tens; a hostile root's 16 MiB file set a
# million, each one an environment variable every env rule walked (check took 20 s, after 6 min of typo search;
# a --snapshot of 175 MB that --from-snapshot refuses to read back; gsafe41). The rest is one line in facts.errors.
MAX_CONF_SETTINGS = 4096


def conf_paths(env: Mapping[str, str], passwd_home: str | None = None) -> list[str]:
    """The files NCCL reads, in the order it reads them (the first to set a name wins). Without
    NCCL_CONF_FILE: the uid's passwd home (NCCL <= 2.29) and $HOME (2.30+), both when they differ,
    since the NCCL version the job loads is not known here."""
    user_file = env.get("NCCL_CONF_FILE") or ""
    paths: list[str] = []
    if user_file:
        paths.append(user_file)
    else:
        homes = [passwd_home or "", env.get("HOME") or ""]
        paths += [posixpath.join(h, ".nccl.conf") for h in dict.fromkeys(homes) if h]
    paths.append(ETC_CONF)
    return paths


def parse_conf(text: str) -> list[tuple[int, str, str]]:
    """(line number, name, value) for every line NCCL would setenv, split as setEnvFile splits it."""
    out: list[tuple[int, str, str]] = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw  # 2.26+; see the module docstring for older
        if line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        if not name:
            continue  # setenv("") fails (EINVAL): NCCL sets nothing
        out.append((number, name[:MAX_PART], value[:MAX_PART]))
    return out


def job_cwd(ctx: CollectContext) -> str:
    """The directory a relative NCCL_CONF_FILE is opened from: the job's $PWD when the environment
    holds one (a shell or `docker run -w` sets it), this process's cwd when live (`tpdoctor run`
    execs the job from it), else the root."""
    pwd = ctx.env.get("PWD") or ""
    if pwd.startswith("/"):
        return pwd
    return os.getcwd() if ctx.live else "/"


def collect_nccl_conf(ctx: CollectContext, facts: Facts) -> None:
    """facts.nccl_conf, and the applied lines merged into facts.env (collect_status and collect_env have run)."""
    seen_paths: set[str] = set()
    entry = passwd_entry(ctx, facts)
    for path in conf_paths(ctx.env, entry.home if entry else None):
        if not path.startswith("/"):
            path = posixpath.join(job_cwd(ctx), path)  # fopen(): relative to the process's cwd
        path = posixpath.normpath(path)
        if path in seen_paths:
            continue  # NCCL_CONF_FILE=/etc/nccl.conf: the second read sets nothing new
        seen_paths.add(path)
        text = read_text(ctx.root, path, facts.errors)
        if text is None:
            continue
        settings = parse_conf(text)
        if len(settings) > MAX_CONF_SETTINGS:
            facts.errors.append(
                f"{path}: {len(settings)} settings; the first {MAX_CONF_SETTINGS} were read (from line"
                f" {settings[MAX_CONF_SETTINGS][0]} on, not read)"
            )
            del settings[MAX_CONF_SETTINGS:]
        for number, name, value in settings:
            applied = name not in facts.env
            shown = redact_value(name, value)
            facts.nccl_conf.append(NcclConfLine(path=path, line=number, name=name, value=shown, applied=applied))
            if applied:
                facts.env[name] = shown


COLLECTORS.append(collect_nccl_conf)
