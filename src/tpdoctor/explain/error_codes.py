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

import os
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
    legacy: int | None = None  # its number up to CUDA 10.0 (CUDA 7.5 driver_types.h), where it differs

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
            legacy=int(c["legacy_code"]) if c.get("legacy_code") is not None else None,
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


@lru_cache(maxsize=1)
def _by_legacy() -> dict[tuple[str, int], ErrorCode]:
    """cudaError_t numbers of CUDA <= 10.0 (THC's "cuda runtime error (30)", Caffe's "(10 vs. 0)")."""
    out: dict[tuple[str, int], ErrorCode] = {}
    for t in code_tables():
        for c in t.codes:
            if c.legacy is not None:
                out.setdefault((t.table, c.legacy), c)
    return out


@lru_cache(maxsize=1)
def _by_text() -> dict[tuple[str, str], ErrorCode]:
    """(table, name or printed string) -> code: what a format prints next to the number."""
    out: dict[tuple[str, str], ErrorCode] = {}
    for t in code_tables():
        for c in t.codes:
            out.setdefault((t.table, c.name), c)
            if c.string:
                out.setdefault((t.table, c.string.rstrip(".")), c)
    return out


# Tables whose numbers one print format shares: NCCL's "Cuda failure %d '%s'" is CUDACHECK's
# cudaError_t and CUCHECK's CUresult alike (NVIDIA/nccl src/include/checks.h), cuda-samples'
# "code=%d(%s)" prints cudaGetErrorName or cuGetErrorName (Common/helper_cuda.h check()).
_SIBLINGS = {"cuda": ("cuda", "cu_driver"), "cu_driver": ("cu_driver", "cuda"), "hip": ("hip", "cuda")}
# An ALLCAPS name that is no code of ours (CUBLAS_STATUS_NOT_INITIALIZED in helper_cuda.h's
# "code=%d(%s)"): the number is another library's status, not a CUDA error.
_OTHER_NAME = re.compile(r"^[A-Z][A-Z0-9]*_[A-Z0-9_]+$")


def code_string_of(groups: dict[str, str]) -> str:
    """The name or text a format prints next to the number (`code_string`, `code_string2`, ...)."""
    return next((v for k, v in groups.items() if k.rstrip("0123456789") == "code_string"), "")


def _number(group: str, value: str) -> int | None:
    """Level Zero codes are printed as 0x78000001, 78000001 (std::hex without a prefix) or 2013265921."""
    try:
        if group == "ze_code" and len(value) == 8 and not value.startswith("0x"):
            return int(value, 16)
        return int(value, 0)
    except ValueError:
        return None


