"""Which oneCCL a torch XPU environment loads (facts/oneccl_install.py, rules/oneccl_loader.py).

Fake roots are laid out like real pip environments: the oneccl wheel's METADATA/RECORD are
copied from a real `pip install oneccl==2021.15.1` (tests/data/oneccl-pip-2021.15.1, made by
bench/oneccl_pip_layout.sh), the libraries are real ELF objects built with the system compiler
(DT_NEEDED libccl.so.1 and a DT_RPATH or DT_RUNPATH like torch's XPU wheel), so the ELF reader
and glibc's search order are exercised on real files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.elf import ElfError, read_dynamic
from tpdoctor.model import CheckOptions
from tpdoctor.model.facts import Facts
from tpdoctor.oneccl.loader import loaded_ccl
from tpdoctor.oneccl.model import predict_mode
from tpdoctor.rules import run_fact_rules

DATA = Path(__file__).parent / "data" / "oneccl-pip-2021.15.1"
SITE = "/opt/venv/lib/python3.12/site-packages"
TORCH_RPATH = "$ORIGIN/../../../..:$ORIGIN"  # pytorch .ci/manywheel/build_xpu.sh LIB_SO_RPATH
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to build ELF objects")


def build_so(
    out: Path, soname: str, *, needed: Path | None = None, rpath: str | None = None, runpath: bool = False
) -> Path:
    """A real shared object: SONAME, optional DT_NEEDED on `needed`, DT_RPATH or DT_RUNPATH."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.parent / f".{out.name}.c"
    src.write_text("int tpdoctor_stub(void) { return 0; }\n")
    cmd = ["cc", "-shared", "-fPIC", "-o", str(out), str(src), f"-Wl,-soname,{soname}"]
    if needed is not None:
        cmd += ["-Wl,--no-as-needed", str(needed)]
    if rpath is not None:
        cmd += [f"-Wl,{'--enable-new-dtags' if runpath else '--disable-new-dtags'},-rpath,{rpath}"]
    subprocess.run(cmd, check=True, capture_output=True)
    src.unlink()
    return out


def torch_env(
    tmp_path: Path, *, torch_pin: str = "2021.15.1", runpath: bool = False, pip_ccl: bool = True
) -> FakeRoot:
    """/opt/venv like intel/pytorch and llm-scaler: torch XPU + pip oneccl, and oneAPI 2021.13."""
    fr = FakeRoot(tmp_path).add_gpu(128, "0000:03:00.0").add_gpu(129, "0000:04:00.0")
    stub = build_so(tmp_path / "stub" / "libccl.so.1", "libccl.so.1")
    if pip_ccl:
        dist = fr.path(f"{SITE}/oneccl-2021.15.1.dist-info")
        dist.mkdir(parents=True)
        for name in ("METADATA", "RECORD", "WHEEL"):
            shutil.copy(DATA / name, dist / name)
        put(fr, "/opt/venv/lib/libccl.so.1", stub)
    fr.write(
        f"{SITE}/torch-2.8.0+xpu.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: torch\nVersion: 2.8.0+xpu\n"
        f"Requires-Dist: oneccl-devel=={torch_pin}; platform_system == 'Linux' and platform_machine == 'x86_64'\n"
        f"Requires-Dist: oneccl=={torch_pin}; platform_system == 'Linux' and platform_machine == 'x86_64'\n",
    )
    fr.write(f"{SITE}/vllm-0.11.0+xpu.dist-info/METADATA", "Name: vllm\nVersion: 0.11.0+xpu\n")
    build_so(
        fr.path(f"{SITE}/torch/lib/libtorch_xpu.so"),
        "libtorch_xpu.so",
        needed=stub,
        rpath=TORCH_RPATH,
        runpath=runpath,
    )
    put(fr, "/opt/intel/oneapi/ccl/2021.13/lib/libccl.so.1", stub)
    fr.write("/opt/intel/oneapi/ccl/2021.13/env/vars.sh", "export CCL_ROOT=/opt/intel/oneapi/ccl/2021.13\n")
    fr.write("/opt/intel/oneapi/setvars.sh", "# oneAPI\n")
    return fr


