"""Plain dataclasses as data: JSON-ready dicts, copies, and validation of JSON from outside.

Facts, Finding and the deployment model are built by every command, thousands of times by a big
`audit`. As pydantic models they cost ~100-175 ms to import pydantic and ~90 ms to build the
classes before the first fact was read (bench/README.md). As dataclasses they cost ~10 ms, and
pydantic is imported only by `model_validate`: the snapshot reader (`check --from-snapshot`,
`--host-facts`, `--compare`, the examples) and test fixtures, where JSON from outside must be
checked field by field.

The method names are pydantic's (`model_dump(mode="json")`, `model_dump_json`, `model_copy`,
`model_validate`) and so is the output: field order, enums as their values, tuples as lists,
`model_dump_json()` compact, `model_dump_json(indent=2)` with ", " and ": " separators and
non-ASCII kept (tests/test_datamodel.py compares them with pydantic's own serializer).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from enum import Enum
from typing import Any, Literal, TypeVar

M = TypeVar("M", bound="DataModel")

# class -> its public field names, in declaration order (fields starting with "_" are caches)
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_ADAPTERS: dict[type, Any] = {}


# field(metadata=NOT_OUTPUT): working data that is not part of the output (Finding.edits)
NOT_OUTPUT: Mapping[str, Any] = {"output": False}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if not f.name.startswith("_") and f.metadata.get("output", True)
        )
    return names


def to_jsonable(value: Any) -> Any:
    """A dataclass tree as JSON-ready data, the shape pydantic's `model_dump(mode="json")` gives."""
    if isinstance(value, (str, int, bool)) or value is None:
        if isinstance(value, Enum):
            return value.value
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # pydantic writes inf and nan as null
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {(k.value if isinstance(k, Enum) else k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: to_jsonable(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, (set, frozenset)):
        return [to_jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None)  # a pydantic model inside (verify's results)
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"cannot serialize {type(value).__name__} to JSON")


def dumps(data: Any, indent: int | None = None) -> str:
    """JSON text as pydantic writes it: compact without indent, ", "/": " with it, UTF-8 kept."""
    if indent is None:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return json.dumps(data, ensure_ascii=False, indent=indent, allow_nan=False)


def validate(cls: type[M], data: Any) -> M:
    """Build `cls` from JSON-like data, checking every field's type (pydantic, imported here only).

    Raises pydantic.ValidationError on a wrong shape, as the pydantic models did."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    result: M = adapter.validate_python(data)
    return result


_HINTS: dict[type, dict[str, Any]] = {}


def build(cls: type[M], data: Mapping[str, Any]) -> M:
    """`cls` from JSON-shaped data that is ours and already valid (the packaged example
    snapshots), without pydantic: nested dataclasses by their annotations, ints widened to
    float where a float is declared (as pydantic does), everything else as given. Outside JSON
    goes through `validate`. tests/test_datamodel.py compares both on every example."""
    hints = _HINTS.get(cls)
    if hints is None:
        import typing

        hints = _HINTS[cls] = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    return cls(**{k: _build_value(hints[k], v) for k, v in data.items() if k in names})


def _build_value(hint: Any, value: Any) -> Any:
    import typing

    if value is None:
        return None
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            return build(hint, value)  # type: ignore[type-var]
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list and isinstance(value, list):
        return [_build_value(args[0], v) for v in value]
    if origin is dict and isinstance(value, Mapping):
        return {k: _build_value(args[1], v) for k, v in value.items()}
    if args and origin is not typing.Literal:  # X | None, Optional[X]
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return _build_value(members[0], value)
    return value


class DataModel:
    """Mixin for the model dataclasses: pydantic's serialization methods, without pydantic.

    The dataclasses are declared `repr=False, eq=False` and get `__repr__` and `__eq__` from here:
    generating both per class (two `exec`s each) was half of the ~30 classes' build time, which
    every command pays at import. Same behaviour as the generated ones: equal when the class and
    every field are equal; unhashable (as a non-frozen dataclass with eq)."""

    __slots__ = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in _field_names(type(self)))
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _field_names(type(self)))

    __hash__ = None  # type: ignore[assignment]

    def model_dump(self, mode: Literal["json"] = "json") -> dict[str, Any]:
        out: dict[str, Any] = to_jsonable(self)
        return out

    def model_dump_json(self, indent: int | None = None) -> str:
        return dumps(to_jsonable(self), indent)

    def model_copy(self: M, update: Mapping[str, Any] | None = None) -> M:
        """A shallow copy with some fields replaced (not validated, as in pydantic)."""
        return dataclasses.replace(self, **dict(update or {}))  # type: ignore[type-var]

    @classmethod
    def model_validate(cls: type[M], data: Any) -> M:
        return validate(cls, data)
