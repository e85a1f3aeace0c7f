"""The packaged cause catalog stays a superset of the shared one, and fixes name real ids."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from tpdoctor.model import catalog
from tpdoctor.model.fixes import causes_with_fixes, fix_context, fixes_for


def test_shared_ids_are_identical_in_package(shared_dir: Path) -> None:
    shared = YAML(typ="safe").load((shared_dir / "causes.yaml").read_text())
    ours = catalog()
    for cid, spec in shared.items():
        assert cid in ours, f"{cid} missing from src/tpdoctor/data/causes.yaml"
        assert ours[cid].severity.value == spec["severity"], cid
        assert ours[cid].summary == spec["summary"], cid


def test_ids_follow_the_naming_style() -> None:
    for cid in catalog():
        family, _, what = cid.partition(".")
        assert family and what and cid == cid.lower() and " " not in cid, cid


def test_every_fix_entry_names_a_catalog_cause() -> None:
    unknown = causes_with_fixes() - set(catalog())
    assert not unknown, unknown


def test_fixes_are_ordered_least_privilege_first_and_privileged_has_risk() -> None:
    fixes = fixes_for(
        "oneccl.bypath-missing", fix_context(render_nodes=["/dev/dri/renderD130"], render_gid=992)
    )
    order = {"none": 0, "capability": 1, "host-change": 2, "privileged": 3}
    ranks = [order[f.privilege] for f in fixes]
    assert ranks == sorted(ranks)
    assert fixes[0].id == "bypath-mount"
    assert fixes[-1].privilege == "privileged" and fixes[-1].risk
    compose = next(f for f in fixes if f.id == "bypath-mount" and f.runtime == "compose")
    assert "/dev/dri/renderD130" in compose.snippet and '"992"' in compose.snippet
    assert "/dev/dri/by-path:/dev/dri/by-path:ro" in compose.snippet
    assert not fixes_for("oneccl.bypath-missing", include_privileged=False)[-1].privilege == "privileged"