def put(fr: FakeRoot, inroot: str, src: Path) -> None:
    dst = fr.path(inroot)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)


def glibc_loads(fr: FakeRoot, loader: str, ld_library_path: str = "") -> str:
    """The libccl.so.1 the real dynamic loader maps for `loader` (in-root paths both ways):
    dlopen it in a child with LD_LIBRARY_PATH mapped to the host, read /proc/self/maps."""
    import sys

    host_llp = ":".join(str(fr.path(d)) for d in ld_library_path.split(":") if d)
    code = (
        "import ctypes, sys; ctypes.CDLL(sys.argv[1]); "
        "print(next(l.split()[-1] for l in open('/proc/self/maps') if 'libccl.so' in l))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(fr.path(loader))],
        capture_output=True,
        text=True,
        env={"LD_LIBRARY_PATH": host_llp},
        check=True,
    ).stdout.strip()
    return "/" + os.path.relpath(out, fr.root)


def facts_of(fr: FakeRoot, **env: str) -> Facts:
    return collect_facts(fr.root, env, live=False)


@needs_cc
def test_elf_reader_reads_rpath_runpath_needed(tmp_path: Path) -> None:
    stub = build_so(tmp_path / "libccl.so.1", "libccl.so.1")
    a = build_so(tmp_path / "a.so", "liba.so", needed=stub, rpath="$ORIGIN/x:/opt/y")
    b = build_so(tmp_path / "b.so", "libb.so", needed=stub, rpath="$ORIGIN", runpath=True)
    with open(a, "rb") as f:
        da = read_dynamic(f)
    with open(b, "rb") as f:
        db = read_dynamic(f)
    assert (da.soname, da.rpath, da.runpath) == ("liba.so", ["$ORIGIN/x", "/opt/y"], [])
    assert "libccl.so.1" in da.needed
    assert (db.rpath, db.runpath) == ([], ["$ORIGIN"])
    (tmp_path / "junk").write_bytes(b"not an elf at all")
    with open(tmp_path / "junk", "rb") as f, pytest.raises(ElfError):
        read_dynamic(f)


@needs_cc
def test_torch_rpath_wins_over_setvars_ld_library_path(tmp_path: Path) -> None:
    fr = torch_env(tmp_path)
    facts = facts_of(
        fr,
        PATH="/opt/venv/bin:/usr/bin",
        LD_LIBRARY_PATH="/opt/intel/oneapi/ccl/2021.13/lib",
        CCL_ROOT="/opt/intel/oneapi/ccl/2021.13",
    )
    loader = facts.oneccl.loaders[0]
    assert loader.needs_ccl and loader.rpath == ["/opt/venv/lib", f"{SITE}/torch/lib"]
    loaded = loaded_ccl(facts)
    assert loaded is not None and loaded.library is not None
    assert (loaded.library.path, loaded.version) == ("/opt/venv/lib/libccl.so.1", "2021.15.1")
    assert "DT_RPATH" in loaded.why
    # glibc agrees: the same file is mapped although LD_LIBRARY_PATH names oneAPI 2021.13
    assert (
        glibc_loads(fr, f"{SITE}/torch/lib/libtorch_xpu.so", "/opt/intel/oneapi/ccl/2021.13/lib")
        == loaded.library.path
    )
    # the detected version drives the model: ≥2021.14 behaviour although CCL_ROOT names 2021.13
    mode = predict_mode(facts, CheckOptions(tp=2, backend="xpu"))
    assert mode.version.version == (2021, 15, 1) and mode.version.modern
    causes = {f.cause for f in run_fact_rules(facts, CheckOptions(tp=2, backend="xpu"))}
    assert "oneccl.library-selected" in causes and "oneccl.library-pin-mismatch" not in causes


