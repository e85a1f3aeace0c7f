"""Issue #11, defect 4: `check --root` never reads outside the root.

First every in-root path the collectors look at is recorded (on a root with Intel GPUs, NVIDIA
/proc files, networks, mounts, env). Then, one path at a time, that path is replaced by a symlink
(absolute, and relative `../../..`) to a marker outside the root: a file holding the marker text,
or a directory whose entries carry it. The marker must never appear in the facts or the
snapshot, and no open() of a path outside the root may happen (audit hook)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from fakeroot import FakeRoot
from tpdoctor.facts import fsutil
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.snapshot import dump_facts

MARK = "tpdoctorOUTSIDEMARKER"
ENV = {
    "CCL_DRMFD_DEV_RENDER_DIR_PATH": "/dev/dri/by-path",
    "LD_LIBRARY_PATH": "/opt/intel/oneapi/ccl/2021.14/lib",
}


def _rich_root(base: Path) -> Path:
    fr = (
        FakeRoot(base)
        .add_gpu(128, "0000:03:00.0")
        .add_gpu(129, "0000:04:00.0")
        .add_bypath("0000:03:00.0", 128)
        .docker_default()
        .dockerenv()
        .oneccl_install("/opt/intel/oneapi/ccl/2021.14")
        .set_env(CCL_DRMFD_DEV_RENDER_DIR_PATH="/dev/dri/by-path", HF_TOKEN="x")
    )
    fr.write("proc/driver/nvidia/version", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54\n")
    fr.write(
        "proc/driver/nvidia/gpus/0000:81:00.0/information", "Model: NVIDIA H200\nBus Location: 0000:81:00.0\n"
    )
    fr.write("sys/class/net/eth0/operstate", "up\n")
    fr.write("proc/net/route", "Iface\tDestination\tGateway\neth0\t00000000\t0100000A\n")
    fr.write("proc/net/fib_trie", "Main:\n  +-- 0.0.0.0/0 3 0 5\n")
    fr.write("proc/self/limits", "Max locked memory 65536 65536 bytes\n")
    fr.write("proc/meminfo", "MemTotal: 1000 kB\n")
    fr.write("proc/sys/kernel/hostname", "h\n")
    fr.write("proc/self/uid_map", "0 0 4294967295\n")
    fr.write("sys/fs/selinux/enforce", "0\n")
    # a pip oneCCL next to torch's XPU wheel (facts/oneccl_install.py reads all of these)
    sp = "opt/venv/lib/python3.11/site-packages"
    fr.write(f"{sp}/oneccl-2021.15.1.dist-info/METADATA", "Name: oneccl\nVersion: 2021.15.1\n")
    fr.write(
        f"{sp}/torch-2.8.0+xpu.dist-info/METADATA",
        "Name: torch\nVersion: 2.8.0+xpu\nRequires-Dist: oneccl==2021.15.1\n",
    )
    fr.write(f"{sp}/torch/lib/libtorch_xpu.so", "not an ELF\n")
    fr.write("opt/venv/lib/libccl.so.1", "not an ELF\n")
    fr.write("etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
    fr.write("etc/ld.so.conf.d/x.conf", "/usr/local/lib\n")
    fr.write("opt/intel/oneapi/ccl/2021.14/lib/libccl.so.1", "not an ELF\n")
    fr.flush()
    return fr.root


def _record_paths(root: Path) -> list[str]:
    """Every in-root path the collectors resolve (openat2 off: all go through resolve_in_root)."""
    seen: list[str] = []
    real = fsutil.resolve_in_root

    def spy(r: Path, inroot: str) -> str | None:
        seen.append("/" + "/".join(p for p in inroot.split("/") if p))
        return real(r, inroot)

    saved = list(fsutil._openat2_state)
    fsutil._openat2_state[:] = [False]
    from tpdoctor.facts.collect import COLLECTOR_MODULES, load_collectors

    load_collectors()
    # every module that imported resolve_in_root by name, and fsutil itself
    spied = [
        sys.modules[m]
        for m in (*COLLECTOR_MODULES, "tpdoctor.facts.fsutil")
        if hasattr(sys.modules[m], "resolve_in_root")
    ]
    for mod in spied:
        mod.resolve_in_root = spy  # type: ignore[attr-defined]
    try:
        env = json.loads(json.dumps(ENV))
        collect_facts(root, env, live=False)
    finally:
        for mod in spied:
            mod.resolve_in_root = real  # type: ignore[attr-defined]
        fsutil._openat2_state[:] = saved
    return sorted({p for p in seen if p != "/"})


def _outside(base: Path, paths: list[str]) -> Path:
    """A mirror of every recorded path outside the root: files hold MARK, dirs list a MARK entry."""
    out = base / "outside"
    for p in paths:
        target = out / p.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.parent / MARK).write_text(MARK + "\n")
    for p in paths:
        target = out / p.lstrip("/")
        if not target.exists():
            target.write_text(f"{MARK}\n{MARK} 1 2 3\n")
    return out


_opened_outside: list[str] = []
_guard: dict[str, Path] = {}


def _hook(event: str, args: tuple[object, ...]) -> None:
    if (
        event in ("open", "os.listdir", "os.scandir")
        and _guard
        and args
        and isinstance(args[0], (str, bytes, os.PathLike))
    ):
        p = os.fsdecode(args[0])
        if MARK in p or os.path.realpath(p).startswith(str(_guard["outside"]) + "/"):
            _opened_outside.append(p)


sys.addaudithook(_hook)


@pytest.mark.parametrize("style", ["absolute", "relative", "parent-dir"])
def test_no_collector_reads_through_a_link_out_of_the_root(tmp_path: Path, style: str) -> None:
    probe_root = _rich_root(tmp_path / "probe")
    paths = _record_paths(probe_root)
    assert {"/proc/self/status", "/etc/group", "/proc/self/mounts", "/dev/dri", "/etc/ld.so.conf"} <= set(
        paths
    ), paths
    outside = _outside(tmp_path, paths)
    targets = (
        paths if style != "parent-dir" else sorted({p.rsplit("/", 1)[0] for p in paths if p.count("/") > 1})
    )
    leaks: list[str] = []
    for i, p in enumerate(targets):
        root = _rich_root(tmp_path / f"r{i}")
        victim = root / p.lstrip("/")
        if victim.is_dir() and not victim.is_symlink():
            shutil.rmtree(victim)
        elif victim.exists() or victim.is_symlink():
            victim.unlink()
        victim.parent.mkdir(parents=True, exist_ok=True)
        dest = outside / p.lstrip("/")
        if style == "relative":
            victim.symlink_to("../" * 12 + str(dest).lstrip("/"))
        else:
            victim.symlink_to(dest)
        _guard["outside"] = outside
        try:
            for openat2 in ([], [False]):  # the kernel's RESOLVE_IN_ROOT and the userspace walk
                fsutil._openat2_state[:] = openat2
                facts = collect_facts(root, dict(ENV), live=False)
                if MARK in dump_facts(facts):
                    leaks.append(f"{p} (openat2={openat2 or 'auto'})")
        finally:
            _guard.clear()
            fsutil._openat2_state[:] = []
    assert not leaks, leaks
    assert not _opened_outside, _opened_outside[:10]


def test_cli_snapshot_and_output_hold_no_outside_content(tmp_path: Path) -> None:
    root = _rich_root(tmp_path / "cli")
    secret = tmp_path / "shadow"
    secret.write_text(f"root:{MARK}:19000:0:99999:7:::\n")
    for p in ("proc/self/cgroup", "etc/group", "proc/self/status", "proc/self/mounts", "proc/self/environ"):
        (root / p).unlink(missing_ok=True)
        (root / p).symlink_to(secret)
    (root / "proc/sys/kernel/osrelease").unlink()
    (root / "proc/sys/kernel/osrelease").symlink_to("../../../../../../../../" + str(secret).lstrip("/"))
    snap = tmp_path / "s.json"
    r = run_cli("check", "--root", str(root), "--snapshot", str(snap), "--format", "json")
    assert r.returncode in (0, 3, 4), r.stderr
    assert MARK not in r.stdout + r.stderr + snap.read_text()


def test_devices_and_fifo_under_root_are_not_read(tmp_path: Path) -> None:
    """/dev/zero as proc/self/mounts, a FIFO as /etc/group, a 20 MB status: bounded, no hang."""
    root = _rich_root(tmp_path / "dev")
    (root / "proc/self/mounts").unlink()
    (root / "proc/self/mounts").symlink_to("/dev/zero")  # resolved in the root: absent
    os.mkfifo(root / "etc/group.fifo")
    (root / "etc/group").unlink()
    (root / "etc/group").symlink_to("group.fifo")
    (root / "proc/self/status").write_bytes(b"x" * (20 << 20))
    if os.geteuid() == 0:
        (root / "proc/meminfo").unlink()
        os.mknod(root / "proc/meminfo", 0o600 | 0o020000, os.makedev(1, 5))  # a real /dev/zero node
    r = run_cli("check", "--root", str(root), "--format", "json")
    assert r.returncode in (0, 3, 4), r.stderr
    assert "Traceback" not in r.stderr
