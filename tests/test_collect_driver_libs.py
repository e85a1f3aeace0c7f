"""facts/driver_libs.py: where libcuda.so.1 is, whether the loader finds it, and the check it feeds.

The ld.so.cache reader is tested against caches that glibc's own ldconfig wrote (this machine's, and
one built with `ldconfig -r` over a temporary root), never against bytes written here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from tpdoctor.facts.collect import CollectContext, collect_facts
from tpdoctor.facts.driver_libs import collect_driver_libs, parse_ld_cache
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.rules.registry import run_fact_rules
from tpdoctor.runner.session import Prepared, check_and_fix

LDCONFIG = shutil.which("ldconfig") or "/sbin/ldconfig"
CAUSE = "nvidia.driver-libs-off-library-path"


def _ldconfig_p() -> dict[str, list[str]]:
    out = subprocess.run([LDCONFIG, "-p"], capture_output=True, text=True, check=True).stdout
    table: dict[str, list[str]] = {}
    for line in out.splitlines()[1:]:
        name, _, path = line.strip().partition(" => ")
        table.setdefault(name.split(" (", 1)[0], []).append(path)
    return table


@pytest.mark.skipif(not Path("/etc/ld.so.cache").is_file(), reason="no ld cache on this machine")
def test_parse_ld_cache_agrees_with_ldconfig_p_on_this_machine() -> None:
    data = Path("/etc/ld.so.cache").read_bytes()
    table = _ldconfig_p()
    assert table, "ldconfig -p listed nothing"
    for soname, paths in list(table.items())[:200]:
        assert sorted(parse_ld_cache(data, soname)) == sorted(set(paths)), soname


GCC = shutil.which("gcc") or shutil.which("cc")


def _root_with_library(
    tmp_path: Path, libdir: str, conf_dirs: list[str], *, elf: bool = False
) -> tuple[Path, str]:
    """A root whose `libdir` holds libcuda.so.550.54.15 with the driver's link layout (libcuda.so.1 ->
    it) and an ld.so.conf naming `conf_dirs`. `elf`: a real shared object whose SONAME is
    libcuda.so.1, built with the C compiler, so that ldconfig caches it as the driver's is cached."""
    root = tmp_path / "root"
    d = root / libdir.lstrip("/")
    d.mkdir(parents=True)
    target = d / "libcuda.so.550.54.15"
    if elf:
        if GCC is None:
            pytest.skip("no C compiler to build a shared object")
        src = tmp_path / "cuda.c"
        src.write_text("int cuInit(unsigned flags) { return flags ? 1 : 0; }\n")
        subprocess.run(
            [GCC, "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", str(target), str(src)], check=True
        )
    else:
        target.write_bytes(b"\x7fELF")
    os.symlink("libcuda.so.550.54.15", d / "libcuda.so.1")
    (root / "etc").mkdir()
    (root / "etc" / "ld.so.conf").write_text("".join(f"{c}\n" for c in conf_dirs))
    return root, f"{libdir}/libcuda.so.1"


@pytest.mark.skipif(os.geteuid() != 0, reason="ldconfig -r needs root")
def test_a_cache_ldconfig_wrote_over_a_root_lists_libcuda_where_it_is(tmp_path: Path) -> None:
    root, path = _root_with_library(
        tmp_path, "/usr/local/nvidia/lib64", ["/usr/local/nvidia/lib64"], elf=True
    )
    subprocess.run([LDCONFIG, "-r", str(root)], check=True, capture_output=True)
    assert parse_ld_cache((root / "etc" / "ld.so.cache").read_bytes()) == [path]


def _facts(root: Path, env: dict[str, str]) -> Facts:
    facts = Facts()
    collect_driver_libs(CollectContext(root=root, live=False, env=env), facts)
    return facts


def test_gke_layout_off_the_path_is_found_and_not_reachable(tmp_path: Path) -> None:
    root, path = _root_with_library(tmp_path, "/usr/local/nvidia/lib64", [])
    lib = _facts(root, {"LD_LIBRARY_PATH": "/usr/local/cuda/lib64"}).nvidia.libcuda
    assert lib is not None
    assert lib.found == [path]
    assert lib.ld_library_path == ["/usr/local/cuda/lib64"]
    assert lib.ld_cache == [] and lib.ld_cache_read  # no /etc/ld.so.cache in the root: it lists nothing


def test_a_link_out_of_the_root_is_not_a_library(tmp_path: Path) -> None:
    root = tmp_path / "root"
    d = root / "usr/local/nvidia/lib64"
    d.mkdir(parents=True)
    outside = tmp_path / "libcuda.so.550"
    outside.write_bytes(b"\x7fELF")
    os.symlink(str(outside), d / "libcuda.so.1")  # absolute: resolved inside the root, where it is absent
    lib = _facts(root, {}).nvidia.libcuda
    assert lib is not None and lib.found == []


def _check(root: Path, env: dict[str, str]) -> list[str]:
    facts = collect_facts(root, env, live=False)
    facts.container.runtime = "kubernetes"
    return [f.cause for f in run_fact_rules(facts, CheckOptions(backend="cuda"))]