@needs_cc
def test_runpath_lets_ld_library_path_win(tmp_path: Path) -> None:
    """With DT_RUNPATH instead of DT_RPATH, the sourced oneAPI 2021.13 is loaded: drmfd default."""
    fr = torch_env(tmp_path, runpath=True)
    facts = facts_of(fr, LD_LIBRARY_PATH="/opt/intel/oneapi/ccl/2021.13/lib")
    loaded = loaded_ccl(facts)
    assert loaded is not None and loaded.library is not None
    assert loaded.library.path == "/opt/intel/oneapi/ccl/2021.13/lib/libccl.so.1"
    assert loaded.version == "2021.13" and "LD_LIBRARY_PATH" in loaded.why
    assert (
        glibc_loads(fr, f"{SITE}/torch/lib/libtorch_xpu.so", "/opt/intel/oneapi/ccl/2021.13/lib")
        == loaded.library.path
    )
    # without LD_LIBRARY_PATH the RUNPATH finds /opt/venv/lib, for tpdoctor and for glibc
    alone = loaded_ccl(facts_of(fr))
    assert alone is not None and alone.library is not None
    assert (
        glibc_loads(fr, f"{SITE}/torch/lib/libtorch_xpu.so")
        == alone.library.path
        == "/opt/venv/lib/libccl.so.1"
    )
    mode = predict_mode(facts, CheckOptions(tp=2, backend="xpu"))
    assert (mode.version.version, mode.requested) == ((2021, 13), "drmfd")
    findings = run_fact_rules(facts, CheckOptions(tp=2, backend="xpu"))
    mismatch = [f for f in findings if f.cause == "oneccl.library-pin-mismatch"]
    assert mismatch and "2021.15.1" in mismatch[0].message and "2021.13" in mismatch[0].message


@needs_cc
def test_oneccl_version_flag_still_wins(tmp_path: Path) -> None:
    facts = facts_of(torch_env(tmp_path))
    mode = predict_mode(facts, CheckOptions(tp=2, backend="xpu", oneccl_version="2021.12"))
    assert mode.version.version == (2021, 12) and mode.version.source == "--oneccl-version"


@needs_cc
def test_llm_scaler_swap_symlink_reads_version_from_opt_intel(tmp_path: Path) -> None:
    """llm-scaler vllm/docker/Dockerfile: pip oneccl uninstalled, /opt/venv/lib/libccl.so.1 ->
    /opt/intel/oneapi/ccl/2021.15/lib/libccl.so.1.0."""
    fr = torch_env(tmp_path, pip_ccl=False)
    put(
        fr,
        "/opt/intel/oneapi/ccl/2021.15/lib/libccl.so.1.0",
        fr.path("/opt/intel/oneapi/ccl/2021.13/lib/libccl.so.1"),
    )
    fr.symlink("/opt/venv/lib/libccl.so.1", "/opt/intel/oneapi/ccl/2021.15/lib/libccl.so.1.0")
    facts = facts_of(fr)
    loaded = loaded_ccl(facts)
    assert loaded is not None and loaded.library is not None
    assert loaded.library.resolved == "/opt/intel/oneapi/ccl/2021.15/lib/libccl.so.1.0"
    assert (loaded.library.kind, loaded.version) == ("oneapi", "2021.15")


@needs_cc
def test_links_never_leave_the_root(tmp_path: Path) -> None:
    """An absolute link to a host file is resolved inside the root, where it does not exist."""
    fr = torch_env(tmp_path, pip_ccl=False)
    outside = tmp_path / "outside-libccl.so.1"
    shutil.copy(fr.path("/opt/intel/oneapi/ccl/2021.13/lib/libccl.so.1"), outside)
    os.symlink(str(outside), fr.path("/opt/venv/lib/libccl.so.1"))
    facts = facts_of(fr)
    assert all(lib.path != "/opt/venv/lib/libccl.so.1" for lib in facts.oneccl.libraries)
    loaded = loaded_ccl(facts)
    # torch's RPATH dir has nothing inside the root: the default dirs have nothing either
    assert loaded is not None and loaded.library is None and "needs libccl.so.1" in loaded.why


