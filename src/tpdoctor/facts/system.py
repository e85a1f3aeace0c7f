"""Kernel, Yama, cgroup, container runtime, mounts, /tmp, and where oneCCL is installed."""

from __future__ import annotations

import os
import re

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.container import booted_root
from tpdoctor.facts.fsutil import SYSFS_ATTR_MAX, read_bytes, read_text
from tpdoctor.facts.process import may_create_in
from tpdoctor.model.facts import Facts, MountEntry, mount_holding
from tpdoctor.units import parse_small_int

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    # /proc/self/mounts writes spaces and tabs in paths as \040, \011
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def collect_kernel(ctx: CollectContext, facts: Facts) -> None:
    release = read_text(ctx.root, "/proc/sys/kernel/osrelease", facts.errors)
    if release is None and ctx.live:
        release = os.uname().release
    facts.kernel.release = release.strip() if release else None
    scope = read_text(ctx.root, "/proc/sys/kernel/yama/ptrace_scope", facts.errors)
    value = parse_small_int(scope) if scope is not None else None  # 5000 digits: int() raised (gsafe45)
    if value is not None:
        facts.kernel.yama_present, facts.kernel.ptrace_scope = True, value
    elif ctx.path("/proc/sys/kernel").is_dir():
        # /proc/sys/kernel is there but Yama is not: the LSM is not built in or not enabled.
        facts.kernel.yama_present = False
    cmdline = read_text(ctx.root, "/proc/cmdline")
    if cmdline is not None:
        facts.kernel.cmdline_nomodeset = "nomodeset" in cmdline.split()
    if facts.kernel.cmdline_nomodeset:
        facts.kernel.gpus_without_driver = _gpus_without_driver(ctx)


# PCI vendors whose DRM drivers honour nomodeset for compute: AMD (amdgpu, radeon) and Intel (i915, xe). NVIDIA's
# nvidia.ko does not (only nvidia-drm's modeset), so its GPUs are left out.
_NOMODESET_VENDORS = ("0x1002", "0x8086")


def _gpus_without_driver(ctx: CollectContext) -> list[str]:
    """gnew41: the AMD/Intel display-class PCI functions (class 0x03xxxx) with no driver bound, "<bdf> <vendor>"."""
    out: list[str] = []
    try:
        names = sorted(os.listdir(ctx.path("/sys/bus/pci/devices")))
    except OSError:
        return out
    for bdf in names[:4096]:
        base = f"/sys/bus/pci/devices/{bdf}"
        # a sysfs attribute is at most a page: a hostile root's 16 MiB `vendor` and `class` (one file, linked from
        # 4096 device directories) were read whole, 128 GiB in all (gsafe50)
        vendor = (read_text(ctx.root, f"{base}/vendor", head=SYSFS_ATTR_MAX) or "").strip()
        klass = (read_text(ctx.root, f"{base}/class", head=SYSFS_ATTR_MAX) or "").strip()
        if vendor in _NOMODESET_VENDORS and klass.startswith("0x03") and not os.path.lexists(ctx.entry(f"{base}/driver")):
            out.append(f"{bdf} {vendor}")
    return out[:64]


# The kernel config is read only where it matters (amdgpu loaded): /boot/config-<release> as a text file, else
# the kernel's own /proc/config.gz (CONFIG_IKCONFIG_PROC), at most _KCONFIG_GZ_MAX bytes compressed and
# _KCONFIG_MAX once inflated (a config is ~300 KiB; a planted gzip bomb stops at the cap, an error line).
_KCONFIG_GZ_MAX = 1 << 20
_KCONFIG_MAX = 4 << 20
_HSA_AMD = re.compile(r"^(?:CONFIG_HSA_AMD=(?P<val>[ym])|# CONFIG_HSA_AMD is not set)\s*$", re.MULTILINE)


def _config_gz(ctx: CollectContext, errors: list[str]) -> str | None:
    import zlib

    data = read_bytes(ctx.root, "/proc/config.gz", errors, _KCONFIG_GZ_MAX, "kernel config")
    if data is None:
        return None
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        text = inflate.decompress(data, _KCONFIG_MAX)
    except zlib.error as exc:
        errors.append(f"/proc/config.gz: not gzip data: {exc}")
        return None
    if inflate.unconsumed_tail:
        errors.append(f"/proc/config.gz: more than {_KCONFIG_MAX} bytes once inflated; not read")
        return None
    return text.decode("utf-8", errors="replace")


def collect_kernel_config(ctx: CollectContext, facts: Facts) -> None:
    """CONFIG_HSA_AMD of the running kernel, read only on a host where amdgpu is loaded (/sys/module/amdgpu,
    or a render node bound to amdgpu): amd.kernel-hsa-disabled's rule needs it when /dev/kfd is absent."""
    module = ctx.path("/sys/module/amdgpu").is_dir()
    bound = any(g.driver == "amdgpu" for g in facts.drm)
    if not (module or bound):
        return
    facts.kernel.amdgpu_loaded = True
    text, source = None, None
    release = facts.kernel.release
    if release and "/" not in release and release not in (".", ".."):
        source = f"/boot/config-{release}"
        text = read_text(ctx.root, source, facts.errors)
    if text is None:
        source = "/proc/config.gz"
        text = _config_gz(ctx, facts.errors)
    if text is None:
        return
    m = _HSA_AMD.search(text)
    if m is None and "CONFIG_DRM_AMDGPU=" not in text:
        return  # not this kernel's config, or a fragment: say nothing
    facts.kernel.hsa_amd = m.group("val") if m and m.group("val") else "unset"
    facts.kernel.config_source = source


