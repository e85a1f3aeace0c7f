"""The model is plain dataclasses (model/datamodel.py); their JSON must be what pydantic wrote.

pydantic serializes stdlib dataclasses too, so its own serializer is the reference here: the
snapshot (`model_dump_json(indent=2)`), the findings of JSON/SARIF (`model_dump(mode="json")`)
and the deployment model give the same bytes and data as pydantic gives for the same objects.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from deploy_helpers import two_gpu_facts
from fakeroot import FakeRoot
from tpdoctor.deploy.compose import parse_compose
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.snapshot import load_example
from tpdoctor.model import CheckOptions, Evidence, Facts, Finding, Report, Severity, make_finding
from tpdoctor.model.facts import CpuFacts, DeviceNode, NvidiaFacts
from tpdoctor.rules import run_fact_rules

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(autouse=True)
def _edit_resolvable(monkeypatch: pytest.MonkeyPatch) -> None:
    """model/finding.py imports Edit for type checkers only (check never loads the 23 edit
    classes); pydantic, the reference here, resolves `tuple[Edit, ...]` from the module."""
    import tpdoctor.model.finding as finding_module
    from tpdoctor.model.edits import Edit

    monkeypatch.setattr(finding_module, "Edit", Edit, raising=False)


def _not_output(obj: Any) -> dict[str, Any] | None:
    """pydantic's `exclude` for the fields our model leaves out of its output (NOT_OUTPUT:
    Finding.edits, what `audit --fix` writes), at any depth of a report."""
    if isinstance(obj, Finding):
        return {"edits": True}
    if isinstance(obj, Report):
        return {"findings": {"__all__": {"edits": True}}}
    return None


def _pydantic_json(obj: Any, indent: int | None = None) -> str:
    return TypeAdapter(type(obj)).dump_json(obj, indent=indent, exclude=_not_output(obj)).decode()


def _samples(tmp_path: Path) -> list[Any]:
    fr = FakeRoot(tmp_path / "r").docker_default().dockerenv().add_gpu(128, "0000:03:00.0")
    facts = collect_facts(fr.root, {"CCL_ZE_IPC_EXCHANGE": "sockets"}, live=False)
    facts.nvidia = NvidiaFacts(nvlink_gbps_per_link=25.781, nvlinks={"0-1": 18})
    findings = run_fact_rules(facts, CheckOptions(tp=2))
    assert findings, "the fake root must give findings to compare"
    odd = Finding(
        cause="oneccl.bypath-missing",
        severity=Severity.blocker,
        summary='ümlaut \u2014 and a \x1b control and a "quote"',
        evidence=[Evidence(text="line\twith tab", source="/x", line=3)],
    )
    report = Report(command="check", findings=[odd, *findings], facts={"n": 1.5, "s": [1, "a"]}, notes=["é"])
    return [facts, load_example("article"), two_gpu_facts(), odd, report, *findings]


def test_json_is_the_bytes_pydantic_writes(tmp_path: Path) -> None:
    for obj in _samples(tmp_path):
        assert obj.model_dump_json(indent=2) == _pydantic_json(obj, indent=2)
        assert obj.model_dump_json() == _pydantic_json(obj)
        assert obj.model_dump(mode="json") == TypeAdapter(type(obj)).dump_python(
            obj, mode="json", exclude=_not_output(obj)
        )


def test_the_deployment_model_serializes_as_pydantic_does(tmp_path: Path) -> None:
    text = (
        "services:\n  vllm:\n    image: intel/vllm:0.17.0-xpu\n    privileged: true\n"
        "    devices: [/dev/dri/renderD128]\n    shm_size: 16g\n    group_add: [video]\n"
        "    environment: {ZE_AFFINITY_MASK: '0,1'}\n"
    )
    model = parse_compose(text, "compose.yaml")[0]
    assert model.services and model.services[0].privileged
    assert model.model_dump_json(indent=2) == _pydantic_json(model, indent=2)
    assert type(model).model_validate(json.loads(model.model_dump_json())) == model


def test_a_snapshot_round_trips_and_the_node_index_is_no_part_of_it(tmp_path: Path) -> None:
    facts = two_gpu_facts()
    assert facts.node("/dev/dri/renderD129") is not None  # fills the index
    text = facts.model_dump_json(indent=2)
    assert "_dev_index" not in text
    again = Facts.model_validate(json.loads(text))
    assert again == facts and again.model_dump_json(indent=2) == text
    assert pickle.loads(pickle.dumps(facts)) == facts
    # the index follows a replaced or shortened dev list
    facts.dev = facts.dev[:1]
    assert facts.node("/dev/dri/renderD129") is None
    facts.dev.append(DeviceNode(path="/dev/dri/renderD129", kind="char"))
    assert facts.node("/dev/dri/renderD129") is not None


def test_outside_json_is_still_validated() -> None:
    with pytest.raises(ValidationError):
        Facts.model_validate({"process": {"uid": "not a number"}})
    with pytest.raises(ValidationError):
        Facts.model_validate({"dev": [{"path": "/dev/x", "kind": "no-such-kind"}]})
    with pytest.raises(ValidationError):
        Facts.model_validate({"cpu": {"online": 1 << 20}})
    with pytest.raises(ValueError):
        CpuFacts(allowed=list(range((1 << 16) + 1)))


def test_copies_share_fixes_but_not_lists() -> None:
    f = make_finding("oneccl.bypath-missing", "m", ["e"])
    g = f.model_copy(update={"message": "other"})
    assert (g.message, f.message) == ("other", "m") and g.fixes == f.fixes
    assert g.cause == f.cause and g != f


def test_check_on_a_root_imports_no_pydantic_typer_rich_yaml_or_edits(tmp_path: Path) -> None:
    root = FakeRoot(tmp_path / "r").docker_default().dockerenv().add_gpu(128, "0000:03:00.0").root
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['tpdoctor', 'check', '--root', {str(root)!r}, '--tp', '2', '-f', 'json']\n"
        "try: runpy.run_module('tpdoctor', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "heavy = ('pydantic', 'pydantic_core', 'typer', 'rich', 'click', 'yaml', 'tpdoctor.model.edits')\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy), file=sys.stderr)"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert '"findings"' in r.stdout, r.stderr[-500:]
    assert "LOADED []" in r.stderr, r.stderr[-500:]


def test_version_imports_no_model() -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = ['tpdoctor', '--version']\n"
        "try: runpy.run_module('tpdoctor', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('tpdoctor.')), file=sys.stderr)"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.stdout.startswith("tpdoctor "), r.stderr[-500:]
    assert "LOADED ['tpdoctor.cli']" in r.stderr, r.stderr[-500:]


def test_examples_are_built_as_pydantic_validates_them() -> None:
    """load_example builds our packaged snapshots without pydantic (model.datamodel.build)."""
    from tpdoctor.facts.snapshot import example_names
    from tpdoctor.model.datamodel import build
    from tpdoctor.model.pkgdata import read_data

    names = sorted(example_names())
    assert len(names) >= 4
    for name in names:
        raw = json.loads(read_data(f"examples/{name}.json"))
        built, checked = build(Facts, raw), Facts.model_validate(raw)
        assert built == checked and load_example(name) == checked, name
        assert built.model_dump_json(indent=2) == checked.model_dump_json(indent=2), name
    # the float widening pydantic does, and nested dataclasses at every depth
    raw = {
        "nvidia": {"nvlink_gbps_per_link": 25, "gpus": [{"index": 0}]},
        "probes": {"pidfd_self_test": {"ok": True}},
    }
    built = build(Facts, raw)
    assert built == Facts.model_validate(raw) and isinstance(built.nvidia.nvlink_gbps_per_link, float)
    assert (
        built.probes is not None
        and built.probes.pidfd_self_test is not None
        and built.probes.pidfd_self_test.ok
    )


def test_check_example_imports_no_pydantic(tmp_path: Path) -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = ['tpdoctor', 'check', '--example', 'article', '--tp', '2', '-f', 'json']\n"
        "try: runpy.run_module('tpdoctor', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'typer')), file=sys.stderr)"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert '"findings"' in r.stdout, r.stderr[-500:]
    assert "LOADED []" in r.stderr, r.stderr[-500:]
