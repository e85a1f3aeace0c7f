"""docs/rules.md names, per deploy cause, the logged causes its edits fix and the edits it makes,
read from the rules' own code (a rule that starts attaching an edit type shows it)."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.docs import deploy_edits, edit_kinds
from tpdoctor.rules import deploy_devices, deploy_security

REPO = Path(__file__).resolve().parents[1]


def test_edit_kinds_follow_the_rule_and_its_helpers() -> None:
    # through _ipc_route and k8s_gpu_limit (deploy_common); FixNotice is a marker, not an edit
    assert edit_kinds(deploy_devices.bypath_missing) == {
        "AddCapability",
        "AddItem",
        "Manual",
        "ReserveGpus",
        "SetEnv",
    }
    # `svc.privileged` is an attribute, not the rule `privileged` with its whole least-privilege edit
    assert edit_kinds(deploy_security.pid_host_ptrace) == {"Unset"}
    assert edit_kinds(deploy_security.secret_inline) == set()


def test_remedies_and_edits_per_deploy_cause() -> None:
    table = deploy_edits()
    rem, kinds = table["oneccl.bypath-missing"]
    assert "oneccl.pidfd-unsupported" in rem and "oneccl.bypath-missing" not in rem
    assert kinds == sorted(kinds) and "SetEnv" in kinds
    assert table["security.privileged"][0] == ["*"]
    assert table["audit.secret-inline"] == ([], [])


def test_rules_md_shows_them() -> None:
    text = (REPO / "docs/rules.md").read_text()
    section = text[text.index("\n## oneccl.bypath-missing\n") :]
    section = section[: section.index("\n## ", 5)]
    assert "Remedies (what `explain --config` fixes with its edits): `oneccl.bypath-missing`" in section
    assert "[`oneccl.pidfd-unsupported`](#onecclpidfd-unsupported)" in section
    assert "`AddCapability`, `AddItem`, `Manual`, `ReserveGpus`, `SetEnv`." in section
