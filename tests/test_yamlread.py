"""`audit` without --fix reads YAML through libyaml (deploy/yamlread.py); the tree must be the
round-trip loader's: same values and types, same key and item positions, same findings (with
their line numbers), and the round-trip loader wherever that cannot be promised."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from conftest import SHARED, run_cli
from tpdoctor.deploy.io import load_yaml_docs, read_only_trees, rt_yaml
from tpdoctor.deploy.yamlread import load_plain

REPO = Path(__file__).resolve().parents[1]


def _yaml_files() -> list[Path]:
    # configs, manifests, the corpus' labelled cases: every YAML file the tests and corpus hold
    roots = [REPO / "tests", SHARED / "corpus"]
    return [p for r in roots for p in sorted(r.rglob("*.y*ml"))]


def _same(a: Any, b: Any, path: str = "$") -> str | None:
    """None when the fast tree `a` equals the round-trip tree `b` as the frontends see it."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, (CommentedMap, CommentedSeq)) and (a.lc.line, a.lc.col) != (b.lc.line, b.lc.col):
        return f"{path}: at {a.lc.line},{a.lc.col} != {b.lc.line},{b.lc.col}"
    if isinstance(a, dict):
        if list(a) != list(b) or [type(k) for k in a] != [type(k) for k in b]:
            return f"{path}: keys {list(a)[:5]} != {list(b)[:5]}"
        for k in a:
            # key positions always; value positions unless the value is empty (ruamel places an
            # empty scalar at the next token, libyaml after the colon: no frontend reads that)
            want = b.lc.data[k] if b[k] is not None else b.lc.data[k][:2]
            got = a.lc.data[k] if b[k] is not None else a.lc.data[k][:2]
            if got != want:
                return f"{path}.{k}: position {got} != {want}"
            r = _same(a[k], b[k], f"{path}.{k}")
            if r:
                return r
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if a.lc.data[i] != b.lc.data[i]:
                return f"{path}[{i}]: position {a.lc.data[i]} != {b.lc.data[i]}"
            r = _same(x, y, f"{path}[{i}]")
            if r:
                return r
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def _generated_compose(n: int) -> str:
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gen_compose.py"), str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def test_every_test_and_corpus_yaml_gives_the_round_trip_tree() -> None:
    files = _yaml_files()
    assert len(files) >= 20, files
    fast = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            rt = list(rt_yaml().load_all(text))
        except Exception:
            continue  # invalid on purpose: the fast loader must then not be the one that answers
        got = load_plain(text)
        if got is None:
            continue
        fast += 1
        assert len(got) == len(rt), path
        for a, b in zip(got, rt, strict=True):
            assert _same(a, b) is None, (path, _same(a, b))
    assert fast >= 20


def test_the_generated_500_service_file() -> None:
    text = _generated_compose(500)
    got, rt = load_plain(text), list(rt_yaml().load_all(text))
    assert got is not None and _same(got[0], rt[0]) is None


SCALARS = [
    "a: 0", "a: -0", "a: +5", "a: 007", "a: 12", "a: yes", "a: on", "a: True", "a: FALSE", "a: ~",
    "a: null", "a: Null", "a: 'q'", 'a: "q"', "a: |\n  lit\n", "a: >\n  fold\n  ed\n", "a: [1, '2', x, {k: v}]",
    "10: int key", "true: bool key", '"k k": 1', "a: 'b: c'", "a: 0.5.1", "a: v1.2",
    "a: 1e", "a: .5x", "a:\n  - x\n  -\n  - {}\n",
]  # fmt: skip
FALLBACK = [
    "a: 1_000", "a: 0x1F", "a: 0o17", "a: 1.5", "a: .inf", "a: .nan", "a: 1e3", "a: 2001-12-14", "a: !!str 5",
    "a: &x {k: v}\nb: *x\n", "a: 1\na: 2\n", "%YAML 1.1\n---\na: 1\n", "1.5: float key", "a: [1, 2\n",
    "base: &b {x: 1}\nsvc:\n  <<: *b\n",
]  # fmt: skip


@pytest.mark.parametrize("text", SCALARS)
def test_scalars_read_as_the_round_trip_loader_reads_them(text: str) -> None:
    got = load_plain(text + "\n")
    assert got is not None, text
    assert _same(got[0], next(iter(rt_yaml().load_all(text + "\n")))) is None


@pytest.mark.parametrize("text", FALLBACK)
def test_what_it_cannot_promise_goes_to_the_round_trip_loader(text: str) -> None:
    assert load_plain(text) is None
    with read_only_trees():
        try:
            docs = load_yaml_docs(text, "x.yaml")
        except Exception as exc:  # the round-trip loader's own error (duplicate key, bad YAML)
            docs = [type(exc).__name__]
    try:
        want = list(rt_yaml().load_all(text))
    except Exception:
        return
    assert repr(docs) == repr(want)  # TaggedScalar has no __eq__


def test_audit_output_and_line_numbers_are_the_same_both_ways(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(_generated_compose(40))
    fast = run_cli("audit", str(compose), "--format", "json")
    fixed = run_cli("audit", str(compose), "--fix")  # --fix reads the round-trip tree
    assert fast.returncode == 3 and fixed.returncode in (0, 3, 4), fast.stderr
    report = json.loads(fast.stdout)
    lines = compose.read_text().splitlines()
    # svc1 is privileged: its finding points at svc1's own block, as written
    priv = [
        ev["line"]
        for f in report["findings"]
        if f["cause"] == "security.privileged"
        for ev in f["evidence"]
        if ev.get("line")
    ]
    assert priv, report["findings"][:2]
    for line in priv:
        assert lines[line - 1].lstrip().startswith(("svc", "privileged")), (line, lines[line - 1])
    # and the round-trip tree gives the same report
    from tpdoctor.deploy.audit import audit_model, load
    from tpdoctor.model import Report
    from tpdoctor.render.json_format import render_json

    def report_of(read_only: bool) -> str:
        if read_only:
            with read_only_trees():
                loaded = load(compose)
        else:
            loaded = load(compose)
        return render_json(Report(command="audit", findings=audit_model(loaded.model).findings))

    assert report_of(True) == report_of(False)
