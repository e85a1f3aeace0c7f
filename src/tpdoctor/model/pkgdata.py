"""The package's own data files (data/), read by path.

importlib.resources costs 10-20 ms to import (zipfile, tempfile, pathlib, inspect) before the
first byte is read; tpdoctor is installed as files (a wheel unpacked into site-packages, or the
source tree), never run from a zip, so plain paths next to this module give the same files.
"""

from __future__ import annotations

import os

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


def data_path(rel: str) -> str:
    """data/<rel> as a filesystem path; rel uses '/'."""
    return os.path.join(DATA_DIR, *rel.split("/"))


def read_data(rel: str) -> str:
    with open(data_path(rel), encoding="utf-8") as f:
        return f.read()


def list_data(rel_dir: str, suffix: str) -> list[str]:
    """File names in data/<rel_dir> ending with `suffix`, sorted."""
    return sorted(n for n in os.listdir(data_path(rel_dir)) if n.endswith(suffix))
