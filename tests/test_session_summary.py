"""tests/session_summary.py: a table built in a fixture reaches the end of the session's output in a one-process run
and under pytest-xdist (the README's `-n auto`), where the fixture runs in a worker whose own summary nobody sees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

CONFTEST = """
import sys
sys.path.insert(0, {tests!r})
import pytest
from session_summary import publish, pytest_terminal_summary, pytest_testnodedown  # noqa: F401  (as tests/conftest.py)


@pytest.fixture(scope="session")
def table(request):
    publish(request.config, "the planted table", ["row one | ok", "2 scenarios, 0 not matching"])
    return 2
"""

TEST = """
def test_uses_the_table(table):
    assert table == 2


def test_other():
    pass
"""


def _run(tmp_path: Path, *args: str) -> str:
    (tmp_path / "conftest.py").write_text(CONFTEST.format(tests=str(TESTS)))
    (tmp_path / "test_planted.py").write_text(TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), *args,
         str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_one_process_run_prints_the_table(tmp_path: Path) -> None:
    out = _run(tmp_path, "-p", "no:xdist")
    assert "the planted table" in out and "row one | ok" in out and "2 scenarios, 0 not matching" in out


def test_xdist_run_prints_the_table_a_worker_built(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    out = _run(tmp_path, "-n", "2")
    assert "2 passed" in out
    assert out.count("the planted table") == 1 and "row one | ok" in out, out
