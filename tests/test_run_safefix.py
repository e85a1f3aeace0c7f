"""`tpdoctor run`'s safe fix as a pure function of Facts (fake roots), the directory it creates,
and the job read from the command line. The proof that a plan works is the real rules: the fake
root is re-collected with the generated directory inside it and must have no by-path finding."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import pytest

from fakeroot import FakeRoot, article_root
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts, Finding
from tpdoctor.rules import run_fact_rules
from tpdoctor.runner.job import infer_job
from tpdoctor.runner.safefix import (
    BYPATH_CAUSES,
    ENV_VAR,
    BypathPlan,
    Link,
    NoFix,
    create_bypath_dir,
    plan_bypath_dir,
    private_base,
)
from tpdoctor.runner.session import Prepared, check_and_fix

BDF0, BDF1, BDF2 = "0000:03:00.0", "0000:04:00.0", "0000:05:00.0"
TP2 = CheckOptions(tp=2)


def facts_and_findings(fr: FakeRoot, env: dict[str, str] | None = None) -> tuple[Facts, list[Finding]]:
    facts = collect_facts(fr.root, dict(fr.env) if env is None else env, live=False)
    return facts, run_fact_rules(facts, TP2)


def bypath_causes(findings: list[Finding]) -> set[str]:
    return {f.cause for f in findings if f.cause in BYPATH_CAUSES or f.cause == "oneccl.drmfd-dir-no-slash"}


def apply_in_root(fr: FakeRoot, plan: BypathPlan) -> list[Finding]:
    """Create the planned directory inside the fake root's /tmp and re-run the rules with it."""
    applied = create_bypath_dir(plan, [fr.path("tmp")])
    inroot = "/" + str(applied.directory.relative_to(fr.root)) + "/"
    assert applied.env == {ENV_VAR: f"{applied.directory}/"}
    _, after = facts_and_findings(fr, {**fr.env, ENV_VAR: inroot})
    return after


def test_article_container_gets_a_link_per_render_node_and_the_rules_pass(tmp_path: Path) -> None:
    fr = article_root(tmp_path)
    facts, findings = facts_and_findings(fr)
    assert "oneccl.bypath-missing" in bypath_causes(findings)
    plan = plan_bypath_dir(facts, findings, TP2)
    assert isinstance(plan, BypathPlan)
    assert plan.links == (
        Link(f"pci-{BDF0}-render", "/dev/dri/renderD128"),
        Link(f"pci-{BDF1}-render", "/dev/dri/renderD129"),
    )
    assert plan.causes == ("oneccl.bypath-missing",) and plan.skipped == ()
    after = apply_in_root(fr, plan)
    assert bypath_causes(after) == set()
    # the rest of the prediction stands: sockets is still overridden, nothing is hidden
    assert "oneccl.sockets-overridden" in {f.cause for f in after}


def test_dangling_host_bypath_is_replaced_by_exactly_the_nodes_present(tmp_path: Path) -> None:
    fr = (
        FakeRoot(tmp_path)
        .add_gpu(128, BDF0)
        .add_gpu(129, BDF1)
        .add_gpu(130, BDF2, node=False)  # the host has a third GPU the container did not get
        .add_bypath(BDF0, 128)
        .add_bypath(BDF1, 129)
        .add_bypath(BDF2, 130)
        .docker_default()
        .dockerenv()
    )
    facts, findings = facts_and_findings(fr)
    assert "oneccl.bypath-dangling" in bypath_causes(findings)
    plan = plan_bypath_dir(facts, findings, TP2)
    assert isinstance(plan, BypathPlan)
    assert [ln.name for ln in plan.links] == [f"pci-{BDF0}-render", f"pci-{BDF1}-render"]
    assert bypath_causes(apply_in_root(fr, plan)) == set()


def test_stale_names_are_fixed(tmp_path: Path) -> None:
    fr = (
        FakeRoot(tmp_path)
        .add_gpu(128, BDF0)
        .add_gpu(129, BDF1)
        .symlink(f"dev/dri/by-path/pci-{BDF2}-render", "../renderD128")  # another host's names
        .symlink("dev/dri/by-path/pci-0000:06:00.0-render", "../renderD129")
        .docker_default()
        .dockerenv()
    )
    facts, findings = facts_and_findings(fr)
    assert "oneccl.bypath-stale" in bypath_causes(findings)
    plan = plan_bypath_dir(facts, findings, TP2)
    assert isinstance(plan, BypathPlan)
    assert bypath_causes(apply_in_root(fr, plan)) == set()