def collect_cgroup(ctx: CollectContext, facts: Facts) -> None:
    text = read_text(ctx.root, "/proc/self/cgroup", facts.errors)
    c = facts.container
    if text is not None:
        c.cgroup_lines = [ln for ln in text.splitlines() if ln.strip()]
        only_unified = all(ln.startswith("0::") for ln in c.cgroup_lines)
        c.cgroup_version = 2 if c.cgroup_lines and only_unified else 1 if c.cgroup_lines else None
    rules = read_text(ctx.root, "/sys/fs/cgroup/devices/devices.list")
    if rules is not None:
        c.device_rules = [ln.strip() for ln in rules.splitlines() if ln.strip()]


def collect_container(ctx: CollectContext, facts: Facts) -> None:
    c = facts.container
    evidence: list[str] = []
    runtime = "unknown"
    if ctx.path("/.dockerenv").exists():
        runtime = "docker"
        evidence.append("/.dockerenv exists")
    if ctx.path("/run/.containerenv").exists():
        runtime = "podman"
        evidence.append("/run/.containerenv exists")
    joined = "\n".join(c.cgroup_lines)
    booted = booted_root(facts.mounts)
    if runtime == "docker" and booted and "docker" not in joined:
        # an image's /.dockerenv copied onto a VM's or host's disk (the H200 device machine)
        runtime = "none"
        evidence.append(booted)
    if runtime == "unknown":
        if "kubepods" in joined or ctx.env.get("KUBERNETES_SERVICE_HOST"):
            runtime = "kubernetes"
            evidence.append("kubepods cgroup or KUBERNETES_SERVICE_HOST")
        elif "libpod" in joined:
            runtime = "podman"
            evidence.append("libpod cgroup")
        elif "docker" in joined:
            runtime = "docker"
            evidence.append("docker cgroup")
        elif ctx.env.get("container"):
            runtime = ctx.env["container"]
            evidence.append(f"container={runtime} in the environment")
        elif c.cgroup_lines and all(ln.rstrip().endswith(":/") for ln in c.cgroup_lines):
            runtime = "none"
            evidence.append("every cgroup path is / (host or a private cgroup namespace)")
    c.runtime, c.evidence = runtime, evidence


def parse_mounts(text: str) -> list[MountEntry]:
    """/proc/self/mounts lines as MountEntry, octal escapes in paths undone."""
    out: list[MountEntry] = []
    # the kernel ends each line with \n and separates the fields with one blank (show_vfsmnt), escaping only blank,
    # tab, newline and backslash in a path: str.splitlines and str.split also cut at U+2028, U+0085, NBSP, \x1c…, so a
    # mount point named `/x<U+2028>tmpfs<NBSP>/dev/shm<NBSP>tmpfs<NBSP>rw,size=99g` read as a 99 GiB /dev/shm (gsafe50)
    for line in text.split("\n"):
        fields = [f for f in line.split(" ") if f]
        if len(fields) >= 4:
            out.append(
                MountEntry(
                    source=_unescape(fields[0]),
                    target=_unescape(fields[1]),
                    fstype=fields[2],
                    options=fields[3].split(","),
                )
            )
    return out


def collect_mounts(ctx: CollectContext, facts: Facts) -> None:
    facts.mounts.extend(parse_mounts(read_text(ctx.root, "/proc/self/mounts", facts.errors) or ""))


def mount_for(facts: Facts, path: str) -> MountEntry | None:
    """The mount that holds `path` (the last, longest matching target wins, as in the kernel)."""
    return mount_holding(facts.mounts, path)


def collect_tmp(ctx: CollectContext, facts: Facts) -> None:
    tmp = ctx.path("/tmp")
    m = mount_for(facts, "/tmp")
    facts.tmp_readonly_mount = None if m is None else "ro" in m.options
    if not tmp.is_dir():
        facts.tmp_writable = False
    elif facts.tmp_readonly_mount:
        facts.tmp_writable = False
    else:
        facts.tmp_writable = may_create_in(ctx, facts, tmp, tmp.stat())


# Install locations that name their generation; /opt/intel/1ccl-wks is ipex-llm's 2021.14-era build.
_ONECCL_DIRS = ("/opt/intel/oneapi/ccl", "/opt/intel/1ccl-wks")


def collect_oneccl(ctx: CollectContext, facts: Facts) -> None:
    for base in _ONECCL_DIRS:
        hp = ctx.path(base)
        if not hp.is_dir():
            continue
        if base.endswith("/ccl"):
            for name in sorted(os.listdir(hp)):
                if name[:1].isdigit():
                    facts.oneccl.installs.append(f"{base}/{name}")
        else:
            facts.oneccl.installs.append(base)


COLLECTORS.extend(
    [collect_kernel, collect_kernel_config, collect_cgroup, collect_mounts, collect_container, collect_tmp,
     collect_oneccl]
)