@needs_cc
def test_missing_libccl_is_a_blocker(tmp_path: Path) -> None:
    fr = torch_env(tmp_path, pip_ccl=False)
    shutil.rmtree(fr.path("/opt/intel/oneapi/ccl"))
    facts = facts_of(fr)
    sel = [
        f
        for f in run_fact_rules(facts, CheckOptions(tp=2, backend="xpu"))
        if f.cause == "oneccl.library-selected"
    ]
    assert sel and sel[0].severity == "blocker"


def test_real_wheel_layout_from_record(tmp_path: Path) -> None:
    """The real wheel's RECORD puts libccl.so.1 two levels above site-packages: <prefix>/lib."""
    record = (DATA / "RECORD").read_text()
    assert "../../libccl.so.1," in record
    fr = FakeRoot(tmp_path)
    dist = fr.path(f"{SITE}/oneccl-2021.15.1.dist-info")
    dist.mkdir(parents=True)
    shutil.copy(DATA / "METADATA", dist / "METADATA")
    for line in record.splitlines():
        rel = line.split(",")[0]
        if rel.startswith("../../libccl"):
            target = (dist.parent / rel).resolve()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"\x7fELF stub")
    facts = facts_of(fr)
    libs = {lib.path: lib for lib in facts.oneccl.libraries}
    assert libs["/opt/venv/lib/libccl.so.1"].version == "2021.15.1"
    assert libs["/opt/venv/lib/libccl.so.1"].kind == "pip"
    assert [p.version for p in facts.oneccl.packages if p.name == "oneccl"] == ["2021.15.1"]


def test_setvars_not_sourced(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, "0000:03:00.0").add_gpu(129, "0000:04:00.0")
    fr.write("/opt/intel/oneapi/setvars.sh", "# oneAPI\n")
    opts = CheckOptions(tp=2, backend="xpu")
    no_vllm = {f.cause for f in run_fact_rules(facts_of(fr, PATH="/usr/bin"), opts)}
    assert "oneccl.setvars-not-sourced" not in no_vllm  # llm-scaler's issue is about its vLLM image
    fr.write(f"{SITE}/vllm-0.11.0+xpu.dist-info/METADATA", "Name: vllm\nVersion: 0.11.0+xpu\n")
    bare = {f.cause for f in run_fact_rules(facts_of(fr, PATH="/usr/bin"), opts)}
    assert "oneccl.setvars-not-sourced" in bare
    sourced = {f.cause for f in run_fact_rules(facts_of(fr, PATH="/usr/bin", SETVARS_COMPLETED="1"), opts)}
    assert "oneccl.setvars-not-sourced" not in sourced


def test_meteor_lake_igpu_hang(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, "0000:00:02.0")
    fr.add_sysfs_gpu(128, "0000:00:02.0", device="0x7d55")
    opts = CheckOptions(tp=1, backend="xpu")
    assert "oneccl.xccl-igpu-hang" in {f.cause for f in run_fact_rules(facts_of(fr), opts)}
    gloo = {f.cause for f in run_fact_rules(facts_of(fr, VLLM_XPU_DIST_BACKEND="gloo"), opts)}
    assert "oneccl.xccl-igpu-hang" not in gloo
    arc = FakeRoot(tmp_path / "arc").add_gpu(128, "0000:03:00.0")  # 0x56a0, Arc A770
    assert "oneccl.xccl-igpu-hang" not in {f.cause for f in run_fact_rules(facts_of(arc), opts)}


