"""compose.key-ignored / compose.key-unsupported: keys podman-compose drops and docker-compose 1.29 refuses."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.fix import fix_loaded

VLLM_IPC_HOST = """\
services:
  vllm:
    image: vllm/vllm-openai:latest
    ipc: host
    deploy:
      resources:
        reservations:
          devices:
            - driver: nvidia
              count: 2
              capabilities: [gpu]
    command: --model m --tensor-parallel-size 2
"""


def _findings(p: Path, impl: str | None = None) -> list:  # type: ignore[type-arg]
    return [
        f
        for f in audit_model(load(p).model, compose_impl=impl).findings
        if f.cause.startswith("compose.key-")
    ]


def test_x_podman_makes_ipc_host_without_shm_size_a_blocker(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("x-podman:\n  in_pod: false\n" + VLLM_IPC_HOST)
    (f,) = _findings(p)
    assert f.cause == "compose.key-ignored" and f.severity.value == "blocker" and f.confidence == "proves"
    assert "shm_size" in f.message and "64 MB" in f.message
    assert [e.line for e in f.evidence] == [6, 1]  # the ipc line, then the x-podman key
    assert any("shm_size: 16g" in x.snippet for x in f.fixes)


def test_no_signal_no_finding(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(VLLM_IPC_HOST)
    assert _findings(p) == []
    # `podman compose` (space) may run docker-compose: not a signal either
    p.write_text("# start: podman compose up\n" + VLLM_IPC_HOST)
    assert _findings(p) == []


def test_comment_hint_suggests_and_option_proves(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("# run with podman-compose up -d\n" + VLLM_IPC_HOST)
    (f,) = _findings(p)
    assert f.confidence == "suggests"
    p.write_text(VLLM_IPC_HOST)
    (f,) = _findings(p, "podman-compose")
    assert f.confidence == "proves" and f.evidence[-1].text == "--compose-impl podman-compose"
    assert _findings(p, "compose-v2") == []


def test_ipc_host_with_shm_size_is_only_a_notice(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(VLLM_IPC_HOST.replace("    ipc: host\n", "    ipc: host\n    shm_size: 16g\n"))
    (f,) = _findings(p, "podman-compose")
    assert f.severity.value == "notice" and "refuses --shm-size" in f.message


def test_podman_compose_gpu_keys_it_skips(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "services:\n  a:\n    image: vllm/vllm-openai\n    gpus: all\n    shm_size: 16g\n"
        "    command: --tensor-parallel-size 2\n"
        "  b:\n    image: vllm/vllm-openai\n    shm_size: 16g\n    command: --tensor-parallel-size 2\n"
        "    deploy: {resources: {reservations: {devices: [{capabilities: [gpu], count: 2}]}}}\n"
    )
    got = {(f.evidence[0].text.split(":")[0], f.severity.value) for f in _findings(p, "podman-compose")}
    assert got == {("a", "blocker"), ("b", "blocker")}
    # the nvidia reservation podman-compose does map (VLLM_IPC_HOST's) is not reported
    q = tmp_path / "ok.yaml"
    q.write_text(VLLM_IPC_HOST.replace("    ipc: host\n", "    shm_size: 16g\n"))
    assert _findings(q, "podman-compose") == []


def test_fix_removes_what_podman_compose_would_drop(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("x-podman:\n  in_pod: false\n" + VLLM_IPC_HOST)
    fixed = fix_loaded(load(p), None).text
    assert "ipc:" not in fixed and "shm_size: 16g" in fixed
    p.write_text(fixed)
    assert _findings(p) == []


V1_FILE = """\
version: "3.8"
services:
  s:
    image: vllm/vllm-openai
    command: --tensor-parallel-size 2
    shm_size: 16g
    gpus: all
  x:
    image: intelanalytics/ipex-llm-serving-xpu
    shm_size: 16g
    devices:
      - source: /dev/dri/renderD128
        target: /dev/dri/renderD128
        permissions: rwm
"""


def test_docker_compose_v1_refusals_via_cli(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(V1_FILE)
    r = run_cli("audit", str(p), "--compose-impl", "docker-compose-v1", "--format", "json")
    assert r.returncode == 3, r.stderr
    got = [
        (f["cause"], f["evidence"][0]["text"].split(":")[0])
        for f in json.loads(r.stdout)["findings"]
        if f["cause"].startswith("compose.")
    ]
    assert sorted(got) == [("compose.key-unsupported", "s"), ("compose.key-unsupported", "x")]
    r2 = run_cli("audit", str(p), "--format", "json")
    assert not [f for f in json.loads(r2.stdout)["findings"] if f["cause"].startswith("compose.key")]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (v1) not installed")
def test_docker_compose_v1_really_refuses_these_keys(tmp_path: Path) -> None:
    """The rule's claims, checked against the real docker-compose 1.x when it is installed."""
    ver = subprocess.run(["docker-compose", "version", "--short"], capture_output=True, text=True)
    if not ver.stdout.startswith("1."):
        pytest.skip(f"docker-compose {ver.stdout.strip()} is not v1")
    for body, needle in (
        ("    gpus: all\n", "Unsupported config option for services.s: 'gpus'"),
        (
            "    devices:\n      - source: /dev/dri/renderD128\n        target: /dev/dri/renderD128\n",
            "should be a string",
        ),
    ):
        p = tmp_path / "docker-compose.yml"
        p.write_text('version: "3.8"\nservices:\n  s:\n    image: vllm/vllm-openai\n' + body)
        r = subprocess.run(["docker-compose", "-f", str(p), "config"], capture_output=True, text=True)
        assert r.returncode != 0 and needle in r.stderr
    p.write_text(VLLM_IPC_HOST)  # the device reservation is read (1.28+)
    r = subprocess.run(["docker-compose", "-f", str(p), "config"], capture_output=True, text=True)
    assert r.returncode == 0 and "driver: nvidia" in r.stdout
