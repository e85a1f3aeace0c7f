"""`tpdoctor run`'s crash diagnosis on the real oneCCL's output (tests/data/oneccl-real): after its
generated CCL_DRMFD_DEV_RENDER_DIR_PATH got oneCCL past opendir, a render node that cannot be opened
is named by its errno (ENXIO / EPERM / EACCES), never as a dangling by-path or a build that ignores
the variable; only a failed opendir with the variable set blames the build."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.runner.child import Capture
from tpdoctor.runner.safefix import ENV_VAR, Applied, BypathPlan, Link
from tpdoctor.runner.session import explain_capture

DATA = Path(__file__).resolve().parent / "data" / "oneccl-real" / "2021.14.0"


def _diagnose(log: str, tmp_path: Path, predicted: tuple[str, ...] = ()) -> list[str]:
    cap = Capture()
    cap.feed(1, log.encode())
    plan = BypathPlan((Link("pci-0000:00:00.0-render", "/dev/dri/renderD128"),), ("oneccl.bypath-missing",))
    applied = Applied({ENV_VAR: f"{tmp_path}/"}, tmp_path, plan)
    said: list[str] = []
    explain_capture(cap, 2, said.append, applied=[applied], predicted=predicted)
    return said


def _first_cause(said: list[str]) -> str:
    i = next(n for n, s in enumerate(said) if "explain names" in s)
    return said[i + 1].split()[1]


@pytest.mark.parametrize(
    ("scenario", "cause"),
    [
        ("run-no-driver", "device.no-driver"),
        ("run-cgroup", "device.cgroup-denied"),
        ("run-group", "device.group-denied"),
    ],
)
def test_open_failure_after_the_generated_directory_names_the_errno(
    scenario: str, cause: str, tmp_path: Path
) -> None:
    said = _diagnose((DATA / f"{scenario}.log").read_text(), tmp_path, predicted=(cause,))
    assert _first_cause(said) == cause, said
    text = "\n".join(said)
    assert "ignores the variable" not in text
    assert "oneccl.bypath-dangling" not in text
    assert "check predicted this cause before the command started" in text


def test_opendir_failure_with_the_variable_set_blames_the_build(tmp_path: Path) -> None:
    said = _diagnose((DATA / "article.log").read_text(), tmp_path)
    assert _first_cause(said) == "oneccl.bypath-missing"
    assert any("ignores the variable" in s for s in said)
    assert not any("check predicted" in s for s in said)
