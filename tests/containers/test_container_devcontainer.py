"""runtime.flag-value-one-argument, measured with the real docker CLI and engine: a devcontainer.json
runArgs item that holds a flag and its value ("--gpus all") reaches `docker run` as ONE argument (the
devcontainer CLI passes runArgs verbatim: devcontainers/cli src/spec-node/singleContainer.ts), and the
CLI refuses it before the engine sees anything. `audit` must name it, and the items `--fix` writes
must be accepted: the same argv, with the fixed items, gets past the CLI's flag parser (the /dev/shm
size reaches the container; --gpus reaches the engine, which here has no GPU driver to select)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.fix import fix_loaded

from .container_harness import IMAGE, Toolbox

pytestmark = pytest.mark.container

CONFIG = """{
  // two GPUs for a TP=2 dev loop; each item below is what a user wrote in a JSON list
  "image": "vllm/vllm-openai:v0.9.2",
  "runArgs": ["--gpus all", "--shm-size 1g"]
}
"""


def _docker_run(run_args: list[str]) -> subprocess.CompletedProcess[str]:
    """`docker run` as the devcontainer CLI makes it: the runArgs items verbatim, then the image."""
    argv = ["docker", "run", "--rm", *run_args, "-v", "/usr:/usr:ro", IMAGE, "/usr/bin/df", "-k", "/dev/shm"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def _run_args(text: str) -> list[str]:
    # JSONC: YAML's flow syntax reads this file's JSON once the one line comment is gone
    data: Any = YAML(typ="safe").load("\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("//")))
    return [str(a) for a in data["runArgs"]]


def test_glued_items_are_refused_and_the_fixed_ones_accepted(toolbox: Toolbox, tmp_path: Path) -> None:
    p = tmp_path / ".devcontainer" / "devcontainer.json"
    p.parent.mkdir()
    p.write_text(CONFIG)
    loaded = load(p)
    found = [f for f in audit_model(loaded.model).findings if f.cause == "runtime.flag-value-one-argument"]
    assert len(found) == 2, [f.cause for f in audit_model(loaded.model).findings]

    # as written: the CLI stops at the first glued item, and says which
    before = _docker_run(_run_args(CONFIG))
    assert before.returncode == 125, before
    assert "unknown flag: --gpus all" in before.stderr, before.stderr
    shm_only = _docker_run(["--shm-size 1g"])
    assert "unknown flag: --shm-size 1g" in shm_only.stderr, shm_only.stderr

    fixed = fix_loaded(loaded, None).text
    assert fixed is not None and fixed != CONFIG
    args = _run_args(fixed)
    assert len(args) == 2 and not any(" " in a for a in args), args
    # the fixed /dev/shm item alone starts the container, and the size arrives
    shm = _docker_run([a for a in args if a.startswith("--shm-size")])
    assert shm.returncode == 0, shm.stderr
    size_k = int(shm.stdout.splitlines()[-1].split()[1])
    assert size_k == 1024 * 1024, shm.stdout
    # the whole fixed list gets past the CLI; the engine then answers about the GPU request itself
    after = _docker_run(args)
    assert "unknown flag" not in after.stderr, after.stderr
    assert after.returncode == 0 or "capabilities: [[gpu]]" in after.stderr, after.stderr
