"""gsafe40: a Kubernetes env entry written `value:` first (`{value: x, name: DB_PASSWORD}`, or `- value: x` then
`name: DB_PASSWORD`) is redacted like one written name first; YAML keeps no key order, and `audit --fix` printed
these values in its diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke
from tpdoctor.redact import RedactingStream, redact_text

SECRET = "Hunter2xyzSecretValue"

ENVS = {
    "flow": f"    - {{value: {SECRET}, name: DB_PASSWORD}}\n",
    "flow-spaces": f"    - {{value: {SECRET} two words, name: DB_PASSWORD}}\n",
    "flow-quoted": f'    - {{"value": "{SECRET}", "name": "API_KEY"}}\n',
    "block": f"    - value: {SECRET}\n      name: API_SECRET\n",
    "block-quoted": f"    - value: '{SECRET}'\n      name: HF_TOKEN\n",
}


def _pod(env: str) -> str:
    return (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: vllm\nspec:\n  containers:\n  - name: vllm\n"
        '    image: vllm/vllm-openai:latest\n    args: ["--model", "m", "--tensor-parallel-size", "2"]\n'
        "    resources:\n      limits:\n        nvidia.com/gpu: 2\n"
        f"    securityContext:\n      privileged: true\n    env:\n{env}"
    )


@pytest.mark.parametrize("form", sorted(ENVS))
def test_audit_value_first_env_secret_is_never_printed(tmp_path: Path, form: str) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text(_pod(ENVS[form]))
    code, out = invoke("audit", str(f), "--fix")
    _check(code, out, form)
    assert "+++" in out, out
    assert SECRET not in out, out
    for fmt in ("text", "json", "sarif"):
        code, out = invoke("audit", str(f), "--format", fmt, "--verbose")
        _check(code, out, fmt)
        assert SECRET not in out


def test_value_first_keeps_other_values_and_both_paths_agree() -> None:
    text = (
        "    - value: s3cr3t-one\n      name: API_SECRET\n"
        "    - value: /usr/bin\n      name: PATH\n"
        "-    - value: \"s3cr3t-two\"\n-      name: MY_PASSWORD\n"
        "+        - {value: s3cr3t three, name: DB_PASSWORD}\n"
        "    - name: PATH\n      value: /usr/lib\n"  # name first, a secret below: /usr/lib is PATH's
        "    - name: HF_TOKEN\n      value: s3cr3t-four\n"
    )
    out = redact_text(text)
    assert "s3cr3t" not in out, out
    assert "value: /usr/bin" in out and "value: /usr/lib" in out, out
    big = text * 4000  # the block path (Hyperscan prefilter) decides as the line path does
    assert redact_text(big) == out * 4000


def test_stream_holds_the_value_line_until_the_name_line_comes() -> None:
    import io

    sink = io.StringIO()
    s = RedactingStream(sink)
    s.write("    - value: s3cr3t-one\n")
    s.write("      name: API_SECRET\n")
    s.flush()
    assert "s3cr3t" not in sink.getvalue() and "name: API_SECRET" in sink.getvalue()
    s.write("    - value: plain\n")
    s.flush()  # nothing after it: the held line comes out at the flush
    assert sink.getvalue().endswith("    - value: plain\n")
