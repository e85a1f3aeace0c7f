"""docs/rules.md is current, every observable cause has a rule, SARIF validates, --compare works."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from conftest import run_cli
from fakeroot import nvidia_nodes
from tpdoctor.docs import AUDIT_ONLY, EXPLAIN_ONLY, render_markdown, rule_docs
from tpdoctor.errors import UsageError
from tpdoctor.facts.snapshot import read_compare_snapshot
from tpdoctor.model import CheckOptions, Facts, Report
from tpdoctor.model.facts import NamespaceFacts, ShmFacts
from tpdoctor.render.sarif import sarif_dict
from tpdoctor.rules import run_fact_rules
from tpdoctor.rules.topology import compare_facts, compare_snapshots

REPO = Path(__file__).resolve().parents[1]


# Owned by the check-foundation branch (oneCCL and device.* rules); the lead removes this set at merge.
def test_docs_rules_md_is_current() -> None:
    committed = (REPO / "docs/rules.md").read_text()
    assert committed == render_markdown(), (
        "docs/rules.md is stale: run `python -m tpdoctor.docs > docs/rules.md`"
    )


def test_every_observable_cause_has_a_rule() -> None:
    unchecked = {d["id"] for d in rule_docs() if d["kind"] == "unchecked"}
    assert not unchecked, f"no rule and not marked explain/audit-only: {sorted(unchecked)}"
    assert not (set(EXPLAIN_ONLY) | set(AUDIT_ONLY)) & {d["id"] for d in rule_docs() if d["checked_by"]}


def test_every_rule_is_documented_in_the_three_parts() -> None:
    for d in rule_docs():
        if d["checked_by"]:
            for part in ("What it checks", "Why it matters", "How to fix"):
                assert part in d["doc"], (d["id"], part)


def _report() -> Report:
    facts = Facts(
        dev=nvidia_nodes(1),
        shm=ShmFacts(present=True, size_bytes=64 << 20, source="mounts size=65536k"),
        env={"CCL_ZE_IPC_EXHANGE": "drmfd", "CUDA_VISIBLE_DEVICES": "3"},
    )
    return Report(command="check", findings=run_fact_rules(facts, CheckOptions(tp=2, backend="cuda")))


def test_sarif_validates_against_the_2_1_0_schema() -> None:
    schema = json.loads((REPO / "tests/data/sarif-schema-2.1.0.json").read_text())
    report = _report()
    assert len(report.findings) >= 3
    doc = sarif_dict(report)
    jsonschema.Draft4Validator(schema).validate(doc)
    run = doc["runs"][0]
    assert {r["ruleId"] for r in run["results"]} == {f.cause for f in report.findings}
    assert all(run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])


def test_sarif_schema_rejects_a_broken_document() -> None:
    schema = json.loads((REPO / "tests/data/sarif-schema-2.1.0.json").read_text())
    doc = sarif_dict(_report())
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(doc)


def _ns(**kw: object) -> NamespaceFacts:
    base: dict[str, object] = dict(
        pid="pid:[1]", ipc="ipc:[2]", net="net:[3]", uts="uts:[4]", hostname="h", boot_id="b", shm_dev=40
    )
    base.update(kw)
    return NamespaceFacts(**base)  # type: ignore[arg-type]


def test_compare_two_containers_on_one_host() -> None:
    a = Facts(namespaces=_ns())
    assert compare_facts(a, Facts(namespaces=_ns())) == []
    split = compare_facts(a, Facts(namespaces=_ns(ipc="ipc:[9]", hostname="other", shm_dev=41)))
    assert [f.cause for f in split] == ["topology.ranks-split-across-containers"]
    assert {e.source for e in split[0].evidence} >= {"ipc", "hostname", "shm_dev"}
    other_host = compare_facts(a, Facts(namespaces=_ns(boot_id="x", ipc="ipc:[9]")))
    assert other_host == []


def test_compare_cumem_mismatch() -> None:
    a = Facts(namespaces=_ns(), env={"NCCL_CUMEM_ENABLE": "0"})
    b = Facts(namespaces=_ns(), env={"NCCL_CUMEM_ENABLE": "1"})
    assert [f.cause for f in compare_facts(a, b)] == ["nccl.cumem-mismatch"]


def test_compare_snapshots_from_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(Facts(namespaces=_ns()).model_dump_json())
    b.write_text(Facts(namespaces=_ns(pid="pid:[7]")).model_dump_json())
    report = compare_snapshots([(p.name, read_compare_snapshot(p)) for p in (a, b)])
    assert [f.cause for f in report.findings] == ["topology.ranks-split-across-containers"]
    assert int(report.exit_code) == 3
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError):
        read_compare_snapshot(bad)
    with pytest.raises(UsageError):
        compare_snapshots([("a.json", read_compare_snapshot(a))])


def test_rules_command_lists_family_rules() -> None:
    done = run_cli("rules", "shm.too-small")
    assert done.returncode == 0, done.stderr
    assert "What it checks" in done.stdout and "tpdoctor.rules.shm_ipc.shm_size" in done.stdout
    listing = run_cli("rules", "--json")
    ids = {d["id"]: d for d in json.loads(listing.stdout)}
    assert ids["runtime.cgroupv2-unsupported"]["kind"] == "explain-only"
    # gfeat35: check reads the engines' runtime registrations (rules/engine_config.py)
    assert ids["runtime.nvidia-toolkit-missing"]["kind"] == "check"
    assert ids["network.wrong-interface"]["kind"] == "check"
    assert ids["seccomp.numa-syscalls-denied"]["kind"] == "check"