def test_check_names_the_cause_for_the_gke_layout_and_not_once_the_path_is_set(tmp_path: Path) -> None:
    root, _ = _root_with_library(tmp_path, "/usr/local/nvidia/lib64", [])
    assert CAUSE in _check(root, {"LD_LIBRARY_PATH": "/usr/local/cuda/lib64"})
    assert CAUSE not in _check(root, {"LD_LIBRARY_PATH": "/usr/local/nvidia/lib64:/usr/local/cuda/lib64"})


def test_check_is_quiet_when_the_library_is_in_a_default_directory(tmp_path: Path) -> None:
    root, _ = _root_with_library(tmp_path, "/usr/lib/x86_64-linux-gnu", [])
    assert CAUSE not in _check(root, {})


@pytest.mark.skipif(os.geteuid() != 0, reason="ldconfig -r needs root")
def test_check_is_quiet_once_ldconfig_registered_the_directory(tmp_path: Path) -> None:
    root, _ = _root_with_library(tmp_path, "/usr/local/nvidia/lib64", ["/usr/local/nvidia/lib64"], elf=True)
    assert CAUSE in _check(root, {})  # ld.so.conf names it, but no cache was built: the loader does not look
    subprocess.run([LDCONFIG, "-r", str(root)], check=True, capture_output=True)
    assert CAUSE not in _check(root, {})


# -- `run`'s safe fix: append the directory to the child's LD_LIBRARY_PATH -------------------------


def _session(root: Path, env: dict[str, str], *, fix: bool = True) -> tuple[Prepared, list[str]]:
    said: list[str] = []

    def collect(e: Mapping[str, str]) -> Facts:
        facts = collect_facts(root, dict(e), live=False)
        facts.container.runtime = "kubernetes"
        return facts

    prepared = check_and_fix(env, CheckOptions(backend="cuda"), fix=fix, say=said.append, collect=collect)
    return prepared, said


def test_run_appends_the_driver_directory_for_the_child_and_the_recheck_agrees(tmp_path: Path) -> None:
    root, _ = _root_with_library(tmp_path, "/usr/local/nvidia/lib64", [])
    env = {"LD_LIBRARY_PATH": "/usr/local/cuda/lib64"}
    prepared, said = _session(root, env)
    assert prepared.env["LD_LIBRARY_PATH"] == "/usr/local/cuda/lib64:/usr/local/nvidia/lib64"
    assert env == {"LD_LIBRARY_PATH": "/usr/local/cuda/lib64"}  # the caller's mapping is not changed
    assert CAUSE not in {f.cause for f in prepared.findings}
    assert any(s.startswith(f"fixed {CAUSE}: appended /usr/local/nvidia/lib64") for s in said), said


def test_run_sets_the_variable_when_it_was_unset(tmp_path: Path) -> None:
    root, _ = _root_with_library(tmp_path, "/usr/local/nvidia/lib64", [])
    prepared, _ = _session(root, {})
    assert prepared.env["LD_LIBRARY_PATH"] == "/usr/local/nvidia/lib64"


def test_run_never_adds_a_directory_another_user_may_write(tmp_path: Path) -> None:
    root, _ = _root_with_library(tmp_path, "/usr/local/nvidia/lib64", [])
    (root / "usr/local/nvidia/lib64").chmod(0o777)
    prepared, said = _session(root, {})
    assert "LD_LIBRARY_PATH" not in prepared.env
    assert CAUSE in {f.cause for f in prepared.findings}
    assert any(s.startswith(f"cannot fix {CAUSE}") and "other than root" in s for s in said), said


def test_run_no_fix_only_says_so(tmp_path: Path) -> None:
    root, _ = _root_with_library(tmp_path, "/usr/local/nvidia/lib64", [])
    prepared, said = _session(root, {}, fix=False)
    assert "LD_LIBRARY_PATH" not in prepared.env
    assert any("--no-fix: not adding" in s for s in said), said


def test_a_hostile_ld_cache_is_an_error_line_not_a_hang_or_a_read_outside(tmp_path: Path) -> None:
    root, _ = _root_with_library(tmp_path, "/usr/local/nvidia/lib64", [])
    cache = root / "etc" / "ld.so.cache"
    os.mkfifo(cache)  # a FIFO never opened for reading: no hang
    lib = _facts(root, {}).nvidia.libcuda
    assert lib is not None and lib.ld_cache == [] and not lib.ld_cache_read
    cache.unlink()
    with open(cache, "wb") as f:  # sparse: over the cap without writing it
        f.truncate((16 << 20) + 1)
    facts = _facts(root, {})
    assert facts.nvidia.libcuda is not None and not facts.nvidia.libcuda.ld_cache_read
    assert any("ld.so.cache" in e for e in facts.errors), facts.errors
    cache.unlink()
    outside = tmp_path / "real-cache"
    outside.write_bytes(Path("/etc/ld.so.cache").read_bytes() if Path("/etc/ld.so.cache").is_file() else b"")
    os.symlink(str(outside), cache)  # absolute: resolved inside the root, where it is absent
    lib = _facts(root, {}).nvidia.libcuda
    assert lib is not None and lib.ld_cache == []
