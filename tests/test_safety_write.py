"""Issue #11, defects 1-3: the one safe writer (tpdoctor.safewrite) behind audit/explain --write.

Each test plants what a hostile or careless environment holds next to the user's file and checks
what is on disk afterwards: the link target, owners, modes, bytes of the file and its backup.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli

DATA = Path(__file__).parent / "data" / "deploy"
ARTICLE = (DATA / "article-compose.yaml").read_bytes()
BAK = ".tpdoctor.bak"


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    p = tmp_path / "c.yaml"
    p.write_bytes(ARTICLE)
    return p


def test_planted_backup_symlink_is_never_followed(cfg: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / ("c.yaml" + BAK)).symlink_to(victim)
    r = run_cli("audit", "--write", str(cfg))
    assert r.returncode in (0, 3, 4), r.stderr
    assert victim.read_text() == "precious\n"
    bak = tmp_path / ("c.yaml" + BAK)
    assert not bak.is_symlink() and bak.read_bytes() == ARTICLE


def test_same_file_twice_is_refused(cfg: Path, tmp_path: Path) -> None:
    r = run_cli("audit", "--write", str(cfg), str(tmp_path / "." / "c.yaml"))
    assert r.returncode == 2 and "same file" in r.stderr, r.stderr
    assert cfg.read_bytes() == ARTICLE


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_owner_mode_and_backup_mode_are_kept(cfg: Path, tmp_path: Path) -> None:
    os.chown(cfg, 1000, 1000)
    os.chmod(cfg, 0o600)
    r = run_cli("audit", "--write", str(cfg))
    assert r.returncode in (0, 3, 4), r.stderr
    for p in (cfg, tmp_path / ("c.yaml" + BAK)):
        st = os.stat(p)
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o600), p
    assert cfg.read_bytes() != ARTICLE


def test_xattrs_are_kept(cfg: Path) -> None:
    try:
        os.setxattr(cfg, "user.tpdoctor-test", b"kept")
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    assert run_cli("audit", "--write", str(cfg)).returncode in (0, 3, 4)
    assert os.getxattr(cfg, "user.tpdoctor-test") == b"kept"


def test_symlinked_config_is_refused_and_target_untouched(cfg: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.yaml"
    link.symlink_to(cfg)
    r = run_cli("audit", "--write", str(link))
    assert r.returncode == 2 and "symbolic link" in r.stderr and str(cfg) in r.stderr, r.stderr
    assert link.is_symlink() and cfg.read_bytes() == ARTICLE
    # --fix (read-only) still works through the link
    assert run_cli("audit", "--fix", str(link)).returncode in (0, 3, 4)


def test_read_only_file_is_refused(cfg: Path) -> None:
    os.chmod(cfg, 0o444)
    r = run_cli("audit", "--write", str(cfg))
    assert r.returncode == 2 and "read-only" in r.stderr, r.stderr
    assert cfg.read_bytes() == ARTICLE


def test_crlf_and_bom_are_kept(tmp_path: Path) -> None:
    p = tmp_path / "w.yaml"
    p.write_bytes(b"\xef\xbb\xbf" + ARTICLE.replace(b"\n", b"\r\n"))
    fix = run_cli("audit", "--fix", str(p))
    minus = [ln for ln in fix.stdout.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    assert len(minus) < 5, fix.stdout  # only the changed lines, not every line
    assert run_cli("audit", "--write", str(p)).returncode in (0, 3, 4)
    data = p.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\n") == data.count(b"\r\n") > 5
    assert b"privileged: true" not in data


def test_refuses_a_file_changed_since_it_was_read(cfg: Path) -> None:
    from tpdoctor.deploy.audit import load, write_fix
    from tpdoctor.deploy.fix import fix_loaded
    from tpdoctor.errors import InputError

    loaded = load(cfg)
    new = fix_loaded(loaded, None).text
    cfg.write_bytes(ARTICLE + b"# edited by someone else\n")
    with pytest.raises(InputError, match="changed since"):
        write_fix(loaded, new)
    assert cfg.read_bytes().endswith(b"# edited by someone else\n")


def test_stale_temp_files_are_cleaned_on_the_next_run(cfg: Path, tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".c.yaml.tpdoctor-tmp-{dead.pid}-0123abcd"
    stale.write_text("half")
    assert run_cli("audit", "--write", str(cfg)).returncode in (0, 3, 4)
    assert not stale.exists()
    assert not [p for p in tmp_path.iterdir() if ".tpdoctor-tmp-" in p.name]


def test_backup_is_from_the_parsed_bytes(cfg: Path) -> None:
    from tpdoctor.deploy.audit import load, write_fix
    from tpdoctor.deploy.fix import fix_loaded

    loaded = load(cfg)
    backup = write_fix(loaded, fix_loaded(loaded, None).text)
    assert backup.read_bytes() == ARTICLE


def test_unwritable_directory_is_exit_2_not_a_traceback(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EROFS/EACCES/ENOSPC creating the temp file: one InputError line (exit 2), file untouched."""
    import errno

    from tpdoctor import safewrite
    from tpdoctor.deploy.audit import load, write_fix
    from tpdoctor.deploy.fix import fix_loaded
    from tpdoctor.errors import InputError

    loaded = load(cfg)
    real_open = os.open

    def ro_open(path, flags, *a, **k):  # type: ignore[no-untyped-def]
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(safewrite.os, "open", ro_open)
    with pytest.raises(InputError, match="Read-only file system"):
        write_fix(loaded, fix_loaded(loaded, None).text)
    assert cfg.read_bytes() == ARTICLE


