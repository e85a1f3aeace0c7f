"""Whole error-code tables (CUDA runtime and driver, HIP/HSA, Level Zero/Unified Runtime) as data.

Every code in data/error_codes/*.yaml is classified (tools/harvest_error_codes.py writes them from
the upstream headers): `cause` names container/host cause ids, `not-container` is a program, model
or hardware error, `unknown` can be either and carries what the code means. A code named in a log
by name (cudaErrorNoDevice, CUDA_ERROR_SYSTEM_NOT_READY, UR_RESULT_ERROR_DEVICE_LOST), by its
printed string (CUDA error: invalid device ordinal) or by number (Cuda failure 217, cuInit err: 802)
is therefore never unexplained.

Names are found with one signature per table whose literal is the common prefix (`cudaError`,
`CUDA_ERROR_`, `hipError`, `HSA_STATUS_`, `ZE_RESULT_`, `UR_RESULT_`, `PI_ERROR_`): seven literals
instead of one per code keep the prefilter database small. Distinctive printed strings are one
signature each. Numbers are captured by the `code.*-number` signatures of signatures.yaml into
`<table>_code` groups. Names and numbers are looked up here after the scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tpdoctor.model.pkgdata import read_data
from tpdoctor.model.yamldata import load_data_yaml

TABLES = ("cuda", "cu_driver", "hip", "ze")
CLASSES = ("cause", "not-container", "unknown")
# Strings too generic to be a signature on their own ("out of memory" is also Python's MemoryError
# text): they are still explained when the name or the number is in the line.
_MIN_STRING = 18
_GENERIC_STRINGS = frozenset(
    {"unknown error", "invalid argument", "initialization error", "operation not supported"}
)
# Number captures of signatures.yaml: group name -> table
NUMBER_GROUPS = {
    "cuda_code": "cuda",
    "cu_code": "cu_driver",
    "hip_code": "hip",
    "ze_code": "ze",
    "ur_code": "ze",
    "code_name": "",
}
# Name prefixes per table (the literal of the table's name signature)
NAME_PREFIXES = {
    "cuda": ("cudaError",),
    "cu_driver": ("CUDA_ERROR_",),
    "hip": ("hipError", "HSA_STATUS_"),
    "ze": ("ZE_RESULT_", "UR_RESULT_", "PI_ERROR_"),  # PI: SYCL before Unified Runtime
}


@dataclass(frozen=True)
class ErrorCode:
    table: str
    layer: str
    name: str
    code: int
    string: str
    meaning: str
    klass: str
    causes: tuple[str, ...]
    api: str = ""

    def describe(self) -> str:
        text = f"{self.name} ({self.code}"
        text += f": {self.string})" if self.string else ")"
        return f"{text} — {self.meaning}"


@dataclass(frozen=True)
class CodeTable:
    table: str
    layer: str
    title: str
    source: str
    codes: tuple[ErrorCode, ...]


def _load(table: str) -> CodeTable:
    text = read_data(f"error_codes/{table}.yaml")
    raw = load_data_yaml(text, f"error_codes/{table}.yaml") or {}
    codes = tuple(
        ErrorCode(
            table=table,
            layer=str(raw["layer"]),
            name=str(c["name"]),
            code=int(c["code"]),
            string=str(c.get("string", "")),
            meaning=str(c.get("meaning", "")),
            klass=str(c["class"]),
            causes=tuple(c.get("causes") or ()),
            api=str(c.get("api", "")),
        )
        for c in raw.get("codes") or []
    )
    return CodeTable(table, str(raw["layer"]), str(raw["title"]), str(raw["source"]), codes)


@lru_cache(maxsize=1)
def code_tables() -> tuple[CodeTable, ...]:
    return tuple(_load(t) for t in TABLES)


@lru_cache(maxsize=1)
def _by_number() -> dict[tuple[str, int], ErrorCode]:
    out: dict[tuple[str, int], ErrorCode] = {}
    for t in code_tables():
        for c in t.codes:
            api = c.api or ("hsa" if c.name.startswith("HSA_") else t.table)
            out.setdefault((api, c.code), c)
    return out


def lookup_number(group: str, value: str) -> ErrorCode | None:
    """The code a `<table>_code` capture names (Level Zero codes may be printed in hex), or the
    code a `code_name` capture spells."""
    if group == "code_name":
        return by_name(value)
    table = NUMBER_GROUPS.get(group)
    if not table:
        return None
    try:
        number = int(value, 0)
    except ValueError:
        return None
    api = "ur" if group == "ur_code" else table
    return _by_number().get((api, number))


@lru_cache(maxsize=1)
def _names() -> dict[str, ErrorCode]:
    return {c.name: c for t in code_tables() for c in t.codes}


def by_name(name: str) -> ErrorCode | None:
    return _names().get(name)


def string_literal(c: ErrorCode) -> str | None:
    """The printed string when it is distinctive enough to search for alone."""
    s = c.string
    if not s or len(s) < _MIN_STRING or s in _GENERIC_STRINGS:
        return None
    return s


# What must precede a printed string for it to count as that API's: a word naming the API, or the
# "Error N: " that c10 prints before cudaGetErrorString (pytorch c10/cuda/CUDAFunctions.cpp
# device_count_impl: "... Error 804: forward compatibility was attempted on non supported HW", v1.9-v2.x),
# which users often paste alone.
_STRING_CONTEXT = {
    "cuda": r"(?:CUDA|CUDART|[Cc]uda|cudart|CUBLAS|NCCL WARN|\bError \d{1,4}: )",
    "hip": r"(?:HIP|[Hh]ip|ROCm|RCCL|hipError)",
}


def signature_specs() -> list[dict[str, object]]:
    """Signature entries (the signatures.yaml shape): one name signature per table, and one per
    distinctive printed string (those carry the code and its causes)."""
    specs: list[dict[str, object]] = []
    strings_done: set[tuple[str, str]] = set()
    for t in code_tables():
        prefixes = NAME_PREFIXES[t.table]
        specs.append(
            {
                "id": f"code.{t.table}.name",
                "literals": list(prefixes),
                "pattern": r"(?<![A-Za-z0-9_])(?P<code_name>(?:" + "|".join(prefixes) + r")\w*)",
                "causes": [],
                "strength": "suggests",
                "explain": f"A {t.title} name; its meaning and class come from data/error_codes/{t.table}.yaml.",
                "source": t.source,
                "examples": [f"RuntimeError: {c.name}" for c in t.codes[:: max(1, len(t.codes) // 4)]],
            }
        )
        ctx = _STRING_CONTEXT.get(t.table)
        for c in t.codes:
            lit = string_literal(c)
            if not lit or not ctx or (t.table, lit) in strings_done:
                continue
            strings_done.add((t.table, lit))
            specs.append(
                {
                    "id": f"code.{t.table}.{c.name}.string",
                    "literals": [lit],
                    # a string that names its API itself ("CUDA driver version is ...") needs no context
                    "pattern": re.escape(lit) if re.search(ctx, lit) else ctx + r".{0,120}?" + re.escape(lit),
                    "causes": list(c.causes) if c.klass == "cause" else [],
                    "strength": "suggests",
                    "explain": f"{t.layer} error {c.describe()}",
                    "source": t.source,
                    "examples": [f"{'HIP' if t.table == 'hip' else 'CUDA'} error: {lit}"],
                    "code": c,
                }
            )
    return specs