def _real_root() -> str | None:
    """A real pip-installed oneCCL: TPDOCTOR_REAL_ONECCL_ROOT (bench/oneccl_pip_layout.sh makes one,
    with torch's pin), else the venvs the real-oneCCL family installs from PyPI (CI builds them
    before the tests: tests/oneccl_real/build.sh), newest torch-2.8+ version first."""
    if os.environ.get("TPDOCTOR_REAL_ONECCL_ROOT"):
        return os.environ["TPDOCTOR_REAL_ONECCL_ROOT"]
    cache = Path(os.environ.get("TPDOCTOR_ONECCL_CACHE", "/var/tmp/tpdoctor-oneccl-real")) / "v"
    for ver in sorted(cache.glob("2021.1[5-9]*"), reverse=True):
        if (ver / "venv/lib/libccl.so.1").is_file():
            return str(ver)
    return None


REAL = _real_root()


def test_real_pip_install(tmp_path: Path) -> None:
    if not REAL:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail("no real pip oneCCL: .ci/run builds tests/oneccl_real first", pytrace=False)
        pytest.skip("no real pip oneCCL (bash tests/oneccl_real/build.sh, or bench/oneccl_pip_layout.sh)")
    root = Path(REAL)
    facts = collect_facts(root, {"PATH": "/venv/bin:/usr/bin"}, live=False)
    lib = next(lib for lib in facts.oneccl.libraries if lib.path == "/venv/lib/libccl.so.1")
    with open(root / "venv/lib/libccl.so.1", "rb") as f:
        assert read_dynamic(f).soname == "libccl.so.1"
    assert lib.kind == "pip" and lib.version and lib.version.startswith("2021.")
    if (
        facts.oneccl.loaders
    ):  # bench/oneccl_pip_layout.sh adds torch's pin and a libtorch_xpu.so with its RPATH
        loaded = loaded_ccl(facts)
        assert (
            loaded is not None
            and loaded.library is not None
            and loaded.library.path == "/venv/lib/libccl.so.1"
        )
        mode = predict_mode(facts, CheckOptions(tp=2, backend="xpu"))
        assert mode.version.version == tuple(int(p) for p in lib.version.split(".")) and mode.version.modern


@needs_cc
def test_check_backend_xccl_cli(tmp_path: Path) -> None:
    """`check --backend xccl` is Intel with torch's XCCL on top: the mode prediction is oneCCL's."""
    import json
    import sys

    fr = torch_env(tmp_path)
    env_file = tmp_path / "job.env"
    env_file.write_text("PATH=/opt/venv/bin:/usr/bin\nLD_LIBRARY_PATH=/opt/intel/oneapi/ccl/2021.13/lib\n")
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tpdoctor",
            "check",
            "--root",
            str(fr.root),
            "--backend",
            "xccl",
            "--tp",
            "2",
            "--env-file",
            str(env_file),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo / "src")},
    )
    report = json.loads(out.stdout)
    assert report["facts"]["backend"] == "xpu"
    assert report["facts"]["oneccl"]["dist_backend"] == "xccl"
    assert report["facts"]["oneccl"]["version"] == "2021.15.1"
    sel = next(f for f in report["findings"] if f["cause"] == "oneccl.library-selected")
    assert any("xccl" in e["text"] for e in sel["evidence"])
    bad = subprocess.run(
        [sys.executable, "-m", "tpdoctor", "check", "--backend", "nccl2"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo / "src")},
    )
    assert bad.returncode == 2 and "xccl" in bad.stderr


@needs_cc
def test_ld_so_conf_dirs_are_searched_before_the_defaults(tmp_path: Path) -> None:
    """An image that registers oneAPI with ldconfig (/etc/ld.so.conf.d/*.conf) loads it from there."""
    fr = torch_env(tmp_path, pip_ccl=False)
    fr.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
    fr.write("/etc/ld.so.conf.d/oneapi.conf", "# oneAPI\n/opt/intel/oneapi/ccl/2021.13/lib\n")
    fr.write("/etc/ld.so.conf.d/other.txt", "/not/a/conf/file\n")
    facts = facts_of(fr)
    assert facts.oneccl.ldconfig_dirs == ["/opt/intel/oneapi/ccl/2021.13/lib"]
    loaded = loaded_ccl(facts)
    assert loaded is not None and loaded.library is not None and "ld.so.cache" in loaded.why
    assert loaded.version == "2021.13"


