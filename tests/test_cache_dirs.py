"""grefactor48: facts/cache_dirs.py, the one place that says where Triton, TorchInductor and torch's extension builder
put their caches, serves check's noexec and shared-filesystem rules (rules/jit_cache.py, from the environment and the
mounts) and the owner rule's collector (facts/jit_cache.py, in the root).

The two copies it replaced disagreed; the upstream sources settle it:
- the temp dir: CPython's tempfile._candidate_tempdir_list reads TMPDIR, TEMP, TMP in that order (the rules read only
  TMPDIR);
- TorchInductor's default is `tempfile.gettempdir() + "/torchinductor_" + getpass.getuser()` (torch 2.0.0
  _inductor/codecache.py; 2.5.1 _inductor/runtime/runtime_utils.py default_cache_dir), the user directory itself, not
  the temp dir (the rules looked up the temp dir's mount);
- Triton's cache under TRITON_HOME (triton/runtime/cache.py: TRITON_HOME, else HOME, + /.triton/cache) is a
  directory a variable names (the owner rule's collector left it out).
Old releases' defaults (torch < 1.6's temp dir + torch_extensions, Triton 1.x's /tmp/triton) stay the collector's
alone, beside an installed release that uses them (tests/test_check_gnew47.py)."""

from __future__ import annotations

import os
from pathlib import Path

from fakeroot import FakeRoot
from tpdoctor.facts.cache_dirs import jit_cache_dirs, temp_dir
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.model.facts import MountEntry
from tpdoctor.rules.jit_cache import explicit_cache_dirs, jit_cache_local
from tpdoctor.rules.registry import run_fact_rules


def _paths(env: dict[str, str]) -> list[tuple[str, bool]]:
    return [(c.path, c.explicit) for c in jit_cache_dirs(env)]


def test_the_locations_as_the_libraries_pick_them() -> None:
    assert _paths({"HOME": "/home/alice"}) == [
        ("/home/alice/.triton/cache", False),
        ("/tmp", False),  # no user name in the environment: the temp dir's mount is the cache's
        ("/home/alice/.cache/torch_extensions", False),
    ]
    assert _paths({"HOME": "/home/alice", "USER": "a:b", "TMPDIR": "rel", "TEMP": "//scratch/", "TMP": "/t"}) == [
        ("/home/alice/.triton/cache", False),
        ("/scratch/torchinductor_a_b", False),  # a relative TMPDIR is skipped; the name sanitized as torch does
        ("/home/alice/.cache/torch_extensions", False),
    ]
    env = {"TRITON_HOME": "/opt/t", "TORCHINDUCTOR_CACHE_DIR": "/c/ind", "TORCH_EXTENSIONS_DIR": "/c/ext"}
    assert _paths(env) == [("/opt/t/.triton/cache", True), ("/c/ind", True), ("/c/ext", True)]
    assert _paths({"TRITON_CACHE_DIR": "/c/tri", "TRITON_HOME": "/opt/t"})[0] == ("/c/tri", True)
    assert [d for _, d in explicit_cache_dirs(env)] == ["/opt/t/.triton/cache", "/c/ind", "/c/ext"]
    # where the caller can look, a variable naming no directory is passed over, as gettempdir() does
    assert temp_dir({"TMPDIR": "/gone", "TEMP": "/scratch"}, lambda p: p == "/scratch") == ("/scratch", "TEMP")
    assert temp_dir({"TMPDIR": "/gone"}, lambda p: False) == ("/tmp", None)


def _mounted(env: dict[str, str], *nfs: str) -> Facts:
    f = Facts()
    f.env.update(env)
    f.mounts.append(MountEntry(source="/dev/sda1", target="/", fstype="ext4", options=["rw"]))
    f.mounts.extend(MountEntry(source="server:/export", target=t, fstype="nfs4", options=["rw"]) for t in nfs)
    return f


def test_the_shared_fs_rule_reads_temp_and_tmp_as_tempfile_does() -> None:
    (got,) = jit_cache_local(_mounted({"TEMP": "/scratch", "USER": "alice"}, "/scratch"), CheckOptions(tp=2))
    assert "/scratch/torchinductor_alice" in got.message and "TEMP" in got.evidence[0].source
    (got,) = jit_cache_local(_mounted({"TMP": "/scratch"}, "/scratch"), CheckOptions(tp=2))
    assert "/scratch (TorchInductor's default cache (TMP + torchinductor_<user>))" in got.message
    # TMPDIR first
    assert list(jit_cache_local(_mounted({"TMPDIR": "/local", "TEMP": "/scratch"}, "/scratch"), CheckOptions(tp=2))) == []


def test_the_shared_fs_rule_looks_up_the_user_s_own_inductor_directory() -> None:
    # a network volume mounted at the cache itself (docker run -v nfs-vol:/tmp/torchinductor_alice)
    (got,) = jit_cache_local(_mounted({"USER": "alice"}, "/tmp/torchinductor_alice"), CheckOptions(tp=2))
    assert "/tmp/torchinductor_alice" in got.message
    # another user's directory is not this job's cache
    assert list(jit_cache_local(_mounted({"USER": "bob"}, "/tmp/torchinductor_alice"), CheckOptions(tp=2))) == []
    # with no user name known, the temp dir's mount stands for it (as before)
    (got,) = jit_cache_local(_mounted({"TMPDIR": "/scratch"}, "/scratch"), CheckOptions(tp=2))
    assert "/scratch (" in got.message


def _root(tmp_path: Path, **env: str) -> FakeRoot:
    fr = FakeRoot(tmp_path)
    fr.dockerenv()
    fr.add_nvidia(2)
    fr.set_status(uid=1000, gid=1000, groups=[1000])
    fr.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nappuser:x:1000:1000::/home/appuser:/bin/sh\n")
    fr.set_env(HOME="/home/appuser", PATH="/usr/bin:/bin", **env)
    return fr


def _dir(fr: FakeRoot, inroot: str, uid: int, mode: int) -> None:
    p = fr.path(inroot)
    p.mkdir(parents=True, exist_ok=True)
    os.chown(p, uid, uid)
    os.chmod(p, mode)


def _owner_findings(fr: FakeRoot) -> list[str]:
    facts = collect_facts(fr.root, dict(fr.env), live=False)
    return [f.message for f in run_fact_rules(facts, CheckOptions(tp=2)) if f.cause == "fs.jit-cache-other-owner"]


def test_the_owner_rule_reads_temp_when_tmpdir_is_unset(tmp_path: Path) -> None:
    fr = _root(tmp_path, TEMP="/scratch")
    _dir(fr, "scratch", 0, 0o1777)
    _dir(fr, "scratch/torchinductor_appuser", 2000, 0o700)
    (got,) = _owner_findings(fr)
    assert "/scratch/torchinductor_appuser (uid 2000)" in got


def test_the_owner_rule_judges_the_cache_triton_home_names(tmp_path: Path) -> None:
    fr = _root(tmp_path, TRITON_HOME="/opt/triton")
    _dir(fr, "opt/triton/.triton/cache", 0, 0o755)
    (got,) = _owner_findings(fr)
    assert "/opt/triton/.triton/cache (uid 0)" in got
