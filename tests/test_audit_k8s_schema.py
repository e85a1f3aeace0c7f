"""audit's Kubernetes schema validation (deploy/k8s_schema.py, k8s.schema-invalid): real manifests
validate clean, each kind of schema violation is reported at its field path and line, a missing
kubernetes-validate or jsonschema is said once and never fails, and non-Kubernetes files never
load any of it. Real CRD examples: tests/data/k8s-crd (each with its source)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from deploy_helpers import DATA
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.k8s_schema import SKIPPED_ALL, SKIPPED_CORE
from tpdoctor.deploy.model import SchemaProblem

REPO = Path(__file__).resolve().parents[1]
CRD = DATA / "k8s-crd"
SCHEMAS = REPO / "src/tpdoctor/data/k8s-schemas"
EXAMPLES = sorted(CRD.glob("*.yaml"))


def _problems(path: Path) -> list[SchemaProblem]:
    return load(path).model.schema_problems


def _write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _mutate(text: str, old: str, new: str) -> tuple[str, int]:
    """`text` with the one occurrence of `old` replaced; the 1-based line where it was."""
    assert text.count(old) == 1, (old, text.count(old))
    at = text.index(old)
    return text.replace(old, new), text.count("\n", 0, at) + 1


# JobSet's own failure-policy example omits the rule names its CRD requires: the operator's
# defaulting webhook fills them (kubernetes-sigs/jobset v0.12.0 pkg/webhooks/jobset_webhook.go:145)
UPSTREAM_NOTICES = {"jobset-failure-policy": [("spec.failurePolicy.rules[0]", "- action: RestartJobSet")]}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_real_examples_validate_clean(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("# source: https://github.com/")
    loaded = load(path)
    expected = [
        (at, next(i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == line.strip()))
        for at, line in UPSTREAM_NOTICES.get(path.stem, [])
    ]
    assert [(p.path, p.line) for p in loaded.model.schema_problems] == expected
    assert all(p.severity == "notice" for p in loaded.model.schema_problems)
    blockers = [f for f in audit_model(loaded.model).findings if f.cause == "k8s.schema-invalid"]
    assert all(f.severity.value == "notice" and f.confidence == "suggests" for f in blockers)


# (example, text replaced, replacement, the field path reported, what the message says)
MUTATIONS = [
    # a CRD field of the wrong type
    (
        "lws-vllm-gpu",
        "    size: 2\n",
        '    size: "2"\n',
        "spec.leaderWorkerTemplate.size",
        "the schema wants integer",
    ),
    # a misspelled CRD field, where the schema keeps no unknown fields
    (
        "lws-vllm-gpu",
        "    restartPolicy: RecreateGroupOnPodRestart",
        "    restartPolicey: RecreateGroupOnPodRestart",
        "spec.leaderWorkerTemplate.restartPolicey",
        "did you mean 'restartPolicy'?",
    ),
    # a value outside the CRD's enum
    (
        "lws-vllm-gpu",
        "    restartPolicy: RecreateGroupOnPodRestart",
        "    restartPolicy: Always",
        "spec.leaderWorkerTemplate.restartPolicy",
        "is not one of",
    ),
    # the PodSpec embedded in a CRD: a container field of the wrong type
    (
        "jobset-pytorch-resnet",
        "- containerPort: 3389",
        '- containerPort: "3389"',
        "spec.replicatedJobs[0].template.spec.template.spec.containers[0].ports[0].containerPort",
        "the schema wants integer",
    ),
    # KubeRay: rayStartParams is a map of strings
    (
        "kuberay-rayservice-vllm",
        "dashboard-host: '0.0.0.0'",
        "dashboard-host: 0",
        "spec.rayClusterConfig.headGroupSpec.rayStartParams.dashboard-host",
        "the schema wants string",
    ),
    # KServe: a misspelled predictor field
    (
        "kserve-isvc-huggingface-vllm",
        "    containers:",
        "    container:",
        "spec.predictor.container",
        "unknown field 'container'",
    ),
    # KServe ServingRuntime: supportedModelFormats[].autoSelect is a boolean
    (
        "kserve-clusterservingruntime-multinode",
        "autoSelect: true",
        'autoSelect: "yes"',
        "spec.supportedModelFormats[0].autoSelect",
        "the schema wants boolean",
    ),
    # an apiVersion the CRD does not serve
    (
        "lws-vllm-gpu",
        "apiVersion: leaderworkerset.x-k8s.io/v1\n",
        "apiVersion: leaderworkerset.x-k8s.io/v2\n",
        "apiVersion",
        "does not serve leaderworkerset.x-k8s.io/v2",
    ),
]


@pytest.mark.parametrize(("example", "old", "new", "path", "says"), MUTATIONS)
def test_a_mutation_is_reported_at_its_path_and_line(
    tmp_path: Path, example: str, old: str, new: str, path: str, says: str
) -> None:
    text, line = _mutate((CRD / f"{example}.yaml").read_text(), old, new)
    problems = _problems(_write(tmp_path, text))
    assert [(p.path, p.line, p.document) for p in problems] == [(path, line, 1)], problems
    assert says in problems[0].message
    assert problems[0].kind == text.split("\nkind: ")[1].split()[0]


def test_a_missing_required_field_names_its_parent(tmp_path: Path) -> None:
    text, _ = _mutate(
        (CRD / "lws-vllm-gpu.yaml").read_text(), "    workerTemplate:\n", "    workerTemplat:\n"
    )
    lwt_line = text.splitlines().index("  leaderWorkerTemplate:") + 1
    got = {(p.path, p.message.split(" (")[0]) for p in _problems(_write(tmp_path, text))}
    assert got == {
        ("spec.leaderWorkerTemplate", "required field 'workerTemplate' is missing"),
        ("spec.leaderWorkerTemplate.workerTemplat", "unknown field 'workerTemplat'"),
    }
    assert lwt_line in {p.line for p in _problems(_write(tmp_path, text))}


def test_the_finding_names_document_path_line_and_schema(tmp_path: Path) -> None:
    text, line = _mutate((CRD / "lws-vllm-gpu.yaml").read_text(), "    size: 2\n", '    size: "2"\n')
    r = run_cli("audit", str(_write(tmp_path, text)), "--format", "json")
    assert r.returncode == 3, r.stderr
    found = [f for f in json.loads(r.stdout)["findings"] if f["cause"] == "k8s.schema-invalid"]
    assert len(found) == 1
    f = found[0]
    assert f["severity"] == "blocker"
    assert f["message"].startswith("document 1 (LeaderWorkerSet vllm): spec.leaderWorkerTemplate.size: ")
    assert f["evidence"][0]["line"] == line
    assert "kubernetes-sigs/lws v0.10.0" in f["evidence"][0]["text"]
    sarif = json.loads(run_cli("audit", str(tmp_path / "m.yaml"), "--format", "sarif").stdout)
    results = [x for x in sarif["runs"][0]["results"] if x["ruleId"] == "k8s.schema-invalid"]
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == line


def test_a_workload_whose_only_template_is_misspelled_is_an_input_error(tmp_path: Path) -> None:
    """No pod template can be read, and the schema says why: one line, exit 2, even with
    --skip-other (an invalid file, not a file of another kind)."""
    text, _ = _mutate(
        (CRD / "jobset-pytorch-resnet.yaml").read_text(), "\n    template:\n", "\n    templates:\n"
    )
    line = text.splitlines().index("    templates:") + 1
    p = _write(tmp_path, text)
    for extra in ([], ["--skip-other"]):
        r = run_cli("audit", str(p), *extra)
        assert r.returncode == 2, (r.returncode, r.stdout)
        assert r.stderr.strip().count("\n") == 0, r.stderr
        assert f"line {line}: JobSet pytorch: spec.replicatedJobs[0].templates: unknown field" in r.stderr


def test_an_unserved_version_only_suggests(tmp_path: Path) -> None:
    text, _ = _mutate((CRD / "jobset-pytorch-resnet.yaml").read_text(), "x-k8s.io/v1alpha2", "x-k8s.io/v1")
    (p,) = _problems(_write(tmp_path, text))
    assert p.confidence == "suggests" and "kubernetes-sigs/jobset v0.12.0" in p.message


POD = """apiVersion: v1
kind: Pod
metadata:
  name: llm
  creationTimestamp: null
