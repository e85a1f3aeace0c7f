"""The inspected process: /proc/self/status (ids, capabilities, seccomp), /etc/group, environment.

In --root mode these are the files under the root (a snapshot of a container's /proc/self);
live, they are this process's own, which is what a rank started the same way would get.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from tpdoctor.facts.caps import has_cap
from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.fsutil import numbered, read_text
from tpdoctor.model.facts import Facts, local_display_socket
from tpdoctor.redact import REDACTED as REDACTED  # re-exported: one redactor
from tpdoctor.redact import redact_env as redact_env
from tpdoctor.units import parse_small_int


def parse_status(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _int(value: str | None, base: int = 10) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value.split()[0], base)
    except ValueError:
        return None


def collect_status(ctx: CollectContext, facts: Facts) -> None:
    text = read_text(ctx.root, "/proc/self/status", facts.errors)
    if text is None:
        return
    st = parse_status(text)
    p = facts.process
    p.uid = _int(st.get("Uid"))
    p.gid = _int(st.get("Gid"))
    # 5000 digits: int() raised ValueError (exit 1) on a hostile --root (gsafe45); at most 18 digits, as elsewhere
    p.groups = [g for g in map(parse_small_int, st.get("Groups", "").split()) if g is not None]
    p.cap_eff = _int(st.get("CapEff"), 16)
    p.cap_prm = _int(st.get("CapPrm"), 16)
    p.cap_bnd = _int(st.get("CapBnd"), 16)
    p.seccomp = _int(st.get("Seccomp"))
    p.seccomp_filters = _int(st.get("Seccomp_filters"))
    nnp = _int(st.get("NoNewPrivs"))
    p.no_new_privs = None if nnp is None else bool(nnp)
    p.pid = _int(st.get("Pid"))
    if ctx.live and p.pid is not None:
        p.pid = None  # our own pid means nothing elsewhere; keep snapshots reproducible


def collect_groups(ctx: CollectContext, facts: Facts) -> None:
    text = read_text(ctx.root, "/etc/group", facts.errors)
    for line in (text or "").split("\n"):  # getgrnam's lines end at \n only (not at U+2028: gsafe50)
        fields = line.split(":")
        gid = parse_small_int(fields[2]) if len(fields) >= 3 else None
        if gid is not None and not line.startswith("#"):
            facts.groups.setdefault(fields[0], gid)


def collect_env(ctx: CollectContext, facts: Facts) -> None:
    facts.env = redact_env(dict(sorted(ctx.env.items())))


MAX_X11 = 64


def _x11_names(names: Iterable[str], wanted: str) -> list[str]:
    """The X<n> names, at most MAX_X11, in display order, and always the one DISPLAY names when it is there: the
    first 64 in string order (X0, X1, X10, X100, ...) hid a real X99 behind decoys, and display.x11-unavailable said
    its socket was missing (gsafe42)."""
    found = {n: k for n in names if (k := numbered(n, "X")) is not None}
    keep = sorted(found, key=lambda n: (found[n], n))[:MAX_X11]
    if wanted in found and wanted not in keep:
        keep[-1:] = [wanted]  # its number is above every kept one: the list stays in order
    return keep


def collect_display(ctx: CollectContext, facts: Facts) -> None:
    """gnew41: with DISPLAY set, the X server's socket directory (/tmp/.X11-unix: X<n> for display :<n>) and the cookie
    file XAUTHORITY names, as an X11 client here would look for them (display.x11-unavailable)."""
    if not ctx.env.get("DISPLAY"):
        return
    d = facts.display
    wanted = local_display_socket(ctx.env["DISPLAY"]) or ""  # the name the rule looks for
    sockdir = ctx.path("/tmp/.X11-unix")
    d.x11_socket_dir = os.path.isdir(sockdir)
    if d.x11_socket_dir:
        try:
            d.x11_sockets = _x11_names(os.listdir(sockdir), wanted)
        except OSError as exc:
            facts.errors.append(f"/tmp/.X11-unix: {exc.strerror}")
    unix = read_text(ctx.root, "/proc/net/unix", facts.errors) or ""
    d.x11_abstract = _x11_names(
        {f.rsplit("/", 1)[1] for f in (ln.split()[-1] for ln in unix.splitlines()[1:] if ln.split())
         if f.startswith("@/tmp/.X11-unix/X")},
        wanted,
    )
    xauth = ctx.env.get("XAUTHORITY", "")
    if xauth.startswith("/"):
        d.xauthority_exists = os.path.lexists(ctx.path(xauth))


def writable_by(
    st: os.stat_result, uid: int | None, gid: int | None, groups: list[int], dac_override: bool | None = None
) -> bool | None:
    """May `uid` create entries in the directory (write and search), by its mode bits alone (the owner's class
    first, then the group's, then others', as the kernel's generic_permission does); None: uid unknown.
    `dac_override`: CAP_DAC_OVERRIDE in the effective set (None: unknown). The kernel bypasses the mode bits for that
    capability, not for uid 0: a root process whose capabilities were dropped (`--cap-drop ALL`, a restricted pod)
    cannot create in a 0755 directory it does not own (review48); with CapEff unknown, root is taken to have it. As
    rules/devices.py _dac_allows, only root's is read: a non-root process rarely holds it effective."""
    if uid is None:
        return None
    if uid == 0 and dac_override is not False:
        return True
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == uid:
        return mode & 0o300 == 0o300
    if st.st_gid == gid or st.st_gid in groups:
        return mode & 0o030 == 0o030
    return mode & 0o003 == 0o003


def may_create_in(ctx: CollectContext, facts: Facts, host: Path, st: os.stat_result) -> bool | None:
    """May the inspected process create files in the directory `host` (`st` its stat): live, access(2) with
    W_OK|X_OK as this process (may_create's MAY_WRITE|MAY_EXEC); under --root, its mode bits against the process's
    uid, gid, groups and CAP_DAC_OVERRIDE (writable_by). collect_status and collect_groups have run."""
    if ctx.live:
        return os.access(host, os.W_OK | os.X_OK)
    proc = facts.process
    return writable_by(st, proc.uid, proc.gid, proc.groups, has_cap(facts, "DAC_OVERRIDE"))


COLLECTORS.extend([collect_status, collect_groups, collect_env, collect_display])
