"""`check`'s fast path (no typer) and the typer path give the same output for the same argv."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli
from tpdoctor.cli.check_run import parse_fast

ARGVS = [
    ["--example", "article", "--tp", "2"],
    ["--example", "article", "--tp=2", "-f", "json"],
    ["--example", "article-fixed", "--format", "sarif", "--backend", "xpu"],
    ["--example", "pidfd", "--verbose", "--runtime", "compose"],
    ["--example", "podman-yama", "-r", "all", "--pp", "2"],
    ["--example", "article", "--oneccl-version", "2021.13", "--ipc-exchange", "pidfd"],
    ["--example", "article", "--oneccl-version", "14"],  # a usage error, one line
    ["--example", "list"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=[" ".join(a) for a in ARGVS])
def test_fast_path_matches_typer(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = run_cli("check", *argv, cwd=tmp_path)
    monkeypatch.setenv("TPDOCTOR_NO_FAST_PATH", "1")
    slow = run_cli("check", *argv, cwd=tmp_path)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)


def test_what_the_fast_path_leaves_to_typer() -> None:
    assert parse_fast(["--help"]) is None
    assert parse_fast(["--tp", "0"]) is None  # typer says why
    assert parse_fast(["--backend", "tpu"]) is None
    assert parse_fast(["--compare", "a.json", "b.json"]) is None
    assert parse_fast(["--tp", "2", "--tp", "4"]) is None
    assert parse_fast(["--tp"]) is None
    assert parse_fast(["-f", "json", "--tp", "8"]) == {
        "fmt": parse_fast(["-f", "json"])["fmt"],
        "tp": 8,
        "verbose": False,
    }  # type: ignore[index]


def test_the_fast_path_imports_neither_typer_nor_rich(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    code = (
        "import sys, runpy; sys.argv = ['tpdoctor', 'check', '--example', 'article', '-f', 'json'];\n"
        "try: runpy.run_module('tpdoctor', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')), file=sys.stderr)"
    )
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert "LOADED []" in r.stderr, r.stderr[-500:]
