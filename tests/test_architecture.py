"""docs/ARCHITECTURE.md's import direction is a test: the import-linter contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_layer_contracts_are_kept() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--no-cache",
        ],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout


def test_a_broken_layer_is_caught(tmp_path: Path) -> None:
    """The contract can fail: a copy of the package where model imports rules breaks it."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(REPO / "src" / "tpdoctor", src / "tpdoctor", ignore=shutil.ignore_patterns("data"))
    bad = src / "tpdoctor" / "model" / "options.py"
    bad.write_text(bad.read_text() + "\nimport tpdoctor.rules.registry  # noqa\n")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--no-cache",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "tpdoctor.model.options -> tpdoctor.rules.registry" in proc.stdout
