"""Every cause id has cases that must fire and must not fire (tests/causes/<family>.yaml), and a
section in docs/rules.md. Each case runs one input kind through the rule registry or the command
layer that owns it: fact and compare and cluster rules, a deployment model or file (audit), a log
(explain).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tpdoctor.model import CheckOptions, ClusterNode, Facts, catalog
from tpdoctor.rules.registry import (
    DeployContext,
    run_cluster_rules,
    run_compare_rules,
    run_deploy_rules,
    run_fact_rules,
)

REPO = Path(__file__).resolve().parents[1]
CASES_DIR = REPO / "tests" / "causes"

# verify.* causes come from a real collective, which no case here can run: each must be named by a
# test of tests/test_verify_*.py instead (they judge recorded runs and real gloo runs).
VERIFY_TESTS = sorted((REPO / "tests").glob("test_verify_*.py"))
# causes outside verify.* that only verify's measured verdict names
VERIFY_NAMED = {"oneccl.p2p-slot-limited"}
# Causes in the catalog that nothing emits yet, with the reason (a gap to close, not to hide).
NOT_EMITTED: dict[str, str] = {
    "oneccl.env-not-sourced": "no signature or rule names it yet: the log shows only its consequence",
}


def _cases() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text())["cases"]:
            yield f"{path.stem}: {case['name']}", case


CASES = list(_cases())


def _facts(data: dict[str, Any] | None) -> Facts | None:
    return None if data is None else Facts.model_validate(data)


def _fired(case: dict[str, Any], tmp_path: Path) -> set[str]:
    kind = case["kind"]
    if kind == "fact":
        facts = Facts.model_validate(case.get("facts") or {})
        return {f.cause for f in run_fact_rules(facts, CheckOptions(**case.get("options", {})))}
    if kind == "compare":
        return {
            f.cause
            for f in run_compare_rules(Facts.model_validate(case["a"]), Facts.model_validate(case["b"]))
        }
    if kind == "cluster":
        nodes = [ClusterNode(**{**n, "facts": _facts(n.get("facts"))}) for n in case["nodes"]]
        return {f.cause for f in run_cluster_rules(nodes, CheckOptions(**case.get("options", {})))}
    if kind == "deploy":
        from tpdoctor.deploy.model import DeploymentModel

        model = DeploymentModel.model_validate(case["model"])
        ctx = DeployContext(
            model=model,
            facts=_facts(case.get("facts")),
            ipc_exchange=case.get("ipc_exchange", "drmfd"),
            pss=case.get("pss"),
            extra=case.get("extra", {}),
        )
        svc = model.services[case["service"]]
        return {f.cause for s, f in run_deploy_rules(ctx) if s is svc}
    if kind == "audit":
        from tpdoctor.deploy.audit import audit_model, load

        suffix = {"docker": ".sh", "podman": ".sh"}.get(case["format"], ".yaml")
        path = tmp_path / f"case{suffix}"
        path.write_text(case["text"])
        loaded = load(path, None)
        res = audit_model(loaded.model, None, pss=case.get("pss"), compose_impl=case.get("compose_impl"))
        return {f.cause for f in res.findings}
    if kind == "explain":
        from tpdoctor.explain import explain

        path = tmp_path / "case.log"
        path.write_text(case["log"] + "\n")
        return {f.cause for f in explain([str(path)]).findings}
    raise AssertionError(f"unknown case kind {kind!r}")


@pytest.mark.parametrize(("name", "case"), CASES, ids=[n for n, _ in CASES])
def test_case(name: str, case: dict[str, Any], tmp_path: Path) -> None:
    fired = _fired(case, tmp_path)
    missing = set(case["fires"]) - fired
    wrong = set(case.get("not_fires", [])) & fired
    assert not missing, f"{name}: did not fire {sorted(missing)}; fired {sorted(fired)}"
    assert not wrong, f"{name}: must not fire {sorted(wrong)}"


def test_every_cause_has_a_firing_case_or_a_named_alternative() -> None:
    fired = {c for _, case in CASES for c in case["fires"]}
    verify_text = "".join(p.read_text() for p in VERIFY_TESTS)
    for cid in catalog():
        if cid in fired or cid in NOT_EMITTED:
            continue
        assert cid.startswith("verify.") or cid in VERIFY_NAMED, f"{cid}: no case in tests/causes/ fires it"
        assert cid in verify_text, f"{cid}: no tests/test_verify_*.py names it"
    assert not (set(NOT_EMITTED) & fired), "a cause listed as not emitted now fires: drop it from NOT_EMITTED"


def test_every_case_names_known_causes() -> None:
    known = set(catalog())
    for name, case in CASES:
        unknown = (set(case["fires"]) | set(case.get("not_fires", []))) - known
        assert not unknown, f"{name}: {sorted(unknown)}"


def test_every_cause_has_a_docs_section() -> None:
    text = (REPO / "docs" / "rules.md").read_text()
    sections = set(re.findall(r"^## (\S+)$", text, re.M))
    assert sections >= set(catalog()), sorted(set(catalog()) - sections)
    # generated from one place: no paragraph of rule text appears twice (docs.py links each rule once)
    paragraphs = [p for p in text.split("\n\n") if len(p) > 200 and not p.startswith("|")]
    repeated = {p[:80] for p in paragraphs if paragraphs.count(p) > 1}
    assert not repeated, repeated
