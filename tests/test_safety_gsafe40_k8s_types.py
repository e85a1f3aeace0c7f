"""gsafe40: a Kubernetes manifest with a value of the wrong type where tpdoctor reads a mapping or a list gets a
one-line message naming the field and the type expected, never Python's own error text; `replicas: true` and a
volume of the wrong type under `audit --fix` were internal errors (exit 1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from test_safety_fuzz import invoke

PYTHON_WORDS = re.compile(
    r"Traceback|internal error|object has no attribute|object is not|is not iterable|NoneType|Commented(?:Seq|Map)"
    r"|ScalarString|TypeError|AttributeError|ValueError|KeyError|expected str"
)


def _deployment(container: str = "", pod: str = "", spec: str = "") -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: vllm}\nspec:\n  replicas: 1\n" + spec
        + "  template:\n    spec:\n"
        "      volumes:\n      - name: hp\n        hostPath: {path: /dev/dri}\n" + pod
        + "      containers:\n      - name: vllm\n        image: vllm/vllm-openai\n"
        "        args: [--tensor-parallel-size, '2']\n        securityContext: {privileged: true}\n"
        "        volumeMounts: [{name: hp, mountPath: /dev/dri}]\n" + container
    )


WRONG = {
    "resources: 5": (_deployment(container="        resources: 5\n"), "containers[0].resources", "a mapping"),
    "limits: list": (
        _deployment(container="        resources: {limits: [1, 2]}\n"), "containers[0].resources.limits", "a mapping"
    ),
    "limits: string": (
        _deployment(container="        resources: {limits: x}\n"), "containers[0].resources.limits", "a mapping"
    ),
    "env: 5": (_deployment(container="        env: 5\n"), "containers[0].env", "a list"),
    "capabilities.add: 5": (
        _deployment(container="        ports: []\n").replace(
            "{privileged: true}", "{privileged: true, capabilities: {add: 5}}"
        ),
        "containers[0].securityContext.capabilities.add",
        "a list",
    ),
    "supplementalGroups: 5": (
        _deployment(pod="      securityContext: {supplementalGroups: 5}\n"),
        "securityContext.supplementalGroups",
        "a list",
    ),
    "annotations: 5": (
        _deployment().replace("metadata: {name: vllm}", "metadata: {name: vllm, annotations: 5}"),
        "metadata.annotations",
        "a mapping",
    ),
    "metadata: x": (_deployment().replace("metadata: {name: vllm}", "metadata: x"), "metadata", "a mapping"),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_wrong_type_names_the_field(tmp_path: Path, case: str) -> None:
    text, field, want = WRONG[case]
    f = tmp_path / "d.yaml"
    f.write_text(text)
    for args in (("audit", str(f)), ("audit", str(f), "--fix"), ("audit", str(f), "--format", "json")):
        code, out = invoke(*args)
        assert code == 2, (args, out)
        assert not PYTHON_WORDS.search(out), out
        assert field in out and f"{want} expected" in out, out
        assert len(out.strip().splitlines()) == 1, out


def test_replicas_true_is_no_internal_error(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(_deployment(spec="").replace("replicas: 1", "replicas: true"))
    for args in (("audit", str(f)), ("audit", str(f), "--fix")):
        code, out = invoke(*args)
        assert code in (0, 3, 4), out
        assert not PYTHON_WORDS.search(out), out


@pytest.mark.parametrize("item", ["5", "x", "[1]", "null", "true"])
def test_fix_with_a_volume_of_another_type_is_no_internal_error(tmp_path: Path, item: str) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(_deployment().replace("      volumes:\n", f"      volumes:\n      - {item}\n"))
    code, out = invoke("audit", str(f), "--fix")
    assert code in (0, 2, 3, 4), out
    assert not PYTHON_WORDS.search(out), out
    assert "-        volumeMounts: [{name: hp, mountPath: /dev/dri}]" in out or code == 2, out


def test_other_formats_never_show_python_errors(tmp_path: Path) -> None:
    """The frontends' last resort (deploy/audit.py load) says what kind of value was found, not Python's text."""
    cases = {
        "compose.yaml": "services:\n  a:\n    image: x\n    deploy: {resources: {reservations: {devices: 5}}}\n",
        "compose2.yaml": "services:\n  a:\n    image: x\n    devices: {a: 1}\n    ulimits: 5\n",
        "devcontainer.json": '{"image": "x", "runArgs": 5, "capAdd": {"a": 1}, "mounts": 7}',
    }
    for name, text in cases.items():
        f = tmp_path / name
        f.write_text(text)
        for args in (("audit", str(f)), ("audit", str(f), "--fix")):
            code, out = invoke(*args)
            assert code in (0, 2, 3, 4), out
            assert not PYTHON_WORDS.search(out), (name, out)
