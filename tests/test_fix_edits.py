"""Edits travel with findings: `--fix` is a fold over the findings no exception allows, written
by one Frontend per format; `explain --config` keeps the findings whose rule remedies a cause."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from deploy_helpers import two_gpu_facts
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.fix import fix_loaded, fixable, patch_for_causes
from tpdoctor.deploy.frontend import FRONTENDS, frontend
from tpdoctor.model.edits import (
    AddItem,
    DropAllCapabilities,
    EmptyDir,
    NoNewPrivileges,
    SetShmSize,
    Unset,
    fold,
)
from tpdoctor.rules.registry import DEPLOY_RULES

PRIV_IPC = """\
services:
  a:  # keep me
    image: intelanalytics/ipex-llm-serving-xpu:latest
    # tpdoctor: allow security.privileged reason=GPU reset tests need it
    privileged: true
    ipc: host
    command: ["--tensor-parallel-size", "2"]
"""


def _svc(text: str) -> dict[str, object]:
    d: dict[str, dict[str, object]] = YAML(typ="safe").load(text)["services"]
    return d["a"]


def test_an_allowed_cause_keeps_its_setting_and_the_others_are_fixed(tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    p.write_text(PRIV_IPC)
    res = fix_loaded(load(p), two_gpu_facts())
    svc = _svc(res.text)
    assert svc["privileged"] is True  # the exception is honoured, with no check in the fixer
    assert "ipc" not in svc and svc["shm_size"] == "16g"  # audit.ipc-host-unneeded's edits
    assert "cap_drop" not in svc  # the hardening comes with the privileged finding, which is allowed
    assert "# keep me" in res.text


def test_every_edit_written_is_carried_by_a_finding(tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    p.write_text(
        PRIV_IPC.replace("    # tpdoctor: allow security.privileged reason=GPU reset tests need it\n", "")
    )
    loaded = load(p)
    carried = {e for f in audit_model(loaded.model, two_gpu_facts(), fixing=True).findings for e in f.edits}
    res = fix_loaded(loaded, two_gpu_facts())
    written = {e for plan in res.plans for e in plan.ops}
    assert written and written <= carried
    assert Unset("privileged") in written and DropAllCapabilities() in written


def test_fold_applies_each_edit_once_in_the_order_a_person_writes_them() -> None:
    edits = [
        DropAllCapabilities(why="a"),
        AddItem("devices", "/dev/dri/renderD128"),
        Unset("privileged"),
        DropAllCapabilities(why="b"),  # the same edit from another finding
        NoNewPrivileges(),
        SetShmSize("16g"),
    ]
    assert fold(edits) == [
        Unset("privileged"),
        AddItem("devices", "/dev/dri/renderD128"),
        SetShmSize("16g"),
        NoNewPrivileges(),
        DropAllCapabilities(),
    ]


def test_an_edit_a_format_cannot_spell_is_reported_not_dropped(tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    p.write_text(PRIV_IPC)
    loaded = load(p)
    svc = loaded.model.services[0]
    refused = loaded.frontend.apply(loaded.handle, svc, [EmptyDir("dshm", "/dev/shm", "Memory", "16Gi")])
    assert len(refused) == 1 and "EmptyDir" in refused[0] and "compose" in refused[0]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("compose.yaml", "services:\n  a:  # c\n    image: x\n"),
        ("run.sh", '#!/bin/sh\ndocker run --rm "$IMG"  # c\n'),
        (
            "pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: x\n",
        ),
        ("devcontainer.json", '{\n  // c\n  "image": "x",\n  "runArgs": ["--init",],\n}\n'),
    ],
)
def test_each_format_has_one_frontend_that_round_trips(name: str, text: str, tmp_path: Path) -> None:
    p = tmp_path / name
    p.write_text(text)
    loaded = load(p)
    assert loaded.frontend is frontend(loaded.fmt)
    assert loaded.frontend.dump(loaded.handle) == text  # nothing applied: the file as written
    assert set(FRONTENDS) == {"compose", "kubernetes", "docker", "podman", "devcontainer"}


# what `explain --config` fixed before the edits moved into the rules (deploy/cause_fix.py's TOPICS)
EXPLAIN_FIXABLE = [
    "oneccl.bypath-missing",
    "oneccl.bypath-no-render-entries",
    "oneccl.bypath-dangling",
    "oneccl.pidfd-unsupported",
    "oneccl.sockets-overridden",
    "oneccl.drmfd-invalid-fd",
    "oneccl.pidfd-ptrace-denied",
    "cuda.ipc-pidfd-denied",
    "rocm.ipc-ptrace-missing",
    "oneccl.tmp-unwritable",
    "device.render-node-missing",
    "device.kfd-missing",
    "device.cgroup-denied",
    "device.no-gpu",
    "device.group-denied",
    "device.group-name-unresolved",
    "userns.gid-unmapped",
    "shm.too-small",
    "security.privileged",
]


def test_every_cause_explain_config_fixed_is_still_remedied_by_a_rule() -> None:
    assert fixable(EXPLAIN_FIXABLE) == EXPLAIN_FIXABLE
    assert fixable(["nccl.p2p-unsupported"]) == []
    # the remedies are declared on the rules themselves (one file per cause)
    assert any(r.remedies for r in DEPLOY_RULES.rules())


def test_explain_filter_keeps_only_the_edits_of_the_diagnosed_cause(tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    p.write_text(
        "services:\n  a:\n    image: vllm/vllm-openai:latest\n    ipc: host\n    security_opt: [seccomp=unconfined]\n"
        "    command: [--tensor-parallel-size, '2']\n"
        "    deploy: {resources: {reservations: {devices: [{driver: nvidia, count: 2, capabilities: [gpu]}]}}}\n"
    )
    svc = _svc(patch_for_causes(p, ["shm.too-small"]).result.text)
    assert "ipc" not in svc and svc["shm_size"] == "16g"
    assert svc["security_opt"] == ["seccomp=unconfined"] and "cap_drop" not in svc  # not the shm cause's


def test_edits_are_not_part_of_the_output() -> None:
    from tpdoctor.model import make_finding

    f = make_finding("security.privileged", "x", edits=[Unset("privileged")])
    assert f.edits == (Unset("privileged"),)
    assert "edits" not in f.model_dump() and "edits" not in f.model_dump_json()
