from __future__ import annotations

from pathlib import Path

import pytest

# The shared corpus and research sit beside the checkout (../shared), in CI too.
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}: the corpus is required")
    return SHARED
