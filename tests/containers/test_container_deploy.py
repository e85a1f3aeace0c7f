"""The adaptation of files tpdoctor wrote (container_deploy.py), without an engine: it must keep
every security-relevant setting, refuse what it does not know, and run scripts as bash does."""

from __future__ import annotations

from pathlib import Path

import pytest

from .container_deploy import AdaptError, adapt_compose, corpus_config, docker_run_argv, sdk_kwargs
from .container_harness import FakeHost, intel_gpus

COMPOSE = """\
services:
  llm:
    build: .
    image: intelanalytics/ipex-llm-serving-xpu:latest
    container_name: llm
    restart: always
    user: "1000"
    read_only: true
    devices:
      - /dev/dri/renderD128
      - /dev/dri/renderD129:/dev/dri/renderD129:rwm
    volumes:
      - "/dev/dri/by-path:/dev/dri/by-path:ro"
      - /models:/llm/models
      - cache:/root/.cache
    group_add: ["105"]
    cap_drop: [ALL]
    cap_add: [SYS_PTRACE]
    security_opt: ["no-new-privileges:true"]
    shm_size: 16g
    tmpfs: [/tmp]
    ipc: private
    environment: {CCL_ZE_IPC_EXCHANGE: drmfd}
    ports: ["8000:8000"]
    network_mode: host
    command: serve
  webui:
    image: ghcr.io/open-webui/open-webui
    depends_on: [llm]
volumes:
  cache: {}
"""
KEPT = ("user", "read_only", "group_add", "cap_drop", "cap_add", "security_opt", "shm_size", "tmpfs", "ipc")


@pytest.fixture
def host(tmp_path: Path) -> FakeHost:
    return FakeHost(tmp_path / "host", intel_gpus(2), pci_root="pci0000:00")


def test_compose_keeps_every_security_setting_and_maps_only_host_sides(
    host: FakeHost, tmp_path: Path
) -> None:
    from ruamel.yaml import YAML

    original = YAML(typ="safe").load(COMPOSE)["services"]["llm"]
    doc, services, notes = adapt_compose(COMPOSE, host, tmp_path / "scratch")
    assert services == ("llm",) and set(doc["services"]) == {"llm"}
    svc = doc["services"]["llm"]
    for key in KEPT:
        assert svc[key] == original[key], key
    assert svc["environment"] == original["environment"]
    assert svc["devices"] == [
        f"{host.dri}/renderD128:/dev/dri/renderD128",
        f"{host.dri}/renderD129:/dev/dri/renderD129:rwm",
    ]
    assert svc["volumes"][0] == f"{host.dri}/by-path:/dev/dri/by-path:ro"
    assert (
        svc["volumes"][1].startswith(str(tmp_path / "scratch")) and svc["volumes"][2] == "cache:/root/.cache"
    )
    for gone in ("build", "image", "container_name", "restart", "ports", "network_mode", "command"):
        assert gone not in svc
    assert "service webui (no GPU) dropped" in notes


def test_docker_run_flags_become_sdk_arguments(host: FakeHost, tmp_path: Path) -> None:
    argv = [
        *("-itd", "--rm", "--name", "x", "--net=host", "-p", "8000:8000"),
        *("--device", "/dev/dri/renderD128", "-v", "/dev/dri/by-path:/dev/dri/by-path:ro"),
        *("--group-add", "105", "--cap-drop", "ALL", "--cap-add=SYS_PTRACE", "--security-opt"),
        *("no-new-privileges:true", "--shm-size", "16g", "--tmpfs", "/tmp", "--read-only", "-u", "1000"),
        *("--ipc", "host", "-e", "A=1", "--memory", "32G", "image", "--tp", "2"),
    ]
    kw, notes = sdk_kwargs(argv, host, tmp_path / "scratch")
    assert kw == {
        "devices": [f"{host.dri}/renderD128:/dev/dri/renderD128"],
        "volumes": [f"{host.dri}/by-path:/dev/dri/by-path:ro"],
        "group_add": ["105"],
        "cap_drop": ["ALL"],
        "cap_add": ["SYS_PTRACE"],
        "security_opt": ["no-new-privileges:true"],
        "shm_size": "16g",
        "tmpfs": {"/tmp": ""},
        "read_only": True,
        "user": "1000",
        "ipc_mode": "host",
        "environment": {"A": "1"},
        "mem_limit": "32G",
    }
    assert notes == ["dropped -itd --rm --name x --net host -p 8000:8000"]


@pytest.mark.parametrize(
    "argv",
    [["--sysctl", "kernel.x=1", "image"], ["--device", "/dev/kfd", "image"], ["--rm"]],
)
def test_what_cannot_be_kept_fails(host: FakeHost, tmp_path: Path, argv: list[str]) -> None:
    with pytest.raises(AdaptError):
        sdk_kwargs(argv, host, tmp_path / "scratch")


def test_scripts_run_as_bash_runs_them(shared_dir: Path, tmp_path: Path) -> None:
    """The corpus' broken continuation: bash runs `docker run` without -v and --shm-size."""
    cfg = corpus_config("ipex-llm-fastchat-docker-run-broken-continuation")
    argv = docker_run_argv(cfg["content"], tmp_path)
    assert argv == ["-itd", "--net=host", "--device=/dev/dri", "--name=demo-container"]
    again = tmp_path / "again"
    again.mkdir()
    fixed = "$ export IMG=x\n$ sudo docker run \\\n  --shm-size 16g \\\n  $IMG check\n"
    assert docker_run_argv(fixed, again) == ["--shm-size", "16g", "x", "check"]


def test_every_intel_corpus_config_is_started(shared_dir: Path) -> None:
    """A new xpu compose/docker-run/podman-run config in the corpus needs its `fixed:` row."""
    from ruamel.yaml import YAML

    from .container_scenarios import WRITTEN_BY_TPDOCTOR

    intel = set()
    for p in (shared_dir / "corpus" / "configs").glob("*.yaml"):
        cfg = YAML(typ="safe").load(p.read_text())
        if cfg["backend"] == "xpu":
            assert cfg["kind"] in ("compose", "docker-run", "podman-run"), f"{cfg['id']}: cannot start here"
            intel.add(cfg["id"])
    started = {s.source.corpus_id for s in WRITTEN_BY_TPDOCTOR if s.source and s.source.tool == "audit-fix"}
    assert intel and started == intel
