"""A read-only YAML load for `audit` without `--fix`: libyaml's C parser, ruamel's tree.

ruamel.yaml's round-trip loader is pure Python and gathers every comment: 0.55 s of CPU for a
500-service compose file, more than everything else `audit` does. When nothing will be written
back, the comments and formatting are not needed, only what the frontends read: the values,
typed as the round-trip loader types them, and the line/column of every key and item (evidence
lines, `# tpdoctor: allow` spans). This module builds exactly that tree from libyaml's events
(PyYAML's CParser) in a fraction of the time: CommentedMap/CommentedSeq with `lc` set as
ruamel's RoundTripConstructor sets it (ruamel.yaml 0.19.1, constructor.py:1190-1230 and
1300-1400), quoted and block scalars as ruamel's ScalarString classes (preserve_quotes, as
`deploy.io.rt_yaml`), plain scalars resolved by YAML 1.2's rules as ruamel's VersionedResolver
does (resolver.py:25-91).

Whatever it does not reproduce exactly returns None, and the caller uses the round-trip loader:
anchors and aliases (merge keys), explicit tags, %YAML/%TAG directives, duplicate keys (ruamel's
error), non-string keys other than plain scalars, floats, timestamps and ints in any form but
plain decimal (ruamel keeps their spelling in ScalarFloat/ScalarInt), and any text libyaml
refuses (ruamel's message is the one users see). tests/test_yamlread.py compares both trees,
types and positions included, on every YAML file of the tests and the corpus.
"""

from __future__ import annotations

import re
from typing import Any

# ruamel.yaml 0.19.1 resolver.py:25-91, the YAML 1.2 entries (version (1, 2), its default)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_INT_DIGITS = re.compile(r"^[-+]?[0-9]+$")  # ints without 0b/0o/0x or underscores: reproduced exactly
_OTHER_TYPED = re.compile(
    r"""^(?:
     [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN)
    |[-+]?0b[0-1_]+
    |[-+]?0o?[0-7_]+
    |[-+]?[0-9_]+
    |[-+]?0x[0-9a-fA-F_]+
    |<<
    |=
    |[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
    |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
     (?:[Tt]|[ \t]+)[0-9][0-9]?
     :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
     (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?
    )$""",
    re.X,
)


class _Unsupported(Exception):
    """A construct this loader does not reproduce exactly: use the round-trip loader."""


def _plain(value: str) -> Any:
    if value in _NULL:
        return None
    first = value[0]
    if first in "tTfF" and _BOOL.match(value):
        return value in ("true", "True", "TRUE")
    if first in "-+0123456789.<=":
        if _INT_DIGITS.match(value):
            # constructor.py:1006-1110 for these: a leading zero keeps its width in a ScalarInt
            sign = -1 if value[0] == "-" else 1
            digits = value.lstrip("+-")
            if digits[0] == "0":
                from ruamel.yaml.scalarint import ScalarInt

                return ScalarInt(sign * int(digits), width=len(digits), underscore=None)
            return sign * int(digits)
        if _OTHER_TYPED.match(value):
            raise _Unsupported(value)
    return value


def load_plain(text: str) -> list[Any] | None:
    """Every document of `text` as the round-trip loader reads it, without comments; None when
    this loader cannot promise the same tree."""
    try:
        import yaml
        from yaml._yaml import CParser  # libyaml; the pure-Python PyYAML parser is no faster
    except (ImportError, AttributeError):
        return None
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import (
        DoubleQuotedScalarString,
        FoldedScalarString,
        LiteralScalarString,
        SingleQuotedScalarString,
    )

    styled = {
        "'": SingleQuotedScalarString,
        '"': DoubleQuotedScalarString,
        "|": LiteralScalarString,
        ">": FoldedScalarString,
    }
    scalar_ev, map_start, map_end = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.MappingEndEvent
    seq_start, seq_end = yaml.SequenceStartEvent, yaml.SequenceEndEvent
    doc_start, doc_end = yaml.DocumentStartEvent, yaml.DocumentEndEvent

    parser = CParser(text)
    docs: list[Any] = []
    # a stack of open collections: [container, pending key or _NO_KEY, key event]
    stack: list[list[Any]] = []
    no_key = object()
    root: list[Any] = []

    def add(value: Any, ev: Any) -> None:
        if not stack:
            root.append(value)
            return
        top = stack[-1]
        container = top[0]
        if isinstance(container, CommentedSeq):
            container._yaml_set_idx_line_col(len(container), [ev.start_mark.line, ev.start_mark.column])
            container.append(value)
            return
        if top[1] is no_key:
            if isinstance(value, (CommentedMap, CommentedSeq)):
                raise _Unsupported("a collection as a key")
            if value in container:
                raise _Unsupported("duplicate key")  # ruamel raises DuplicateKeyError
            top[1], top[2] = value, ev
            return
        key, kev = top[1], top[2]
        container._yaml_set_kv_line_col(
            key, [kev.start_mark.line, kev.start_mark.column, ev.start_mark.line, ev.start_mark.column]
        )
        container[key] = value
        top[1] = no_key

    try:
        while True:
            ev: Any = parser.get_event()
            if ev is None:
                break
            cls = ev.__class__
            if cls is scalar_ev:
                if ev.anchor is not None or (ev.tag is not None and ev.tag != "!"):
                    raise _Unsupported("anchor or tag")
                if ev.style:
                    if ev.style not in styled:
                        raise _Unsupported(f"scalar style {ev.style!r}")
                    value: Any = styled[ev.style](ev.value)
                elif ev.tag == "!":
                    value = ev.value  # a non-specific tag: a string, not resolved
                else:
                    value = _plain(ev.value)
                add(value, ev)
            elif cls is map_start or cls is seq_start:
                if ev.anchor is not None or (ev.tag is not None and ev.tag != "!"):
                    raise _Unsupported("anchor or tag")
                coll: Any = CommentedMap() if cls is map_start else CommentedSeq()
                coll._yaml_set_line_col(ev.start_mark.line, ev.start_mark.column)
                if ev.flow_style:
                    coll.fa.set_flow_style()
                stack.append([coll, no_key, None, ev])
            elif cls is map_end or cls is seq_end:
                coll, _, _, start_ev = stack.pop()
                add(coll, start_ev)
            elif cls is doc_start:
                if ev.version is not None or ev.tags:
                    raise _Unsupported("directive")
            elif cls is doc_end:
                docs.append(root.pop() if root else None)
            elif cls is yaml.AliasEvent:
                raise _Unsupported("alias")
    except _Unsupported:
        return None
    except yaml.YAMLError:
        return None  # the round-trip loader says what is wrong, with ruamel's wording
    finally:
        parser.dispose()
    return docs