def test_nothing_to_fix_when_bypath_is_mounted(tmp_path: Path) -> None:
    fr = article_root(tmp_path).add_bypath(BDF0, 128).add_bypath(BDF1, 129)
    facts, findings = facts_and_findings(fr)
    assert bypath_causes(findings) == set()
    assert plan_bypath_dir(facts, findings, TP2) is None


def test_a_variable_the_user_set_is_never_overridden(tmp_path: Path) -> None:
    fr = article_root(tmp_path).set_env(**{ENV_VAR: "/srv/my-by-path/"})
    facts, findings = facts_and_findings(fr)
    assert "oneccl.bypath-missing" in bypath_causes(findings)
    plan = plan_bypath_dir(facts, findings, TP2)
    assert isinstance(plan, NoFix) and "set by you" in plan.reason


def test_old_oneccl_ignores_the_variable_so_no_fix_is_pretended(tmp_path: Path) -> None:
    fr = article_root(tmp_path).set_env(
        LD_LIBRARY_PATH="/opt/intel/oneapi/ccl/2021.12/lib", CCL_ZE_IPC_EXCHANGE="drmfd"
    )
    facts, findings = facts_and_findings(fr)
    assert "oneccl.bypath-missing" in bypath_causes(findings)
    plan = plan_bypath_dir(facts, findings, TP2)
    assert isinstance(plan, NoFix) and "2021.12" in plan.reason and "2021.13.1" in plan.reason


def test_unknown_version_is_still_fixed_and_says_so(tmp_path: Path) -> None:
    fr = article_root(tmp_path)
    fr.env.pop("LD_LIBRARY_PATH")
    fr.flush()
    (fr.root / "opt/intel/1ccl-wks").rmdir()
    facts, findings = facts_and_findings(fr)
    plan = plan_bypath_dir(facts, findings, TP2)
    assert isinstance(plan, BypathPlan) and "version unknown" in plan.version_note


def test_renamed_and_unknown_nodes_are_not_linked(tmp_path: Path) -> None:
    fr = (
        FakeRoot(tmp_path)
        .add_sysfs_gpu(128, BDF0)
        .add_sysfs_gpu(129, BDF1)
        .mknod("dev/dri/renderD128", 226, 129)  # --device /dev/dri/renderD129:/dev/dri/renderD128
        .add_render_node(130)  # no sysfs entry: no PCI address to name it by
        .docker_default()
        .dockerenv()
    )
    facts, findings = facts_and_findings(fr)
    plan = plan_bypath_dir(facts, findings, TP2)
    assert isinstance(plan, NoFix)
    assert "renamed node" in plan.reason and "renderD130: no PCI address" in plan.reason


def test_directory_is_private_fresh_and_removed(tmp_path: Path) -> None:
    plan = BypathPlan((Link(f"pci-{BDF0}-render", "/dev/dri/renderD128"),), ("oneccl.bypath-missing",))
    unwritable = tmp_path / "ro"
    unwritable.mkdir()
    os.chmod(unwritable, 0o500)
    bases = [tmp_path / "missing", tmp_path]
    if os.geteuid() != 0:
        bases.insert(0, unwritable)
    first = create_bypath_dir(plan, bases)
    second = create_bypath_dir(plan, bases)
    assert first.directory != second.directory  # never reuses (or follows) an existing path
    d = first.directory
    assert d.parent == tmp_path and d.name.startswith(f"tpdoctor-ccl-by-path-{os.getuid()}-")
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert os.readlink(d / f"pci-{BDF0}-render") == "/dev/dri/renderD128"
    assert first.env[ENV_VAR].endswith("/") and first.env[ENV_VAR] == f"{d}/"
    first.remove()
    second.remove()
    assert not d.exists() and not second.directory.exists()


def test_no_writable_place_is_an_error_not_a_crash(tmp_path: Path) -> None:
    plan = BypathPlan((Link(f"pci-{BDF0}-render", "/dev/dri/renderD128"),), ("oneccl.bypath-missing",))
    with pytest.raises(OSError, match="no writable place"):
        create_bypath_dir(plan, [tmp_path / "absent"])


def test_private_base_order() -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "TMPDIR": "relative/ignored"}
    assert private_base(env) == [Path("/run/user/1000"), Path("/tmp"), Path("/dev/shm")]