@needs_cc
def test_bindings_library_is_loaded_without_an_xpu_torch(tmp_path: Path) -> None:
    """oneccl_bindings_for_pytorch carries its own lib/libccl.so.1 next to a RUNPATH $ORIGIN/lib."""
    fr = FakeRoot(tmp_path).add_gpu(128, "0000:03:00.0").add_gpu(129, "0000:04:00.0")
    stub = build_so(tmp_path / "stub" / "libccl.so.1", "libccl.so.1")
    pkg = f"{SITE}/oneccl_bindings_for_pytorch"
    put(fr, f"{pkg}/lib/libccl.so.1", stub)
    build_so(
        fr.path(f"{pkg}/_C.cpython-312-x86_64-linux-gnu.so"),
        "_C.so",
        needed=stub,
        rpath="$ORIGIN/lib",
        runpath=True,
    )
    fr.write(
        f"{SITE}/oneccl_bind_pt-2.3.100+xpu.dist-info/METADATA",
        "Name: oneccl_bind_pt\nVersion: 2.3.100+xpu\n",
    )
    facts = facts_of(fr)
    assert [p.name for p in facts.oneccl.packages] == ["oneccl-bind-pt"]
    loaded = loaded_ccl(facts)
    assert loaded is not None and loaded.loader is not None and loaded.loader.what == "bindings"
    assert loaded.library is not None and loaded.library.kind == "bindings"
    assert "DT_RUNPATH" in loaded.why


@needs_cc
def test_the_env_vllm_runs_in_wins_over_the_active_one(tmp_path: Path) -> None:
    """Two Python environments: the active venv (torch pinned to 2021.16.1, its own libccl) and
    /opt/venv where vLLM is installed. The job is vLLM, so /opt/venv's torch decides."""
    fr = torch_env(tmp_path)
    other = "/opt/other/lib/python3.12/site-packages"
    stub = tmp_path / "stub" / "libccl.so.1"
    fr.write(
        f"{other}/torch-2.9.0+xpu.dist-info/METADATA",
        "Name: torch\nVersion: 2.9.0+xpu\nRequires-Dist: oneccl==2021.16.1\n",
    )
    fr.write(f"{other}/oneccl-2021.16.1.dist-info/METADATA", "Name: oneccl\nVersion: 2021.16.1\n")
    put(fr, "/opt/other/lib/libccl.so.1", stub)
    build_so(fr.path(f"{other}/torch/lib/libtorch_xpu.so"), "libtorch_xpu.so", needed=stub, rpath=TORCH_RPATH)
    facts = facts_of(fr, VIRTUAL_ENV="/opt/other", PATH="/opt/other/bin:/usr/bin")
    assert [p.prefix for p in facts.oneccl.packages if p.name == "torch"] == ["/opt/other", "/opt/venv"]
    loaded = loaded_ccl(facts)
    assert loaded is not None and loaded.library is not None
    assert (loaded.library.path, loaded.version) == ("/opt/venv/lib/libccl.so.1", "2021.15.1")
    (fr.path(f"{SITE}/vllm-0.11.0+xpu.dist-info/METADATA")).unlink()
    fr.path(f"{SITE}/vllm-0.11.0+xpu.dist-info").rmdir()
    loaded = loaded_ccl(facts_of(fr, VIRTUAL_ENV="/opt/other", PATH="/opt/other/bin:/usr/bin"))
    assert loaded is not None and loaded.version == "2021.16.1"  # no vLLM: the active env


