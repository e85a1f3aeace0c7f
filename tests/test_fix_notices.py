"""The notices only `audit --fix` reports (oneCCL's route pinned for plugin GPUs, the render
group added for runtime GPUs) reach the user: text, JSON and SARIF, and explain --config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from test_explain_config import ARTICLE_LINE, K8S

CDI_COMPOSE = """\
services:
  llm:
    image: intelanalytics/ipex-llm-serving-xpu:latest
    command: ["--tensor-parallel-size", "2"]
    devices:
      - intel.com/gpu=all
    shm_size: 16g
    volumes:
      - /dev/dri/by-path:/dev/dri/by-path:ro
"""

# (file name, text, the notice's cause, words of its message, the edit it explains)
CASES = [
    ("deploy.yaml", K8S, "oneccl.bypath-missing", "by-path comes from the GPU plugin", "CCL_ZE_IPC_EXCHANGE"),
    (
        "compose.yaml",
        CDI_COMPOSE,
        "audit.group-add-missing",
        "numeric render GID keeps GPU access",
        "RENDER_GID",
    ),
]


@pytest.mark.parametrize(("name", "text", "cause", "words", "edit"), CASES)
def test_fix_notice_in_text_json_and_sarif(
    tmp_path: Path, name: str, text: str, cause: str, words: str, edit: str
) -> None:
    p = tmp_path / name
    p.write_text(text)
    r = run_cli("audit", "--fix", str(p))
    assert edit in r.stdout  # the diff makes the edit the notice explains
    assert f"NOTICE {cause}" in r.stderr and words in r.stderr, r.stderr
    j = json.loads(run_cli("audit", "--fix", "-f", "json", str(p)).stderr)
    assert [f["severity"] for f in j["findings"] if f["cause"] == cause and words in f["message"]] == [
        "notice"
    ]
    s = json.loads(run_cli("audit", "--fix", "-f", "sarif", str(p)).stderr)
    results = s["runs"][0]["results"]
    assert any(x["ruleId"] == cause and words in x["message"]["text"] for x in results), results
    # a plain audit does not report it: nothing is wrong as written
    plain = json.loads(run_cli("audit", "-f", "json", str(p)).stdout)
    assert not any(words in f["message"] for f in plain["findings"])


def test_write_reports_the_notice_too(tmp_path: Path) -> None:
    p = tmp_path / "deploy.yaml"
    p.write_text(K8S)
    r = run_cli("audit", "--write", "-f", "json", str(p))
    assert any("by-path comes from the GPU plugin" in f["message"] for f in json.loads(r.stdout)["findings"])
    assert "CCL_ZE_IPC_EXCHANGE" in p.read_text()


def test_explain_config_shows_the_route_notice(tmp_path: Path) -> None:
    lp, cp = tmp_path / "vllm.log", tmp_path / "deploy.yaml"
    lp.write_text(ARTICLE_LINE + "\n")
    cp.write_text(K8S)
    out = json.loads(run_cli("explain", str(lp), "--config", str(cp), "-f", "json").stdout)["config"]
    assert any("by-path comes from the GPU plugin" in n for n in out["notices"]), out
    r = run_cli("explain", str(lp), "--config", str(cp))
    assert "notice: Deployment/vllm/vllm: by-path comes from the GPU plugin" in r.stderr
