"""gsafe39: a Kubernetes env entry's secret value never reaches an output.

Kubernetes names an env variable and gives its value under separate keys (`- name: DB_PASSWORD` then
`value: hunter2`, or `{name: DB_PASSWORD, value: hunter2}`); the redactor, which knows `DB_PASSWORD=x` and
`password: x`, saw only `value: hunter2` and let it through: `audit --fix` printed every secret env value of a
manifest in its diff, and explain quoted a pasted manifest's lines the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke
from tpdoctor.redact import redact_text

SECRET = "Hunter2xyzSecretValue"


def _pod(env: str) -> str:
    return (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: vllm\nspec:\n  containers:\n  - name: vllm\n"
        '    image: vllm/vllm-openai:latest\n    args: ["--model", "m", "--tensor-parallel-size", "2"]\n'
        "    resources:\n      limits:\n        nvidia.com/gpu: 2\n"
        f"    securityContext:\n      privileged: true\n    env:\n{env}"
    )


ENVS = {
    "block": f"    - name: DB_PASSWORD\n      value: {SECRET}\n",
    "quoted": f'    - name: "HF_TOKEN"\n      value: "{SECRET}"\n',
    "flow": f"    - {{name: DB_PASSWORD, value: {SECRET}}}\n",
    "json-flow": f'    - {{"name": "API_KEY", "value": "{SECRET}"}}\n',
}


@pytest.mark.parametrize("form", sorted(ENVS))
def test_audit_fix_diff_shows_no_env_secret(tmp_path: Path, form: str) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text(_pod(ENVS[form]))
    code, out = invoke("audit", str(f), "--fix")
    _check(code, out, form)
    assert "+++" in out or "---" in out, out  # there is a diff (privileged is removed)
    assert SECRET not in out, out
    for fmt in ("text", "json", "sarif"):
        code, out = invoke("audit", str(f), "--format", fmt, "--verbose")
        _check(code, out, fmt)
        assert SECRET not in out
    before = f.read_text()
    code, out = invoke("audit", str(f), "--write")
    assert SECRET in f.read_text() and SECRET in before  # --write keeps the secret in the file itself


def test_explain_quoting_a_manifest_shows_no_env_secret(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    log.write_text(_pod(ENVS["block"]) + "RuntimeError: CUDA error: invalid device ordinal\n")
    for fmt in ("text", "json", "sarif"):
        code, out = invoke("explain", str(log), "--format", fmt, "--verbose")
        _check(code, out, fmt)
        assert SECRET not in out


def test_the_redactor_knows_env_pairs_and_leaves_the_rest() -> None:
    text = (
        "    - name: DB_PASSWORD\n      value: hunter2\n"
        "+        - name: DB_PASSWORD\n+          value: \"hunter 2\"\n"
        "-  - {name: DB_PASSWORD, value: hunter2}\n"
        '   {"name": "HF_TOKEN", "value": "hunter2"},\n'
        '   "name": "AWS_SECRET_ACCESS_KEY",\n   "value": "hunter2"\n'
        "    - name: PATH\n      value: /usr/bin\n"
        "    - name: DB_PASSWORD\n      valueFrom:\n        secretKeyRef: {name: x, key: password}\n"
        "    - name: API_KEY\n      value: ${API_KEY}\n"
    )
    out = redact_text(text)
    assert "hunter" not in out, out
    assert "value: /usr/bin" in out and "valueFrom:" in out and "value: ${API_KEY}" in out
    assert "secretKeyRef: {name: x, key: password}" in out
    big = text * 4000  # the block path (Hyperscan prefilter) decides as the line path does
    assert len(big) >= 1 << 18
    red = redact_text(big)
    assert "hunter" not in red and red.count("value: /usr/bin") == 4000
