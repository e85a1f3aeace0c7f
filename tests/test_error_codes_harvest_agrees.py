"""The error-code tables (src/tpdoctor/data/error_codes/*.yaml) and the classification the harvester writes them with
(tools/harvest_error_codes.py) must agree: a lesson written into the YAML alone is lost the next time the tables are
regenerated from the headers (cudaErrorInsufficientDriver's missing-GPU reading was, until the twenty-eighth session)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _harvester() -> ModuleType:
    spec = importlib.util.spec_from_file_location("harvest_error_codes", ROOT / "tools/harvest_error_codes.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(name: str) -> dict[str, dict]:  # type: ignore[type-arg]
    data = yaml.safe_load((ROOT / f"src/tpdoctor/data/error_codes/{name}.yaml").read_text(encoding="utf-8"))
    return {row["name"]: row for row in data["codes"]}


# harvester map, table file, the prefix its keys take in the table
MAPS = [("CUDA", "cuda", "cudaError"), ("CU_DRIVER", "cu_driver", "CUDA_ERROR_"), ("HIP", "hip", "hipError"),
        ("HSA", "hip", "HSA_STATUS_"), ("ZE", "ze", "ZE_RESULT_"), ("UR", "ze", "UR_RESULT_"), ("PI", "ze", "PI_")]


@pytest.mark.parametrize("attr,table,prefix", MAPS)
def test_the_harvester_classifies_each_code_as_the_table_does(attr: str, table: str, prefix: str) -> None:
    classes = getattr(_harvester(), attr)
    rows = _table(table)
    matched = 0
    for key, (cls, causes, _note) in classes.items():
        row = rows.get(prefix + key)
        if row is None:  # a name kept for another table's aliases (CUDA's NotInitialized for the driver's codes)
            continue
        matched += 1
        assert (row.get("class"), row.get("causes") or []) == (cls, causes), (prefix + key, row)
    # most of each map names codes of its own table: a wrong prefix would match none and prove nothing
    assert matched >= len(classes) * 0.8, (attr, matched, len(classes))
