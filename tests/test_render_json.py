"""render_json writes what json.dumps(report_dict(report), indent=2, default=str) writes, byte for
byte (render/jsonenc.py encodes the dataclasses directly, several times faster)."""

from __future__ import annotations

import json
import math
from enum import Enum
from pathlib import Path

import pytest

from deploy_helpers import corpus_configs, write_config
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.facts.snapshot import example_names, load_example
from tpdoctor.model import CheckOptions, Evidence, Finding, Report, Severity, make_finding
from tpdoctor.render.json_format import render_json, report_dict
from tpdoctor.render.jsonenc import dumps_indent2
from tpdoctor.rules import run_fact_rules
from tpdoctor.rules.summary import facts_summary


def _reference(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2, sort_keys=False, default=str)


@pytest.mark.parametrize("name", sorted(example_names()))
def test_check_reports(name: str) -> None:
    facts = load_example(name)
    opts = CheckOptions(tp=2)
    findings = run_fact_rules(facts, opts)
    assert findings
    report = Report(command="check", findings=findings, facts=facts_summary(facts, opts), notes=["ü note"])
    assert render_json(report) == _reference(report)


def test_audit_reports_of_the_corpus(shared_dir: Path, tmp_path: Path) -> None:
    configs = corpus_configs(shared_dir)
    assert len(configs) >= 5
    findings: list[Finding] = []
    for cfg in configs:
        path = write_config(cfg, tmp_path)
        try:
            loaded = load(path)
        except Exception:  # a corpus file the frontends refuse: not this test's subject
            continue
        findings += audit_model(loaded.model).findings
    assert len(findings) > 20
    report = Report(command="audit", findings=findings)
    assert render_json(report) == _reference(report)


class _Color(Enum):
    red = "red"


class _Odd:
    def __str__(self) -> str:
        return "odd \u00e9"


def test_edge_values() -> None:
    f = make_finding("oneccl.bypath-missing", 'm \u2014 \x1b[31m "q" \\ \ud83d\ude00', ["e"])
    f.evidence.append(Evidence(text="", source=None, line=0))
    g = Finding(cause="x.y", severity=Severity.notice, summary="")
    facts = {
        "floats": [0.1, 1e-07, 1e22, -0.0, math.inf, -math.inf, math.nan, 3.0],
        "ints": [0, -1, 10**30, True, False, None],
        "empty": {"d": {}, "l": [], "t": ()},
        "keys": {1: "a", 2.5: "b", False: "c", None: "d"},
        "enum": _Color.red,
        "severity": Severity.blocker,
        "other": _Odd(),
        "nested": [[{"a": [{}]}]],
    }
    report = Report(command="check", findings=[f, g, f], facts=facts, notes=[])
    assert render_json(report) == _reference(report)
    for value in (facts, [], {}, "s", 1, None, [[]], {"a": {"b": []}}):
        assert dumps_indent2(value) == json.dumps(value, indent=2, default=str)


def test_shared_fixes_are_written_in_full_each_time() -> None:
    a = make_finding("oneccl.bypath-missing", "one", ["e"])
    b = make_finding("oneccl.bypath-missing", "two", ["e"])
    assert a.fixes and a.fixes[0] is b.fixes[0]  # memoized: the encoder's cache is exercised
    out = json.loads(render_json(Report(command="check", findings=[a, b])))
    assert out["findings"][0]["fixes"] == out["findings"][1]["fixes"] == [x.model_dump() for x in a.fixes]
