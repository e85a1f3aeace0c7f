"""One snapshot reader for every command that takes one: a wrong shape (`{}`, a report that
wraps the facts, another schema version, not JSON) is a one-line error with exit 2 everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from deploy_helpers import two_gpu_facts
from tpdoctor.model.facts import SCHEMA_VERSION

BAD = {
    "empty-object": ("{}", "no schema_version"),
    "wrapped": (None, "a JSON report with facts inside"),
    "other-schema": (None, f"this tpdoctor reads {SCHEMA_VERSION}"),
    "not-json": ("{not json", "invalid JSON"),
    "list": ("[]", "no schema_version"),
}


def _bad(kind: str, tmp_path: Path) -> Path:
    text, _ = BAD[kind]
    good = json.loads(two_gpu_facts().model_dump_json())
    if kind == "wrapped":
        text = json.dumps({"command": "check", "facts": good})
    elif kind == "other-schema":
        text = json.dumps({**good, "schema_version": SCHEMA_VERSION + 1})
    p = tmp_path / f"{kind}.json"
    p.write_text(text or "")
    return p


def _commands(snap: Path, good: Path, tmp_path: Path) -> dict[str, list[str]]:
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "services:\n  s:\n    image: intel/vllm:0.17.0-xpu\n    devices: [/dev/dri/renderD128]\n"
    )
    log = tmp_path / "vllm.log"
    log.write_text("RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed\n")
    return {
        "check --from-snapshot": ["check", "--from-snapshot", str(snap)],
        "check --compare": ["check", "--compare", str(good), str(snap)],
        "audit --host-facts": ["audit", str(compose), "--host-facts", str(snap)],
        "explain --config --host-facts": [
            "explain",
            str(log),
            "--config",
            str(compose),
            "--host-facts",
            str(snap),
        ],
    }


@pytest.mark.parametrize("kind", sorted(BAD))
def test_every_command_rejects_wrong_shapes(kind: str, tmp_path: Path) -> None:
    snap = _bad(kind, tmp_path)
    good = tmp_path / "good.json"
    good.write_text(two_gpu_facts().model_dump_json())
    for name, argv in _commands(snap, good, tmp_path).items():
        r = run_cli(*argv)
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        assert BAD[kind][1] in r.stderr and "Traceback" not in r.stderr, (name, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)


def test_a_real_snapshot_is_accepted_everywhere(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(two_gpu_facts().model_dump_json())
    for name, argv in _commands(good, good, tmp_path).items():
        r = run_cli(*argv)
        assert r.returncode in (0, 3, 4) and "Traceback" not in r.stderr, (name, r.stderr)