spec:
  containers:
    - name: vllm
      image: vllm/vllm-openai
      args: ["--tensor-parallel-size", "2"]
      env:
        - name: TP
          value: 2
      resoures:
        limits: {nvidia.com/gpu: 2}
"""

needs_kv = pytest.mark.skipif(
    importlib.util.find_spec("kubernetes_validate") is None, reason="pip install 'tpdoctor[k8s]'"
)


@needs_kv
def test_built_in_kinds_are_checked_with_kubernetes_validate(tmp_path: Path) -> None:
    got = [(p.path, p.line, p.message) for p in _problems(_write(tmp_path, POD))]
    assert got == [
        ("spec.containers[0].env[0].value", 13, "2 is an integer, the schema wants string"),
        ("spec.containers[0].resoures", 14, "unknown field 'resoures' (did you mean 'resources'?)"),
    ]
    assert "kubernetes-validate" in _problems(_write(tmp_path, POD))[0].schema_source


@needs_kv
def test_a_removed_api_version_and_list_items(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: extensions/v1beta1\n  kind: Deployment\n  metadata: {name: old}\n"
        "  spec: {template: {spec: {containers: [{name: c, image: x}]}}}\n"
        "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: new}\n"
        "  spec:\n    selector: {matchLabels: {a: b}}\n"
        "    template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: x, tty: 'yes'}]}}\n"
    )
    lines = text.splitlines()
    old_at = lines.index("- apiVersion: extensions/v1beta1") + 1
    tty_at = next(i for i, ln in enumerate(lines, 1) if "tty: 'yes'" in ln)
    got = [(p.path, p.line, p.name) for p in _problems(_write(tmp_path, text))]
    assert got == [
        ("items[0].apiVersion", old_at, "old"),
        ("items[1].spec.template.spec.containers[0].tty", tty_at, "new"),
    ]


def _fake_missing(tmp_path: Path, *modules: str) -> dict[str, str]:
    """An environment in which importing `modules` fails as if they were not installed."""
    shadow = tmp_path / "shadow"
    for m in modules:
        (shadow / m).mkdir(parents=True)
        (shadow / m / "__init__.py").write_text(f"raise ImportError('{m} is not installed (test)')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(shadow)])
    env["PYTHONPATH"] = str(shadow) + os.pathsep + env["PYTHONPATH"]
    return env


def _audit(env: dict[str, str], *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tpdoctor", "audit", *map(str, files), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_without_kubernetes_validate_core_kinds_are_skipped_once(tmp_path: Path) -> None:
    env = _fake_missing(tmp_path, "kubernetes_validate")
    a = _write(tmp_path, POD, "a.yaml")
    b = _write(tmp_path, POD.replace("name: llm", "name: llm2"), "b.yaml")
    bad_lws, line = _mutate((CRD / "lws-vllm-gpu.yaml").read_text(), "    size: 2\n", '    size: "2"\n')
    c = _write(tmp_path, bad_lws, "c.yaml")
    r = _audit(env, a, b, c)
    assert r.returncode == 3, r.stderr
    out = json.loads(r.stdout)
    assert out["notes"].count(SKIPPED_CORE) == 1
    schema = [f for f in out["findings"] if f["cause"] == "k8s.schema-invalid"]
    # the CRD is still checked (its schema ships with tpdoctor); the Pods are not
    assert [f["evidence"][0]["line"] for f in schema] == [line]


def test_without_jsonschema_nothing_is_validated_and_nothing_fails(tmp_path: Path) -> None:
    env = _fake_missing(tmp_path, "kubernetes_validate", "jsonschema")
    r = _audit(env, _write(tmp_path, POD))
    assert r.returncode in (0, 3, 4), r.stderr  # the other rules' verdict; never 1 or 2
    out = json.loads(r.stdout)
    assert out["notes"].count(SKIPPED_ALL) == 1
    assert not [f for f in out["findings"] if f["cause"] == "k8s.schema-invalid"]


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: leaderworkerset.x-k8s.io/v1\nkind: LeaderWorkerSet\nmetadata: {name: x}\nspec: [",
        "apiVersion: leaderworkerset.x-k8s.io/v1\nkind: LeaderWorkerSet\nmetadata: {name: x}\nspec: hello\n",
        "apiVersion: [1]\nkind: Pod\nmetadata: 5\nspec: {containers: 5}\n",
    ],
)
def test_malformed_input_is_one_line_exit_2(tmp_path: Path, text: str) -> None:
    r = run_cli("audit", str(_write(tmp_path, text)))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr


def test_non_kubernetes_files_load_no_schema_code() -> None:
    code = (
        "import sys; from pathlib import Path; from tpdoctor.deploy.audit import load, audit_model;"
        f"audit_model(load(Path({str(DATA / 'deploy' / 'article-compose.yaml')!r})).model);"
        "print(sorted(m for m in sys.modules if m.startswith(('jsonschema', 'kubernetes_validate', "
        "'referencing', 'tpdoctor.deploy.k8s_schema'))))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]", out.stdout


# --- the shipped CRD schemas --------------------------------------------------------------------


def _tool() -> Any:
    spec = importlib.util.spec_from_file_location("k8s_crd_schemas", REPO / "tools/k8s_crd_schemas.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_shipped_schema_names_its_source_and_is_indexed() -> None:
    tool = _tool()
    index = json.loads((SCHEMAS / "index.json").read_text())["crds"]
    files = {f for kinds in index.values() for f in kinds.values()}
    assert files == {p.name for p in SCHEMAS.glob("*.json")} - {"index.json"}
    sources = set()
    for name in files:
        doc = json.loads((SCHEMAS / name).read_text())
        src = doc["source"]
        assert src["url"] == f"https://github.com/{src['repo']}/blob/{src['commit']}/{src['path']}"
        assert len(src["commit"]) == 40 and len(src["sha256"]) == 64
        assert index[doc["group"]][doc["kind"]] == name
        sources.add((src["repo"], src["tag"], src["commit"], src["path"]))
    assert sources == set(tool.SOURCES)


def _expand(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _expand(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        return {k: (v if k in ("enum", "required") else _expand(v, defs)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, defs) for v in node]
    return node


@pytest.mark.parametrize(
    "name", ["leaderworkerset.x-k8s.io_leaderworkersets.json", "ray.io_rayclusters.json"]
)
def test_shared_definitions_are_lossless(name: str) -> None:
    """Expanding the $refs and sharing again (the tool's last step) gives the shipped file back."""
    tool = _tool()
    doc = json.loads((SCHEMAS / name).read_text())
    expanded = {v: _expand(d["schema"], doc["definitions"]) for v, d in doc["versions"].items()}
    assert "$ref" not in json.dumps(expanded)
    shared, defs = tool.share(expanded)
    assert defs == doc["definitions"]
    assert shared == {v: d["schema"] for v, d in doc["versions"].items()}


# --- the API server's structural-schema rules, on a small CRD schema ------------------------------

STRUCTURAL = {
    "type": "object",
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["size", "policy"],
            "properties": {
                "size": {"type": "integer"},
                "policy": {"type": "string", "default": "Default"},
                "port": {"x-kubernetes-int-or-string": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
}


@pytest.mark.parametrize(
    ("spec", "problems"),
    [
        ({"size": 1}, []),  # policy is defaulted before validation: never missing
        ({"size": 1, "port": "http"}, []),
        ({"size": 1, "port": 8080}, []),
        ({"size": 1, "port": 1.5}, [("spec.port", "the schema wants an integer or a string")]),
        ({"size": 1, "free": {"anything": {"goes": 1}}}, []),  # x-kubernetes-preserve-unknown-fields
        ({"size": 1, "labels": {"a": 1}}, [("spec.labels.a", "the schema wants string")]),
        ({"size": 1, "extra": True}, [("spec.extra", "unknown field 'extra'")]),
        ({"size": None}, [("spec", "required field 'size' is missing")]),  # null is pruned
        ({"size": "1"}, [("spec.size", "the schema wants integer")]),
    ],
)
def test_structural_schema_rules(spec: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    from tpdoctor.deploy import k8s_schema
    from tpdoctor.deploy.io import load_yaml_docs

    schema = k8s_schema._structural(STRUCTURAL, {}, top=True)
    validator = __import__("jsonschema").Draft7Validator(schema)
    doc = {"metadata": {"name": "x", "labels": {"any": "thing"}, "uid": "ok: ObjectMeta is the server's"}}
    doc["spec"] = spec
    data = k8s_schema.to_json(load_yaml_docs(json.dumps(doc), "t")[0])
    got = [
        (k8s_schema._fmt(path), msg)
        for e in validator.iter_errors(data)
        for path, msg in k8s_schema._explain(e)
    ]
    assert len(got) == len(problems), got
    for (path, msg), (want_path, want) in zip(sorted(got), sorted(problems), strict=True):
        assert path == want_path and want in msg, (path, msg)


def test_yaml_timestamps_are_strings_as_the_api_server_sees_them() -> None:
    from tpdoctor.deploy.io import load_yaml_docs
    from tpdoctor.deploy.k8s_schema import to_json

    data = to_json(load_yaml_docs("a: 2026-12-01\nc: null\nd: [1, null]\n", "t")[0])
    assert data == {"a": "2026-12-01", "d": [1, None]}


def test_a_justified_exception_on_the_object_covers_its_schema_findings(tmp_path: Path) -> None:
    text, _ = _mutate((CRD / "lws-vllm-gpu.yaml").read_text(), "    size: 2\n", '    size: "2"\n')
    allowed = text.replace(
        "metadata:\n  name: vllm\n",
        "metadata:\n  name: vllm\n  # tpdoctor: allow k8s.schema-invalid reason=our admission webhook converts it\n",
        1,
    )
    assert allowed != text
    for body, fired in ((text, True), (allowed, False)):
        res = audit_model(load(_write(tmp_path, body)).model)
        assert ("k8s.schema-invalid" in {f.cause for f in res.findings}) is fired
    assert any("k8s.schema-invalid allowed (our admission webhook converts it)" in a for a in res.allowed)


def test_a_wholly_wrong_document_is_reported_by_its_first_problems(tmp_path: Path) -> None:
    from tpdoctor.deploy.k8s_schema import MAX_PER_DOC

    extra = MAX_PER_DOC + 5
    fields = "".join(f"  bogus{i}: 1\n" for i in range(extra))
    text = (CRD / "jobset-pytorch-resnet.yaml").read_text().replace("spec:\n", "spec:\n" + fields, 1)
    problems = _problems(_write(tmp_path, text))
    assert len(problems) == MAX_PER_DOC
    assert [p.path for p in problems] == [f"spec.bogus{i}" for i in range(MAX_PER_DOC)]
    assert problems[-1].message.endswith(f"(and {extra - MAX_PER_DOC} more in this document)")
