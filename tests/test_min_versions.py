"""The CLI on the oldest release of each runtime dependency that pyproject.toml admits.

A user's environment may hold any release at or above our minimum, and pip keeps what satisfies it. With typer 0.12
(the old minimum) every usage error was an internal error (typer.TyperException came in 0.27.2), and with hyperscan
0.7 every `explain` was one (its scan wanted bytes, not the block reader's memoryview). This builds a virtualenv with
each `name>=X` installed as `name==X` and runs the main commands from the source tree in it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import venv
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def minimum_pins() -> list[str]:
    """`name==X` for each runtime dependency `name>=X` whose marker holds here."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = []
    for dep in deps:
        req = Requirement(dep)
        if req.marker is not None and not Marker(str(req.marker)).evaluate():
            continue
        lows = [s.version for s in req.specifier if s.operator == ">="]
        assert lows, f"{dep}: give a minimum (>=) so the oldest admitted release is tested"
        pins.append(f"{req.name}=={lows[0]}")
    return pins


def test_every_runtime_dependency_has_a_minimum() -> None:
    pins = minimum_pins()
    assert any(p.startswith("typer==") for p in pins) and any(p.startswith("pydantic==") for p in pins)


@pytest.fixture(scope="module")
def old_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("minv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *minimum_pins()],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        if re.search(r"Could not find a version|No matching distribution|NewConnectionError|Network", done.stderr):
            pytest.skip(f"the minimum releases cannot be installed here: {done.stderr.strip().splitlines()[-1]}")
        raise AssertionError(done.stderr)
    return python


def _tpdoctor(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TPDOCTOR_CACHE_DIR": "", "NO_COLOR": "1"}
    env.pop("TPDOCTOR_DEBUG", None)
    return subprocess.run(
        [str(python), "-m", "tpdoctor", *args], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT
    )


def test_the_oldest_releases_are_what_the_venv_holds(old_python: Path) -> None:
    listed = subprocess.run(
        [str(old_python), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, check=True
    )
    have = {_norm(p["name"]): p["version"] for p in json.loads(listed.stdout)}
    for pin in minimum_pins():
        name, version = pin.split("==")
        assert Version(have[_norm(name)]) == Version(version), pin


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.lower())


def test_the_commands_run_on_the_oldest_releases(old_python: Path, tmp_path: Path) -> None:
    log = tmp_path / "shm.log"
    # NCCL's shm transport (src/transport/shm.cc / misc/shmutils.cc): the runtime default 64 MiB /dev/shm
    log.write_text(
        "misc/shmutils.cc:72 NCCL WARN Error: failed to extend /dev/shm/nccl-abc to 9637892 bytes\n"
        "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error\n"
    )
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "services:\n  vllm:\n    image: vllm/vllm-openai\n    privileged: true\n"
        "    command: --model m --tensor-parallel-size 2\n"
    )
    runs = {
        "explain": _tpdoctor(old_python, "explain", str(log)),
        "explain json": _tpdoctor(old_python, "explain", "--format", "json", str(log)),
        "audit": _tpdoctor(old_python, "audit", str(compose)),
        "audit --fix": _tpdoctor(old_python, "audit", "--fix", str(compose)),
        "generate": _tpdoctor(old_python, "generate", "--image", "vllm-openai", "--tp", "2"),
        "rules": _tpdoctor(old_python, "rules"),
        "usage error": _tpdoctor(old_python, "explain", "--no-such-option"),
    }
    for name, run in runs.items():
        assert "internal error" not in run.stderr and "Traceback" not in run.stderr, (name, run.stderr)
    assert "shm.too-small" in runs["explain"].stdout
    assert json.loads(runs["explain json"].stdout)["findings"][0]["cause"] == "shm.too-small"
    assert "security.privileged" in runs["audit"].stdout
    assert runs["audit --fix"].stdout.startswith("---")
    assert "services:" in runs["generate"].stdout
    assert runs["usage error"].returncode == 2 and "no-such-option" in runs["usage error"].stderr
