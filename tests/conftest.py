from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

# the session's tables (container matrix, real oneCCL) printed at its end, under pytest-xdist too
from session_summary import pytest_terminal_summary, pytest_testnodedown  # noqa: F401

# explain caches compiled Hyperscan databases (explain/hs_cache.py); the tests keep theirs out of ~/.cache.
if "TPDOCTOR_CACHE_DIR" not in os.environ:
    _cache = tempfile.TemporaryDirectory(prefix="tpdoctor-test-cache-")  # removed when the session exits
    os.environ["TPDOCTOR_CACHE_DIR"] = _cache.name

# The shared corpus and research sit beside the checkout (../shared), in CI too.
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}: the corpus is required")
    return SHARED


def run_cli(
    *args: str, input: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m tpdoctor ARGS` against this checkout's src/ (not an installed copy)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "tpdoctor", *args],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=cwd,
    )
