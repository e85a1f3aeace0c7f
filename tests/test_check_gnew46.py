"""Issue 13, gnew46: check's host.cpu-avx-missing rule (rules/host_cpu.py) on fake roots.

/proc/cpuinfo is written in the kernel's format (arch/x86/kernel/cpu/proc.c show_cpuinfo: "key\\t\\t: value" lines,
one block per processor, a blank line between): a Proxmox guest with the default kvm64 model lists the hypervisor
flag and no avx (QEMU target/i386/cpu.c's kvm64/qemu64 definitions carry no CPUID_EXT_AVX); an arm64 host prints
"Features" instead of "flags"."""

from __future__ import annotations

from pathlib import Path

from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.cpu import parse_cpuinfo_flags
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.rules.registry import run_fact_rules

_AVX = "host.cpu-avx-missing"
_BASE = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx lm"


def _cpuinfo(flags: str, model: str = "Common KVM processor", cpus: int = 2) -> str:
    block = (
        "processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 15\nmodel\t\t: 6\n"
        "model name\t: {model}\nstepping\t: 1\nflags\t\t: {flags}\nbogomips\t: 4799.99\n"
    )
    return "\n".join(block.format(n=n, model=model, flags=flags) for n in range(cpus)) + "\n"


def _facts(tmp_path: Path, cpuinfo: str | None, *, gpu: bool = True) -> Facts:
    fr = FakeRoot(tmp_path)
    fr.dockerenv()
    if gpu:
        fr.add_nvidia(1)
    if cpuinfo is not None:
        fr.write("proc/cpuinfo", cpuinfo)
    return collect_facts(fr.root, dict(fr.env), live=False)


def _avx(facts: Facts, options: CheckOptions | None = None) -> list:
    return [f for f in run_fact_rules(facts, options or CheckOptions()) if f.cause == _AVX]


def test_a_kvm64_guest_without_avx_is_found(tmp_path: Path) -> None:
    facts = _facts(tmp_path, _cpuinfo(_BASE + " pni cx16 x2apic hypervisor lahf_lm"))
    assert facts.cpu.avx is False and facts.cpu.hypervisor is True
    got = _avx(facts)
    assert len(got) == 1, got
    f = got[0]
    assert f.severity.value == "degraded" and f.confidence == "suggests"
    assert "VM" in f.message and "Common KVM processor" in f.message
    assert f.fixes and f.fixes[0].id == "vm-cpu-type-host"


def test_an_old_cpu_on_bare_metal_is_found_with_the_build_fix_first(tmp_path: Path) -> None:
    facts = _facts(tmp_path, _cpuinfo(_BASE + " pni ssse3 cx16 sse4_1 sse4_2 popcnt aes", "Intel(R) Xeon(R) CPU X5675"))
    got = _avx(facts)
    assert len(got) == 1 and "VM" not in got[0].message, got
    assert got[0].fixes[0].id == "build-without-avx"


def test_cpus_with_avx_other_architectures_and_no_gpu_are_clean(tmp_path: Path) -> None:
    assert _avx(_facts(tmp_path / "g", _cpuinfo(_BASE + " hypervisor")))  # the reading these cases guard
    # a VM with the host CPU model, bare metal with AVX2
    assert _avx(_facts(tmp_path / "a", _cpuinfo(_BASE + " sse4_2 avx f16c fma avx2 hypervisor"))) == []
    assert _avx(_facts(tmp_path / "b", _cpuinfo(_BASE + " sse4_2 avx avx2 avx512f"))) == []
    # arm64 (Grace, Jetson): "Features", no x86 flags line
    arm = "processor\t: 0\nBogoMIPS\t: 2000.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics\n"
    facts = _facts(tmp_path / "c", arm)
    assert facts.cpu.avx is None and _avx(facts) == []
    # no cpuinfo at all, and a CPU without AVX where no GPU is in sight
    assert _avx(_facts(tmp_path / "d", None)) == []
    assert _avx(_facts(tmp_path / "e", _cpuinfo(_BASE + " hypervisor"), gpu=False)) == []


def test_the_parser_reads_only_the_first_block_and_bounds_what_it_keeps() -> None:
    assert parse_cpuinfo_flags("flags\t\t: fpu nx lm\n") is None  # not x86's set (no sse2)
    flags, model = parse_cpuinfo_flags(_cpuinfo(_BASE, "x" * 1000)) or (set(), None)
    assert "sse2" in flags and model is not None and len(model) == 128
    two = _cpuinfo(_BASE + " avx", cpus=1) + "\n" + _cpuinfo(_BASE, cpus=1)
    assert "avx" in (parse_cpuinfo_flags(two) or (set(), None))[0]


def test_a_cpuinfo_past_the_fact_file_cap_is_read_by_its_head(tmp_path: Path) -> None:
    """review46: /proc/cpuinfo was read whole (up to MAX_FACT_FILE) and then cut to 64 KiB; only the first processor's
    block is needed. A file past the cap is now no error line and its first block still decides (a many-core host's
    cpuinfo is megabytes; 16 MiB stands in for a hostile or enormous one)."""
    from tpdoctor.facts.fsutil import MAX_FACT_FILE

    first = _cpuinfo(_BASE + " pni cx16 hypervisor", cpus=1)
    filler = _cpuinfo(_BASE + " avx avx2", cpus=1)
    text = first + filler * (MAX_FACT_FILE // len(filler) + 2)
    assert len(text) > MAX_FACT_FILE
    facts = _facts(tmp_path, text)
    assert not [e for e in facts.errors if "cpuinfo" in e], facts.errors
    assert facts.cpu.avx is False and facts.cpu.hypervisor is True
    assert len(_avx(facts)) == 1

