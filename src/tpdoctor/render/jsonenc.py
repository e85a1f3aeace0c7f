"""json.dumps(obj, indent=2, default=str) for report data, byte for byte, several times faster.

With `indent`, the standard library encodes in pure Python (its C encoder has no indentation):
0.3 s of CPU for the 190k-line JSON of a 500-service audit. This encoder joins strings instead of
yielding pieces, escapes with the C `encode_basestring_ascii`, and reads the model dataclasses
directly (as `model_dump(mode="json")` would give them), encoding each shared frozen object (the
memoized `Fix`es that thousands of findings carry) once per indentation level.
tests/test_render_json.py compares it with json.dumps on real reports.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from enum import Enum
from json.encoder import encode_basestring_ascii
from typing import Any

from tpdoctor.model.datamodel import _field_names
from tpdoctor.redact import redact_str

# Every string is redacted before it is escaped: the output stream's redactor sees JSON, where a quote is `\\"`, and
# missed `password=\\"x\\"` in a quoted log line (gsafe42).

_INDENT = "  "


def _float(o: float) -> str:
    # json's floatstr with allow_nan=True
    if o != o:
        return "NaN"
    if o == math.inf:
        return "Infinity"
    if o == -math.inf:
        return "-Infinity"
    return float.__repr__(o)


def _key(k: Any) -> str:
    # json.dumps' key coercion (skipkeys=False)
    if isinstance(k, str):
        return str(encode_basestring_ascii(redact_str(k)))
    if k is True:
        return '"true"'
    if k is False:
        return '"false"'
    if k is None:
        return '"null"'
    if isinstance(k, float):
        return f'"{_float(k)}"'
    if isinstance(k, int):
        return f'"{int.__repr__(k)}"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


class IndentEncoder:
    def __init__(self) -> None:
        self._memo: dict[tuple[int, int], str] = {}
        self._keep: list[Any] = []  # memoized objects stay alive, so their ids stay theirs

    def encode(self, o: Any, level: int = 0, model: bool = False) -> str:
        """`model`: inside a model dataclass, where non-finite floats are null (as to_jsonable)."""
        if isinstance(o, str):
            return str(encode_basestring_ascii(redact_str(o.value if isinstance(o, Enum) else o)))
        if o is None:
            return "null"
        if o is True:
            return "true"
        if o is False:
            return "false"
        if isinstance(o, int):
            return int.__repr__(o.value if isinstance(o, Enum) else o)
        if isinstance(o, float):
            if model and not math.isfinite(o):
                return "null"
            return _float(o)
        if isinstance(o, (list, tuple)):
            if not o:
                return "[]"
            inner = "\n" + _INDENT * (level + 1)
            return (
                "["
                + inner
                + ("," + inner).join([self.encode(v, level + 1, model) for v in o])
                + "\n"
                + _INDENT * level
                + "]"
            )
        if isinstance(o, dict):
            if not o:
                return "{}"
            inner = "\n" + _INDENT * (level + 1)
            parts = [_key(k) + ": " + self.encode(v, level + 1, model) for k, v in o.items()]
            return "{" + inner + ("," + inner).join(parts) + "\n" + _INDENT * level + "}"
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            frozen = o.__dataclass_params__.frozen  # type: ignore[attr-defined]
            if frozen:
                hit = self._memo.get((id(o), level))
                if hit is not None:
                    return hit
            names = _field_names(type(o))
            text = self.encode({n: getattr(o, n) for n in names}, level, True)
            if frozen:
                self._memo[(id(o), level)] = text
                self._keep.append(o)
            return text
        if isinstance(o, Enum) and model:  # to_jsonable writes an enum's value; json.dumps str(enum)
            return self.encode(o.value, level, model)
        if isinstance(o, Mapping) and model:  # to_jsonable writes any mapping as a dict
            return self.encode(dict(o), level, model)
        if isinstance(o, (set, frozenset)) and model:
            return self.encode(list(o), level, model)
        dump = getattr(o, "model_dump", None)
        if model and callable(dump):
            return self.encode(dump(mode="json"), level, model)
        return str(encode_basestring_ascii(redact_str(str(o))))  # default=str


def dumps_indent2(obj: Any) -> str:
    """json.dumps(obj, indent=2, default=str), with model dataclasses encoded as their JSON dicts."""
    return IndentEncoder().encode(obj)
