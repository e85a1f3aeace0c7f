"""gsafe40: a Kubernetes file of many objects, each with a schema problem, cost N^3 in k8s.schema-invalid (the
owner of each problem was looked up by walking every service, once per service and per problem: 1000 pods 150 s).
The owners are indexed once per file; each problem stays with the first container of its object."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke
from tpdoctor.rules import deploy_k8s_schema


def _pods(n: int) -> str:
    return "---\n".join(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  hostIPC: true\n  bogusField{i}: 1\n"
        f"  containers:\n  - {{name: a, image: vllm/vllm-openai, env: [{{name: TP, value: 2}}]}}\n"
        f"  - {{name: b, image: vllm/vllm-openai}}\n"
        for i in range(n)
    )


def test_schema_problems_are_owned_once_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("jsonschema")
    f = tmp_path / "many.yaml"
    f.write_text(_pods(300))
    calls = 0
    orig = deploy_k8s_schema._by_owner

    def counting(*args: object) -> object:
        nonlocal calls
        calls += 1
        return orig(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(deploy_k8s_schema, "_by_owner", counting)
    code, out = invoke("audit", str(f), "--format", "json")
    _check(code, out, "audit")
    assert calls == 1
    from tpdoctor.deploy.audit import audit_model, load

    result = audit_model(load(f).model)
    owners = {
        x.message.split(")")[0] + ")": name
        for name, fs in result.per_service.items()
        for x in fs
        if x.cause == "k8s.schema-invalid"
    }
    if not owners:
        pytest.skip("no schema for Pod here (the k8s extra)")
    assert len(owners) == 300
    for doc, name in owners.items():  # each object's problems go to its first container
        i = int(doc.split("(Pod p")[1].rstrip(")"))
        assert name == f"Pod/p{i}/a", (doc, name)
