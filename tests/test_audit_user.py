"""User reality: root (in the host's user namespace) opens root:render 0660 GPU nodes as their
owner and needs no render group, so group findings for it are notices at most; the finding says
which user the container runs as and where that comes from."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.deploy.analysis import runs_as, runs_as_root
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.model import Finding


def _find(tmp_path: Path, svc_yaml: str) -> tuple[dict[str, Finding], object]:
    p = tmp_path / "compose.yaml"
    p.write_text("services:\n  s:\n" + svc_yaml)
    loaded = load(p)
    return {f.cause: f for f in audit_model(loaded.model).findings}, loaded.model.services[0]


BASE = "    devices: [/dev/dri/renderD128]\n    shm_size: 16g\n"


def test_root_group_by_name_is_a_notice(tmp_path: Path) -> None:
    got, svc = _find(tmp_path, "    image: intel/vllm:0.17.0-xpu\n    group_add: [video]\n" + BASE)
    f = got["device.group-name-unresolved"]
    assert f.severity.value == "notice"
    assert "runs as root" in f.message and "Dockerfile.xpu sets no USER" in f.message
    assert runs_as_root(svc)  # type: ignore[arg-type]


def test_non_root_group_by_name_stays_degraded(tmp_path: Path) -> None:
    got, _ = _find(
        tmp_path, "    image: intel/vllm:0.17.0-xpu\n    user: '1000'\n    group_add: [video]\n" + BASE
    )
    assert got["device.group-name-unresolved"].severity.value == "degraded"


def test_root_in_a_user_namespace_is_not_host_root(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text(
        "podman run --userns=keep-id --group-add video --device /dev/dri/renderD128 intel/vllm:0.17.0-xpu\n"
    )
    svc = load(p).model.services[0]
    assert not runs_as_root(svc)
    f = {x.cause: x for x in audit_model(load(p).model).findings}["device.group-name-unresolved"]
    assert f.severity.value == "degraded"


def test_root_with_cap_drop_all_needs_no_group(tmp_path: Path) -> None:
    got, _ = _find(tmp_path, "    image: intel/vllm:0.17.0-xpu\n    cap_drop: [ALL]\n" + BASE)
    assert "device.group-denied" not in got
    assert got["audit.group-add-missing"].severity.value == "notice"
    got, _ = _find(tmp_path, "    image: intel/vllm:0.17.0-xpu\n    user: '1000'\n" + BASE)
    f = got["device.group-denied"]
    assert f.severity.value == "blocker" and "runs as 1000 (set by the config)" in f.message


def test_unknown_image_says_where_the_user_comes_from(tmp_path: Path) -> None:
    _, svc = _find(tmp_path, "    image: example/unknown\n" + BASE)
    assert runs_as(svc) == ("root", "no user in the config; root unless the image sets USER")  # type: ignore[arg-type]