def lookup_number(group: str, value: str, string: str = "") -> ErrorCode | None:
    """The code a `<table>_code` capture names, or the code a `code_name` capture spells. `string`
    is the name or text printed next to the number, when the format has one: it picks the table
    among those sharing the format, and a name of another library makes it no code of ours."""
    if group == "code_name":
        return by_name(value)
    table = NUMBER_GROUPS.get(group)
    number = _number(group, value) if table else None
    if table is None or number is None:
        return None
    string = string.strip().strip("'\"").rstrip(".")
    if group == "ur_code":
        return _by_number().get(("ur", number))
    siblings = _SIBLINGS.get(table, (table,))
    if string:
        for sibling in siblings:
            code = _by_number().get((sibling, number))
            if code is not None and string in (code.name, code.string.rstrip(".")):
                return code
        # the text names a code whose number differs: another CUDA version's numbering (legacy)
        for sibling in siblings:
            code = _by_text().get((sibling, string))
            if code is not None and number in (code.code, code.legacy):
                return code
        if _OTHER_NAME.match(string) and by_name(string) is None:
            return None
        # the text starts with another table's code name: c10's hipified warning keeps "cuda functions" in its
        # prose and prints "Error 101: hipErrorInvalidDevice (Triggered internally at ...)" (pytorch
        # c10/hip/HIPFunctions.cpp device_count_impl): the number is HIP's, not CUDA's
        named = by_name(string.split(" ", 1)[0])
        if named is not None and named.table not in siblings:
            return None
    return _by_number().get((table, number)) or _by_legacy().get((table, number))


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
# which users often paste alone. The CUDA samples (NVIDIA/cuda-samples Samples/0_Introduction/vectorAdd/
# vectorAdd.cu: "Failed to allocate device vector A (error code %s)!" with cudaGetErrorString, and the
# other checks of the samples in that form), which the GPU Operator's cuda-validator and the k8s
# "cuda-vector-add" test pod run, print the string after "(error code ".
_STRING_CONTEXT = {
    "cuda": r"(?:CUDA|CUDART|[Cc]uda|cudart|CUBLAS|NCCL WARN|\bError \d{1,4}: |\(error code )",
    "hip": r"(?:HIP|[Hh]ip|ROCm|RCCL|hipError)",
}
# A printed string alone on its line (users paste the last line of a traceback, or a wrapper prints
# the bare what(): pytorch torch/cuda/__init__.py set_device -> torch._C._cuda_setDevice raises
# "CUDA error: invalid device ordinal", pasted as "Invalid device ordinal") counts when a line
# nearby names the API: the traceback frames (torch/cuda/__init__.py, _cuda_setDevice, hip_runtime)
# or the c10 "Exception raised from c10_cuda_check_implementation at .../c10/cuda/CUDAException.cpp"
# line that follows the message. The scanner looks at NEAR_BEFORE lines above and NEAR_AFTER below.
NEAR_BEFORE = 6
NEAR_AFTER = 2
NEAR_CONTEXT = {
    "cuda": r"CUDA|[Cc]uda|cudart|CUBLAS|NCCL|nvidia",
    "hip": r"\bHIP\b|\bhip|_hip_|ROCm|\brocm|RCCL|hipError|\bhsa",
}
# The line then starts with the string (after an exception class or "error:"), and the string ends
# there or at punctuation or a location word: the text is the message, not a phrase in a sentence.
_NEAR_LINE = (
    r"^(?:[\w.]*(?:Error|Exception)\b:?\s*|[Ee]rror:\s*)?{string}"
    r"(?=\s*$|\s*[.,;:!?)\]'\"`(]|\s+(?:at|in|on|for|from|when|while)\b)"
)
# strerror(3) texts (glibc) are printed by every program for its own failed syscalls: a bare
# "Operation not permitted" is mkdir's or chown's as often as CUDA's, so it needs the API on its line.
_ERRNO_STRINGS = frozenset(os.strerror(n).lower() for n in range(1, 134))


def _string_regex(lit: str) -> str:
    """The string as printed, with either case for its first letter (a sentence start, a user's
    paste) and its trailing period optional (cudaErrorUnsupportedPtxVersion's string ends in one)."""
    body = lit.rstrip(".")
    first, rest = body[0], re.escape(body[1:])
    head = f"[{first.lower()}{first.upper()}]" if first.isalpha() else re.escape(first)
    return head + rest + (r"\.?" if body != lit else "")


def _string_literal_for_prefilter(lit: str) -> str:
    """The literal searched for: without a first letter whose case varies, and without a trailing
    period. Strings are at least _MIN_STRING long, so what is left stays distinctive."""
    body = lit.rstrip(".")
    return body[1:] if body[0].isalpha() else body


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
            text = _string_regex(lit)
            names_api = bool(re.search(ctx, lit))
            spec: dict[str, object] = {
                "id": f"code.{t.table}.{c.name}.string",
                "literals": [_string_literal_for_prefilter(lit)],
                # a string that names its API itself ("CUDA driver version is ...") needs no context
                "pattern": text if names_api else ctx + r".{0,120}?" + text,
                "causes": list(c.causes) if c.klass == "cause" else [],
                "strength": "suggests",
                "explain": f"{t.layer} error {c.describe()}",
                "source": t.source,
                "examples": [f"{'HIP' if t.table == 'hip' else 'CUDA'} error: {lit}"],
                "code": c,
            }
            if not names_api and lit.lower() not in _ERRNO_STRINGS:
                spec["near"] = _NEAR_LINE.replace("{string}", text)
                spec["context"] = NEAR_CONTEXT[t.table]
            specs.append(spec)
    return specs
