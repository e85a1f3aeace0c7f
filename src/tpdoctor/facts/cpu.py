"""Online CPUs (what oneCCL's auto worker affinity counts) and the CPUs this process may use."""

from __future__ import annotations

import os

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.fsutil import read_text
from tpdoctor.facts.process import parse_status
from tpdoctor.model.facts import Facts

MAX_CPUS = 1 << 16


def parse_cpu_list(text: str) -> list[int]:
    """'0-3,8,10-11' -> [0, 1, 2, 3, 8, 10, 11]; raises ValueError on garbage or on more CPUs
    than Linux supports (NR_CPUS is at most 8192; MAX_CPUS leaves room): a planted `0-1e11`
    must not become a list of 1e11 ints."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        first, last = int(lo[:12]), int((hi or lo)[:12])
        if first < 0 or last >= MAX_CPUS or last - first >= MAX_CPUS:
            raise ValueError(f"CPU range {part[:40]} beyond {MAX_CPUS} CPUs")
        cpus.extend(range(first, last + 1))
        if len(cpus) > MAX_CPUS:
            raise ValueError(f"more than {MAX_CPUS} CPUs")
    return sorted(set(cpus))


def collect_cpu(ctx: CollectContext, facts: Facts) -> None:
    cpu = facts.cpu
    if ctx.live:
        cpu.online = os.sysconf("SC_NPROCESSORS_ONLN")
        cpu.allowed = sorted(os.sched_getaffinity(0))
        cpu.cpuset_source = "sched_getaffinity(0)"
        return
    online = read_text(ctx.root, "/sys/devices/system/cpu/online", facts.errors)
    try:
        cpu.online = len(parse_cpu_list(online)) if online else None
    except ValueError:
        facts.errors.append("/sys/devices/system/cpu/online: not a CPU list")
    status = read_text(ctx.root, "/proc/self/status")
    allowed = parse_status(status).get("Cpus_allowed_list") if status else None
    if allowed:
        try:
            cpu.allowed = parse_cpu_list(allowed)
            cpu.cpuset_source = "/proc/self/status Cpus_allowed_list"
        except ValueError:
            facts.errors.append("/proc/self/status: Cpus_allowed_list is not a CPU list")


COLLECTORS.append(collect_cpu)
