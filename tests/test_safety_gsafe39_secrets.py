"""gsafe39: secrets planted in the inputs of the new messages never reach any output format.

The bug: a value was cut before the output's redactor saw it, and the cut took away the shape the redactor knows.
`NVIDIA_VISIBLE_DEVICES=https://admin:<password>@host` was quoted as its first 40 characters (rules/
deploy_topology.py): the password's head without the '@' came out in text, JSON and SARIF; an `hf_` token cut after
5 characters too; explain's evidence lines (500 characters, explain/normalize.display), the text renderer's evidence
(300), SARIF's snippets (500), a quoted command (200) and a GPU resource's quantity (40) the same way. Now each is
redacted before it is cut (redact.clip)."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke
from tpdoctor.explain.normalize import DISPLAY_MAX

PASSWORD = "SuperSecretPassw0rd1234567890"
URL = f"https://admin:{PASSWORD}@example.com/x"
HF = "hf_abcdefghijklmnopqrstuvwxyz0123456789"
AWS = "AKIAIOSFODNN7EXAMPLE"
LEAKS = (PASSWORD[:6], HF[3:8], AWS[4:10], "Hunter2", "eyJhbGciOiJIUzI1NiJ9", "dXNlcjpwYXNz")
FORMATS = ("text", "json", "sarif")


def _clean(out: str, what: str) -> None:
    for leak in LEAKS:
        assert leak not in out, f"{what}: {leak!r} in\n{out[-3000:]}"


def _pod(env_value: str, limits: str = "") -> str:
    return (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: vllm\nspec:\n  containers:\n  - name: vllm\n"
        '    image: vllm/vllm-openai:latest\n    args: ["--model", "m", "--tensor-parallel-size", "2"]\n'
        f"    env:\n    - name: NVIDIA_VISIBLE_DEVICES\n      value: {env_value!r}\n"
        "    - name: HF_TOKEN\n      value: " + HF + "\n    - name: DB_PASSWORD\n      value: Hunter2xyz\n"
        f"    - name: AWS_ACCESS_KEY_ID\n      value: {AWS}\n" + limits
    )


@pytest.mark.parametrize(
    "value",
    [URL, "0,1,2,3,4,5,6,7,8,9,10,11,12,13 " + HF, f"0,1 {AWS}xyz", "0 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abcd"],
    ids=["url", "hf", "aws", "bearer"],
)
def test_the_nvidia_visible_devices_message_quotes_no_secret(tmp_path: Path, value: str) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text(_pod(value))
    for fmt in FORMATS:
        code, out = invoke("audit", str(f), "--format", fmt, "--verbose")
        _check(code, out, fmt)
        assert "NVIDIA_VISIBLE_DEVICES=" in out or fmt == "sarif"
        _clean(out, fmt)


def test_an_other_gpu_resource_quantity_quotes_no_secret(tmp_path: Path) -> None:
    f = tmp_path / "pod.yaml"
    limits = f"    resources:\n      limits:\n        nvidia.com/gpu.shared: {'x' * 10 + ' ' + URL!r}\n"
    f.write_text(_pod("void", limits))
    for fmt in FORMATS:
        code, out = invoke("audit", str(f), "--format", fmt, "--verbose")
        _check(code, out, fmt)
        _clean(out, fmt)


def test_explain_cuts_no_log_line_inside_a_secret(tmp_path: Path) -> None:
    pre = "RuntimeError: CUDA error: invalid device ordinal while fetching "
    log = tmp_path / "url.log"
    log.write_text(pre + "x" * (DISPLAY_MAX - len(pre) - 30) + " " + URL + "\n")
    run = tmp_path / "run.log"
    run.write_text(
        "docker run --gpus all " + "-e A=1 " * 24 + f"-e DB={URL} vllm/vllm-openai --tensor-parallel-size 8\n"
        "RuntimeError: CUDA error: invalid device ordinal\n"
        "NCCL WARN Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abcdefghijklmnop\n"
        f"export HF_TOKEN={HF} AWS_ACCESS_KEY_ID={AWS} password: Hunter2xyz auth: dXNlcjpwYXNz\n"
    )
    for path in (log, run):
        for fmt in FORMATS:
            code, out = invoke("explain", str(path), "--format", fmt, "--verbose")
            _check(code, out, f"{path.name} {fmt}")
            assert "https://admin:" in out or path is run
            _clean(out, f"{path.name} {fmt}")


def test_the_renderers_redact_before_they_cut() -> None:
    from tpdoctor.model import Evidence, Finding, Report, Severity
    from tpdoctor.render import sarif
    from tpdoctor.render.text import _evidence_line

    assert PASSWORD[:6] not in _evidence_line("f", 1, "x" * 280 + " " + URL)
    text = "x" * 460 + " " + URL
    finding = Finding(cause="vllm.tp-exceeds-visible-gpus", severity=Severity.blocker, summary="s", message="m",
                      evidence=[Evidence(source="f.yaml", line=3, text=text)])
    out = sarif.render_sarif(Report(command="audit", findings=[finding]))
    assert PASSWORD[:6] not in out and "<redacted>" in out


def test_clip_redacts_then_cuts() -> None:
    from tpdoctor.redact import clip

    assert clip(URL, 30) == "https://admin:<redacted>@examp"
    assert clip("0,1 " + HF, 12, "…") == "0,1 <redacte…"
    assert clip("0,1", 40) == "0,1"
