"""Security facts: LSM (SELinux enforce + process label, AppArmor profile) and user namespaces.

/proc/self/attr/current holds the SELinux label ('system_u:system_r:container_t:s0:c1,c2') or,
on AppArmor hosts, the profile ('docker-default (enforce)'); newer kernels also expose
/proc/self/attr/apparmor/current. uid_map/gid_map say whether we run in a user namespace and
which host ids are mapped (an unmapped device gid shows as the overflow gid, 65534).
"""

from __future__ import annotations

import re

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.textfiles import first_line, read_text
from tpdoctor.model import Facts
from tpdoctor.units import parse_small_int

_SELINUX_LABEL = re.compile(r"^[^:\s]+:[^:\s]+:[^:\s]+(:.+)?$")


def _clean(text: str | None) -> str | None:
    line = first_line(text)
    return line.rstrip("\x00").strip() if line else None


def _map_lines(text: str | None) -> list[str]:
    return [" ".join(line.split()) for line in (text or "").splitlines() if line.strip()]


def _collect_lsm(ctx: CollectContext, facts: Facts) -> None:
    lsm = facts.lsm
    enforce = _clean(read_text(ctx, "/sys/fs/selinux/enforce"))
    lsm.selinux_enforce = parse_small_int(enforce) if enforce else None  # 5000 digits: int() raised (gsafe45)
    apparmor = _clean(read_text(ctx, "/proc/self/attr/apparmor/current"))
    current = _clean(read_text(ctx, "/proc/self/attr/current"))
    if current and _SELINUX_LABEL.match(current) and " " not in current:
        lsm.selinux_label = current
    elif current and not apparmor:
        apparmor = current
    lsm.apparmor_profile = apparmor


def _collect_userns(ctx: CollectContext, facts: Facts) -> None:
    facts.userns.uid_map = _map_lines(read_text(ctx, "/proc/self/uid_map"))
    facts.userns.gid_map = _map_lines(read_text(ctx, "/proc/self/gid_map"))
    overflow = _clean(read_text(ctx, "/proc/sys/kernel/overflowgid"))
    if overflow and (gid := parse_small_int(overflow)) is not None:
        facts.userns.overflow_gid = gid


def collect_security(ctx: CollectContext, facts: Facts) -> None:
    _collect_lsm(ctx, facts)
    _collect_userns(ctx, facts)


COLLECTORS.append(collect_security)
