"""Whole error-code tables (CUDA runtime and driver, HIP/HSA, Level Zero/Unified Runtime) as data.

Every code in data/error_codes/*.yaml is classified (tools/harvest_error_codes.py writes them from
the upstream headers): `cause` names container/host cause ids, `not-container` is a program, model
or hardware error, `unknown` can be either and carries what the code means. A code named in a log
by name (cudaErrorNoDevice, CUDA_ERROR_SYSTEM_NOT_READY, UR_RESULT_ERROR_DEVICE_LOST), by its
printed string (CUDA error: invalid device ordinal) or by number (Cuda failure 217, cuInit err: 802)
is therefore never unexplained.

Name and string forms become ordinary signatures (one literal each, so the prefilter keeps them
cheap); numbers are captured by the `code.*-number` signatures of signatures.yaml into `<table>_code`
groups and looked up here after the scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from tpdoctor.model.yamldata import load_data_yaml

TABLES = ("cuda", "cu_driver", "hip", "ze")
CLASSES = ("cause", "not-container", "unknown")
# Strings too generic to be a signature on their own ("out of memory" is also Python's MemoryError
# text): they are still explained when the name or the number is in the line.
_MIN_STRING = 18
_GENERIC_STRINGS = frozenset({"unknown error", "invalid argument", "initialization error", "operation not supported"})
# Number captures of signatures.yaml: group name -> table
NUMBER_GROUPS = {"cuda_code": "cuda", "cu_code": "cu_driver", "hip_code": "hip", "ze_code": "ze", "ur_code": "ze"}


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
    text = resources.files("tpdoctor").joinpath(f"data/error_codes/{table}.yaml").read_text(encoding="utf-8")
    raw = load_data_yaml(text) or {}
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
    """The code a `<table>_code` capture names; Level Zero codes may be printed in hex."""
    table = NUMBER_GROUPS.get(group)
    if table is None:
        return None
    try:
        number = int(value, 0)
    except ValueError:
        return None
    api = "ur" if group == "ur_code" else table
    return _by_number().get((api, number))


def by_name(name: str) -> ErrorCode | None:
    for t in code_tables():
        for c in t.codes:
            if c.name == name:
                return c
    return None


def string_literal(c: ErrorCode) -> str | None:
    """The printed string when it is distinctive enough to search for alone."""
    s = c.string
    if not s or len(s) < _MIN_STRING or s in _GENERIC_STRINGS:
        return None
    return s


_STRING_CONTEXT = {
    "cuda": r"(?:CUDA|CUDART|[Cc]uda|cudart|CUBLAS|NCCL WARN)",
    "hip": r"(?:HIP|[Hh]ip|ROCm|RCCL|hipError)",
}


def signature_specs() -> list[dict[str, object]]:
    """Signature entries (the signatures.yaml shape) for every code's name and distinctive string."""
    specs: list[dict[str, object]] = []
    strings_done: set[tuple[str, str]] = set()
    for t in code_tables():
        for c in t.codes:
            causes = list(c.causes) if c.klass == "cause" else []
            base = {
                "causes": causes,
                "strength": "suggests",
                "explain": f"{t.layer} error {c.describe()}",
                "source": t.source,
                "code": c,
            }
            specs.append(
                base
                | {
                    "id": f"code.{t.table}.{c.name}",
                    "literals": [c.name],
                    "pattern": r"(?<![A-Za-z0-9_])" + re.escape(c.name) + r"(?![A-Za-z0-9_])",
                    "examples": [f"RuntimeError: {c.name}"],
                }
            )
            lit = string_literal(c)
            ctx = _STRING_CONTEXT.get(t.table)
            if lit and ctx and (t.table, lit) not in strings_done:
                strings_done.add((t.table, lit))
                specs.append(
                    base
                    | {
                        "id": f"code.{t.table}.{c.name}.string",
                        "literals": [lit],
                        # a string that names its API itself ("CUDA driver version is ...") needs no context
                        "pattern": re.escape(lit) if re.match(ctx, lit) or re.search(ctx, lit) else ctx + r".{0,120}?" + re.escape(lit),
                        "examples": [f"{'HIP' if t.table == 'hip' else 'CUDA'} error: {lit}"],
                    }
                )
    return specs
