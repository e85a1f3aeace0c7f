"""Online CPUs (what oneCCL's auto worker affinity counts), the CPUs this process may use, and (gnew46) an x86 CPU's
vector extensions as /proc/cpuinfo lists them."""

from __future__ import annotations

import os

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.fsutil import read_text
from tpdoctor.facts.process import parse_status
from tpdoctor.model.facts import MAX_CPU_MODEL, Facts
from tpdoctor.termsafe import printable

MAX_CPUS = 1 << 16
CPUINFO_HEAD = 65536


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


def parse_cpuinfo_flags(text: str) -> tuple[set[str], str | None] | None:
    """The first processor's `flags` and `model name` of /proc/cpuinfo (arch/x86/kernel/cpu/proc.c show_cpuinfo:
    "flags\t\t: fpu vme ..."), or None where there is no x86 flags line (arm64 prints "Features", s390 "features")
    or it does not look like x86's (no sse2: a planted or foreign file). Only the first block is read: every
    processor of one machine lists the same extensions."""
    flags: set[str] | None = None
    model: str | None = None
    for line in text.splitlines()[:64]:
        if not line.strip():
            if flags is not None or model is not None:
                break
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key == "flags" and flags is None:
            flags = set(value.split()[:512])
        elif key == "model name" and model is None:
            model = value.strip()[:MAX_CPU_MODEL]
    if flags is None or "sse2" not in flags:
        return None
    return flags, model


def collect_cpu(ctx: CollectContext, facts: Facts) -> None:
    cpu = facts.cpu
    # the first processor's block is all that is read; a 512-CPU host's cpuinfo is megabytes (review46)
    cpuinfo = read_text(ctx.root, "/proc/cpuinfo", facts.errors, head=CPUINFO_HEAD)
    parsed = parse_cpuinfo_flags(cpuinfo) if cpuinfo else None
    if parsed is not None:
        flags, model = parsed
        cpu.avx, cpu.avx2, cpu.hypervisor = "avx" in flags, "avx2" in flags, "hypervisor" in flags
        cpu.model = printable(model)[:MAX_CPU_MODEL] if model else None
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