@pytest.mark.parametrize(
    ("argv", "framework", "tp", "pp", "backend"),
    [
        (["vllm", "serve", "m", "--tensor-parallel-size", "4"], "vllm", 4, None, None),
        (["vllm", "serve", "m", "-tp=2", "--pipeline-parallel-size", "2"], "vllm", 2, 2, None),
        (
            ["python3", "-m", "vllm.entrypoints.openai.api_server", "-tp", "2", "--device", "xpu"],
            "vllm",
            2,
            None,
            "xpu",
        ),
        (
            ["python", "-m", "ipex_llm.vllm.xpu.entrypoints.openai.api_server", "--tensor-parallel-size=2"],
            "ipex-llm",
            2,
            None,
            "xpu",
        ),
        (["python3", "-m", "sglang.launch_server", "--tp-size", "8", "--pp-size", "2"], "sglang", 8, 2, None),
        (["python3", "-m", "sglang.launch_server", "--tp", "2"], "sglang", 2, None, None),
        (
            ["bash", "-lc", "source /opt/intel/1ccl-wks/setvars.sh && vllm serve m -tp 2"],
            "vllm",
            2,
            None,
            None,
        ),
        (["vllm", "serve", "m", "-tp", "2", "-tp", "4"], "vllm", 4, None, None),  # last wins
        (["vllm", "serve", "m", "-tp", "zero"], "vllm", None, None, None),
        (["mytool", "--tp", "4"], None, None, None, None),  # not ours to read
        (["sh", "-c", "unterminated 'quote vllm -tp 2"], None, None, None, None),
    ],
)
def test_job_from_command_line(
    argv: list[str], framework: str | None, tp: int | None, pp: int | None, backend: str | None
) -> None:
    job = infer_job(argv)
    assert (job.framework, job.tp, job.pp, job.backend) == (framework, tp, pp, backend)


# -- the whole check-and-fix step, on a fake root instead of / ------------------------------


def session(fr: FakeRoot, *, translate: bool, fix: bool = True) -> tuple[Prepared, list[str]]:
    """check_and_fix with facts from the fake root. With translate, the generated directory
    (created in the root's /tmp) is seen by the collector at its in-root path, as the container
    would see it; without, it is invisible, so the re-check must refuse the fix."""
    said: list[str] = []

    def collect(env: Mapping[str, str]) -> Facts:
        env = dict(env)
        if translate and ENV_VAR in env and env[ENV_VAR].startswith(str(fr.root)):
            env[ENV_VAR] = "/" + env[ENV_VAR][len(str(fr.root)) :].lstrip("/")
        return collect_facts(fr.root, env, live=False)

    prepared = check_and_fix(
        dict(fr.env), TP2, fix=fix, say=said.append, collect=collect, bases=[fr.path("tmp")]
    )
    return prepared, said


def test_session_applies_the_fix_for_the_child_only(tmp_path: Path) -> None:
    fr = article_root(tmp_path)
    prepared, said = session(fr, translate=True)
    d = prepared.applied[0].directory
    assert prepared.env[ENV_VAR] == f"{d}/" and ENV_VAR not in fr.env
    assert {f.cause for f in prepared.findings} & set(BYPATH_CAUSES) == set()
    assert not prepared.blockers
    text = "\n".join(said)
    assert "fixed oneccl.bypath-missing" in text and f"pci-{BDF0}-render -> /dev/dri/renderD128" in text
    # what is not fixed is said, with why
    assert "DEGRADED oneccl.sockets-overridden" in text and "not changed" in text
    prepared.cleanup()
    assert not d.exists()


def test_session_reverts_a_fix_the_recheck_does_not_confirm(tmp_path: Path) -> None:
    fr = article_root(tmp_path)
    prepared, said = session(fr, translate=False)
    assert prepared.applied == [] and ENV_VAR not in prepared.env
    assert "oneccl.bypath-missing" in {f.cause for f in prepared.blockers}
    assert any("left CCL_DRMFD_DEV_RENDER_DIR_PATH unset" in s for s in said)
    assert list(fr.path("tmp").iterdir()) == []  # the directory was removed


def test_session_no_fix(tmp_path: Path) -> None:
    fr = article_root(tmp_path)
    prepared, said = session(fr, translate=True, fix=False)
    assert prepared.applied == [] and ENV_VAR not in prepared.env
    assert any("--no-fix" in s for s in said) and list(fr.path("tmp").iterdir()) == []


def test_session_prints_typos_without_renaming(tmp_path: Path) -> None:
    fr = article_root(tmp_path).add_bypath(BDF0, 128).add_bypath(BDF1, 129)
    fr.set_env(CCL_ZE_IPC_EXHANGE="drmfd")
    prepared, said = session(fr, translate=True)
    assert prepared.env == fr.env and prepared.applied == []  # nothing renamed, nothing added
    line = next(s for s in said if "env.unknown-variable" in s)
    assert "did you mean CCL_ZE_IPC_EXCHANGE" in line and "not renamed" in line
