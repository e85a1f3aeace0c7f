"""The password database's entry for the inspected process's uid (/etc/passwd in the root), as getpwuid(3) gives it:
read once per gathering and shared by the collectors that need it (facts/nccl_conf.py: NCCL <= 2.29 reads
`~/.nccl.conf` from the uid's pw_dir; facts/jit_cache.py: getpass.getuser() falls back to the uid's pw_name)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from tpdoctor.facts.collect import CollectContext
from tpdoctor.facts.fsutil import read_text
from tpdoctor.model.facts import Facts

_ID = re.compile(r"[0-9]{1,10}")  # a uid or gid as strtoul reads it; INT_FIELD refuses an empty one


@dataclass(frozen=True)
class PasswdEntry:
    name: str  # pw_name
    home: str | None  # pw_dir, None when empty


def parse_passwd_entry(text: str | None, uid: int | None) -> PasswdEntry | None:
    """The first entry of `uid` in an /etc/passwd text, None when unknown, as glibc's getpwuid parses a line (nss_files
    files-pwd.c with files-parse.c's STRING_FIELD/INT_FIELD; torch and NCCL are glibc programs): colon-separated
    name:password:uid:gid:gecos:dir:shell with a name and a numeric uid and gid, the fields after the gid optional
    (empty when absent: `appuser:x:1000:1000::/home/appuser` has no shell and is an entry, review48), the line up to
    a NUL if any; '#' lines are comments."""
    if text is None or uid is None:
        return None
    for line in text.split("\n"):  # glibc's lines end at \n only: splitlines also cut a gecos at U+2028 (gsafe50)
        line = line.split("\x00", 1)[0]  # getpwuid reads a line as a C string: a NUL ends it (review48)
        fields = line.split(":")
        if (
            len(fields) >= 4
            and fields[0]
            and not line.startswith("#")
            and _ID.fullmatch(fields[2])
            and _ID.fullmatch(fields[3])
            and int(fields[2]) == uid
        ):
            return PasswdEntry(name=fields[0], home=(fields[5] if len(fields) > 5 else "") or None)
    return None


def passwd_entry(ctx: CollectContext, facts: Facts) -> PasswdEntry | None:
    """facts.process.uid's entry in the root's /etc/passwd (an unreadable file is one line in facts.errors), read
    once per gathering: process.py has filled the uid before any collector asks."""
    if "passwd" not in ctx.memo:
        ctx.memo["passwd"] = parse_passwd_entry(read_text(ctx.root, "/etc/passwd", facts.errors), facts.process.uid)
    return cast("PasswdEntry | None", ctx.memo["passwd"])