@needs_cc
def test_backend_ccl_without_bindings_says_so(tmp_path: Path) -> None:
    facts = facts_of(torch_env(tmp_path))
    sel = [
        f
        for f in run_fact_rules(facts, CheckOptions(tp=2, backend="xpu", dist_backend="ccl"))
        if f.cause == "oneccl.library-selected"
    ]
    assert sel and any("no oneccl_bind_pt" in e.text for e in sel[0].evidence)
    auto = [
        f
        for f in run_fact_rules(facts, CheckOptions(tp=2, backend="xpu"))
        if f.cause == "oneccl.library-selected"
    ]
    assert any(e.text.startswith("xccl:") for e in auto[0].evidence)  # torch 2.8 XPU: vLLM's xccl


def test_a_lone_oneapi_install_is_not_reported(tmp_path: Path) -> None:
    """No torch, one oneCCL on LD_LIBRARY_PATH: the version drives the model, no extra notice."""
    fr = FakeRoot(tmp_path).add_gpu(128, "0000:03:00.0").add_gpu(129, "0000:04:00.0")
    fr.write("/opt/intel/oneapi/ccl/2021.13/lib/libccl.so.1", "stub\n")
    facts = facts_of(fr, LD_LIBRARY_PATH="/opt/intel/oneapi/ccl/2021.13/lib")
    assert predict_mode(facts, CheckOptions(tp=2, backend="xpu")).version.version == (2021, 13)
    opts = CheckOptions(tp=2, backend="xpu")
    assert "oneccl.library-selected" not in {f.cause for f in run_fact_rules(facts, opts)}
    fr.write("/opt/intel/oneapi/ccl/2021.15/lib/libccl.so.1", "stub\n")  # a second version: say which
    facts = facts_of(fr, LD_LIBRARY_PATH="/opt/intel/oneapi/ccl/2021.13/lib")
    assert "oneccl.library-selected" in {f.cause for f in run_fact_rules(facts, opts)}


def test_metadata_and_ld_so_conf_are_read_bounded(tmp_path: Path) -> None:
    """A package's METADATA is read by its head (a 2 MiB embedded README keeps its headers); a FIFO
    planted as an ld.so.conf.d entry or an over-cap one is an error line, never a hang or a read."""
    fr = FakeRoot(tmp_path)
    readme = "x" * 80 + "\n"
    fr.write(
        f"{SITE}/torch-2.8.0+xpu.dist-info/METADATA",
        "Name: torch\nVersion: 2.8.0+xpu\nRequires-Dist: oneccl==2021.15.1; platform_system == 'Linux'\n\n"
        + readme * ((2 << 20) // len(readme)),
    )
    fr.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
    fr.write("/etc/ld.so.conf.d/big.conf", "/opt/big/lib\n" + "#" * ((1 << 20) + 10))
    fifo = fr.path("/etc/ld.so.conf.d/fifo.conf")
    os.mkfifo(fifo)
    facts = facts_of(fr)
    torch = [p for p in facts.oneccl.packages if p.name == "torch"]
    assert [p.requires_oneccl for p in torch] == ["2021.15.1"]
    assert "/opt/big/lib" not in facts.oneccl.ldconfig_dirs  # over the cap: refused, not half-parsed
    assert any("ld.so.conf.d/big.conf" in e and "limit" in e for e in facts.errors), facts.errors


def test_read_fd_bounded_head_only_returns_the_cap(tmp_path: Path) -> None:
    from tpdoctor.boundedio import TooLarge, read_fd_bounded

    f = tmp_path / "f"
    f.write_bytes(b"a" * 100)
    fd = os.open(f, os.O_RDONLY)
    try:
        assert read_fd_bounded(fd, "f", 10, head_only=True) == b"a" * 10
        os.lseek(fd, 0, os.SEEK_SET)
        with pytest.raises(TooLarge):
            read_fd_bounded(fd, "f", 10)
        os.lseek(fd, 0, os.SEEK_SET)
        assert read_fd_bounded(fd, "f", 100) == b"a" * 100
    finally:
        os.close(fd)