def _recovered(cfg: Path) -> bytes:
    """What a user gets back: the file if it is still the original, else its backup."""
    bak = cfg.with_name(cfg.name + BAK)
    data = cfg.read_bytes()
    if data == ARTICLE:
        return data
    assert b"privileged: true" not in data  # a fixed file, never a torn one
    return bak.read_bytes()


def test_kill_9_at_any_point_leaves_the_original_recoverable(tmp_path: Path) -> None:
    """SIGKILL the writer after a growing delay, 30 times: the original is always recoverable."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    code = (
        "import sys; from pathlib import Path\n"
        "from tpdoctor.deploy.audit import load, write_fix\n"
        "from tpdoctor.deploy.fix import fix_loaded\n"
        "p = Path(sys.argv[1]); loaded = load(p)\n"
        "print('ready', flush=True)\n"
        "write_fix(loaded, fix_loaded(loaded, None).text)\n"
    )
    for i in range(30):
        d = tmp_path / f"k{i}"
        d.mkdir()
        cfg = d / "c.yaml"
        cfg.write_bytes(ARTICLE)
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(cfg)], env=env, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(i * 0.0005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _recovered(cfg) == ARTICLE, i
        # the next run cleans what the killed one left and still works
        assert run_cli("audit", "--write", str(cfg)).returncode in (0, 3, 4) if i % 10 == 0 else True
        if i % 10 == 0:
            assert not [p for p in d.iterdir() if ".tpdoctor-tmp-" in p.name]


def test_concurrent_writers_never_lose_the_original(tmp_path: Path) -> None:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    for i in range(4):
        d = tmp_path / f"c{i}"
        d.mkdir()
        cfg = d / "c.yaml"
        cfg.write_bytes(ARTICLE)
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tpdoctor", "audit", "--write", str(cfg)],
                env=env,
                stderr=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                text=True,
            )
            for _ in range(3)
        ]
        results = [(p.wait(), p.stderr.read() if p.stderr else "") for p in procs]
        assert all(rc in (0, 2, 3, 4) for rc, _ in results), results
        assert all("Traceback" not in err for _, err in results)
        assert (d / ("c.yaml" + BAK)).read_bytes() == ARTICLE, results
        assert b"privileged: true" not in cfg.read_bytes()
