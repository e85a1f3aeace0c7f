"""Python 3.10's `re` has no possessive quantifiers or atomic groups (3.11 added both): every pattern that uses them goes
through tpdoctor.rxcompat, whose 3.10 form must match what 3.11's does (import tpdoctor failed on 3.10 before)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import random
import re
from pathlib import Path
from typing import Any

import pytest

import tpdoctor
from tpdoctor import rxcompat

parser: Any = getattr(re, "_parser", None)
constants: Any = getattr(re, "_constants", None)
pytestmark = pytest.mark.skipif(parser is None, reason="needs Python 3.11's re._parser to tell the forms apart")
SRC = Path(tpdoctor.__file__).parent


def uses_311_syntax(pattern: str | bytes, flags: int = 0) -> bool:
    """Whether the parsed pattern holds a possessive repeat or an atomic group (what 3.10 cannot compile)."""
    only_311 = {constants.POSSESSIVE_REPEAT, constants.ATOMIC_GROUP}

    def walk(sub: Any) -> bool:
        for op, av in sub:
            if op in only_311:
                return True
            for item in av if isinstance(av, (tuple, list)) else ():
                if isinstance(item, parser.SubPattern) and walk(item):
                    return True
                if isinstance(item, (tuple, list)):
                    if any(isinstance(x, parser.SubPattern) and walk(x) for x in item):
                        return True
        return False

    return walk(parser.parse(pattern, flags))


def test_the_311_forms_are_told() -> None:
    assert uses_311_syntax(r"a++b") and uses_311_syntax(r"(?>ab|a)b") and uses_311_syntax(r"(?:x[ab]*+)?")
    assert not uses_311_syntax(r"a+b") and not uses_311_syntax(r"c\+\+|[+*]+") and not uses_311_syntax(r"(?:a+)+")


PATTERNS = [
    r"a++b",
    r"a*+a",
    r"(?:ab|a)++b",
    r"x?+x",
    r"x{1,3}+x",
    r"(?>a|ab)c",
    r"(?>a+)b|a",
    r"[^;]*+;",
    r"[]a]*+a",
    r"\x61++b",
    r"(?P<w>[ab]++)(?P=w)",
    r"(?i:A)++b",
    r"a+?b++",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_310_form_matches_what_311_matches(pattern: str) -> None:
    native = re.compile(pattern)
    portable = rxcompat.portable(pattern)
    assert not uses_311_syntax(portable), portable
    emulated = re.compile(portable)
    rng = random.Random(pattern)
    for _ in range(3000):
        text = "".join(rng.choice("aabbcx;]A") for _ in range(rng.randrange(0, 12)))
        want = [(m.span(), {k: v for k, v in m.groupdict().items()}) for m in native.finditer(text)]
        got = [
            (m.span(), {k: v for k, v in m.groupdict().items() if not k.startswith("_rxc")})
            for m in emulated.finditer(text)
        ]
        assert got == want, (pattern, text)


def _project_patterns() -> list[re.Pattern[Any]]:
    """Every compiled pattern a tpdoctor module holds at its top level, in a class, or in a tuple, list or dict."""
    found: dict[int, re.Pattern[Any]] = {}

    def take(obj: Any, depth: int) -> None:
        if isinstance(obj, re.Pattern):
            found[id(obj)] = obj
        elif depth and isinstance(obj, (tuple, list, set, frozenset)):
            for x in obj:
                take(x, depth - 1)
        elif depth and isinstance(obj, dict):
            for x in obj.values():
                take(x, depth - 1)
        elif depth and isinstance(obj, type) and obj.__module__.startswith("tpdoctor"):
            for x in vars(obj).values():
                take(x, depth - 1)

    for mod in pkgutil.walk_packages(tpdoctor.__path__, "tpdoctor."):
        if mod.name.endswith("__main__"):
            continue
        try:
            m = importlib.import_module(mod.name)
        except ImportError:  # an optional extra (ray, torch, docker) not installed here
            continue
        for value in vars(m).values():
            take(value, 3)
    return list(found.values())


def test_every_compiled_pattern_with_311_syntax_goes_through_rxcompat() -> None:
    patterns = _project_patterns()
    assert len(patterns) > 150  # the walk reaches the project's patterns
    direct = [p.pattern for p in patterns if uses_311_syntax(p.pattern, p.flags) and p.pattern not in rxcompat.routed]
    assert direct == [], "compile these with tpdoctor.rxcompat.compile (Python 3.10 rejects them)"


def _literal(node: ast.expr) -> str | bytes | None:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None
    return value if isinstance(value, (str, bytes)) else None


def test_no_literal_pattern_with_311_syntax_is_given_to_re_directly() -> None:
    seen = 0
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr in {"compile", "search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split"}
                and node.args
            ):
                pattern = _literal(node.args[0])
                if pattern is None:
                    continue
                seen += 1
                if uses_311_syntax(pattern):
                    bad.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert seen > 200
    assert bad == [], "use tpdoctor.rxcompat.compile: Python 3.10 rejects possessive quantifiers and atomic groups"


def test_each_routed_pattern_compiles_in_its_310_form() -> None:
    _project_patterns()
    assert rxcompat.routed
    # and every pattern of the knowledge base, which explain compiles through rxcompat (lazily, on first use)
    import yaml

    data = yaml.safe_load((SRC / "data" / "signatures.yaml").read_text())
    kb = [
        str(e[key])
        for part in ("signatures", "facts", "correlations")
        for e in data.get(part) or ()
        for key in ("pattern", "near", "context")
        if e.get(key)
    ]
    assert len(kb) > 1000
    for pattern in [*rxcompat.routed, *kb]:
        text = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
        portable = rxcompat.portable(text)
        assert not uses_311_syntax(portable), portable
        re.compile(portable)
