"""Issue 13, gnew47: check's fs.jit-cache-other-owner rule (rules/jit_cache.py) and its collector (facts/jit_cache.py).

The directories are the ones the libraries pick, read in their released wheels: TorchInductor's
`tempfile.gettempdir() + "/torchinductor_" + getpass.getuser()` (torch 2.0.0 _inductor/codecache.py, 2.5.1
_inductor/runtime/runtime_utils.py default_cache_dir), torch's extension root `tempfile.gettempdir()/torch_extensions`
(torch/utils/cpp_extension.py get_default_build_root, 1.4.0 and 1.5.1; ~/.cache/torch_extensions from 1.6.0) and Triton
1.x's `os.environ.get('TRITON_CACHE_DIR', '/tmp/triton/')` (triton 1.1.1 code_gen.py; $HOME/.triton/cache from 2.0.0).
The fake roots are built as root, so owners are real chown()s."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.rules.registry import run_fact_rules

_ID = "fs.jit-cache-other-owner"
_SITE = "usr/local/lib/python3.10/dist-packages"


def _root(tmp_path: Path, *, uid: int = 1000, gid: int = 1000, **env: str) -> FakeRoot:
    fr = FakeRoot(tmp_path)
    fr.dockerenv()
    fr.add_nvidia(2)
    fr.set_status(uid=uid, gid=gid, groups=[gid])
    fr.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nappuser:x:1000:1000::/home/appuser:/bin/sh\n")
    fr.set_env(HOME="/home/appuser", PATH="/usr/local/bin:/usr/bin:/bin", **env)
    return fr


def _dir(fr: FakeRoot, inroot: str, uid: int, gid: int, mode: int) -> None:
    p = fr.path(inroot)
    p.mkdir(parents=True, exist_ok=True)
    os.chown(p, uid, gid)
    os.chmod(p, mode)


def _dist(fr: FakeRoot, name: str) -> None:
    fr.write(f"{_SITE}/{name}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name.split('-')[0]}\n")


def _collect(fr: FakeRoot) -> Facts:
    return collect_facts(fr.root, dict(fr.env), live=False)


def _found(facts: Facts, options: CheckOptions | None = None) -> list:
    return [f for f in run_fact_rules(facts, options or CheckOptions(tp=2)) if f.cause == _ID]


def test_an_inductor_cache_made_by_root_under_the_name_the_user_variable_gives(tmp_path: Path) -> None:
    """USER=root left in the image's environment, the job runs as uid 1000: getpass.getuser() says root, and the
    /tmp/torchinductor_root an earlier root run made (0755) is not this user's."""
    fr = _root(tmp_path, USER="root")
    _dir(fr, "tmp/torchinductor_root", 0, 0, 0o755)
    facts = _collect(fr)
    assert [c.path for c in facts.jit_caches] == ["/tmp/torchinductor_root"]
    got = _found(facts)
    assert len(got) == 1, got
    f = got[0]
    assert f.severity.value == "degraded" and f.confidence == "suggests"
    assert "/tmp/torchinductor_root" in f.message and "uid 1000" in f.message
    assert f.fixes and f.fixes[0].id == "per-user-jit-cache"


def test_the_user_name_comes_from_passwd_and_the_temp_dir_from_tmpdir(tmp_path: Path) -> None:
    fr = _root(tmp_path, TMPDIR="/scratch")
    _dir(fr, "scratch", 0, 0, 0o1777)
    _dir(fr, "scratch/torchinductor_appuser", 2000, 2000, 0o700)
    _dir(fr, "tmp/torchinductor_appuser", 1000, 1000, 0o755)  # this user's: not read, TMPDIR wins
    got = _found(_collect(fr))
    assert len(got) == 1 and "/scratch/torchinductor_appuser (uid 2000)" in got[0].message, got


def test_a_variable_naming_a_directory_root_owns_is_a_blocker(tmp_path: Path) -> None:
    fr = _root(tmp_path, TRITON_CACHE_DIR="/cache/triton", TORCH_EXTENSIONS_DIR="/cache/ext")
    _dir(fr, "cache/triton", 0, 0, 0o755)
    _dir(fr, "cache/ext", 0, 1000, 0o775)  # group-writable for the job's group: fine
    got = _found(_collect(fr))
    assert len(got) == 1, got
    f = got[0]
    assert f.severity.value == "blocker" and f.confidence == "proves"
    assert "/cache/triton" in f.message and "/cache/ext" not in f.message


def test_old_temp_dir_defaults_count_only_beside_the_releases_that_use_them(tmp_path: Path) -> None:
    old = _root(tmp_path / "old")
    _dir(old, "tmp/torch_extensions", 0, 0, 0o755)
    _dir(old, "tmp/triton", 0, 0, 0o755)
    _dist(old, "torch-1.5.1")
    _dist(old, "triton-1.1.1")
    got = _found(_collect(old))
    assert len(got) == 1 and "/tmp/torch_extensions" in got[0].message and "/tmp/triton" in got[0].message, got
    new = _root(tmp_path / "new")
    _dir(new, "tmp/torch_extensions", 0, 0, 0o755)
    _dir(new, "tmp/triton", 0, 0, 0o755)
    _dist(new, "torch-2.5.1")
    _dist(new, "triton-3.1.0")
    facts = _collect(new)
    assert facts.jit_caches == [] and _found(facts) == []


def test_writable_or_own_or_root_or_absent_directories_are_clean(tmp_path: Path) -> None:
    # the guard: the same root with the directory 0755 and another owner fires
    fr = _root(tmp_path / "g", USER="root")
    _dir(fr, "tmp/torchinductor_root", 0, 0, 0o755)
    assert _found(_collect(fr))
    # world-writable (1777), the job's own, root running the job, no directory at all
    fr = _root(tmp_path / "a", USER="root")
    _dir(fr, "tmp/torchinductor_root", 0, 0, 0o1777)
    assert _found(_collect(fr)) == []
    fr = _root(tmp_path / "b")
    _dir(fr, "tmp/torchinductor_appuser", 1000, 1000, 0o755)
    assert _found(_collect(fr)) == []
    fr = _root(tmp_path / "c", uid=0, gid=0, USER="root")
    _dir(fr, "tmp/torchinductor_root", 1000, 1000, 0o700)
    assert _found(_collect(fr)) == []
    fr = _root(tmp_path / "d")
    facts = _collect(fr)
    assert facts.jit_caches == [] and _found(facts) == []
    # a HOME-based default (Triton 2+'s ~/.triton/cache) is not this rule's
    fr = _root(tmp_path / "e")
    _dir(fr, "home/appuser/.triton/cache", 0, 0, 0o755)
    assert _found(_collect(fr)) == []


def test_the_fact_survives_a_snapshot(tmp_path: Path) -> None:
    fr = _root(tmp_path, USER="root")
    _dir(fr, "tmp/torchinductor_root", 0, 0, 0o755)
    facts = _collect(fr)
    again = Facts.model_validate(json.loads(facts.model_dump_json()))
    assert [(c.path, c.uid, c.mode, c.writable) for c in again.jit_caches] == [("/tmp/torchinductor_root", 0, 0o755, False)]
    assert len(_found(again)) == 1
