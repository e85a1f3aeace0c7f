"""Rule fixes found by the container matrix (tests/containers): each case is a state a real
Docker engine produced, rebuilt as Facts so it is tested without an engine."""

from __future__ import annotations

from fakeroot import DOCKER_DEFAULT_CAPS
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.model.facts import ContainerFacts, DeviceNode, DrmGpu, LiveProbes, ProcessFacts
from tpdoctor.rules import run_fact_rules

DOCKER_DEFAULT_RULES = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 136:* rwm"]


def _facts(open_result: str, device_rules: list[str] | None) -> Facts:
    nodes = [
        DeviceNode(path=f"/dev/dri/renderD{m}", kind="char", major=226, minor=m, mode=0o660, uid=0, gid=105)
        for m in (128, 129)
    ]
    return Facts(
        live=True,
        dev=nodes,
        drm=[DrmGpu(render=f"renderD{m}", bdf=f"0000:0{m - 125}:00.0", vendor="0x8086") for m in (128, 129)],
        process=ProcessFacts(uid=1000, gid=1000, groups=[1000]),
        container=ContainerFacts(runtime="docker", cgroup_version=1, device_rules=device_rules),
        probes=LiveProbes(opens={n.path: open_result for n in nodes}),
    )


def _causes(facts: Facts) -> set[str]:
    return {f.cause for f in run_fact_rules(facts, CheckOptions(tp=2))}


def test_eacces_with_a_cgroup_that_denies_names_both_causes() -> None:
    causes = _causes(_facts("EACCES", DOCKER_DEFAULT_RULES))
    assert {"device.group-denied", "device.cgroup-denied"} <= causes


def test_eacces_with_a_cgroup_that_allows_is_only_the_group() -> None:
    causes = _causes(_facts("EACCES", [*DOCKER_DEFAULT_RULES, "c 226:128 rwm", "c 226:129 rwm"]))
    assert "device.group-denied" in causes and "device.cgroup-denied" not in causes


def test_eacces_without_devices_list_does_not_guess() -> None:
    causes = _causes(_facts("EACCES", None))  # cgroup v2: no devices.list to read
    assert "device.group-denied" in causes and "device.cgroup-denied" not in causes


def test_ok_open_is_trusted_over_devices_list() -> None:
    assert "device.cgroup-denied" not in _causes(_facts("ok", DOCKER_DEFAULT_RULES))


def test_docker_20_10_privileged_on_a_host_without_cap_sys_resource_is_privileged() -> None:
    """Measured in the container matrix (`privileged`): Docker 20.10 grants caps 0-37 only,
    and this host cannot grant CAP_SYS_RESOURCE: CapEff 0x3ffeffffff, Seccomp 0."""
    facts = Facts(
        live=True,
        process=ProcessFacts(uid=0, gid=0, cap_eff=0x3FFEFFFFFF, seccomp=0),
        container=ContainerFacts(runtime="docker", cgroup_version=1, device_rules=["a *:* rwm"]),
    )
    causes = _causes(facts)
    assert "security.privileged" in causes and "security.seccomp-unconfined" not in causes


def test_default_docker_capabilities_are_not_privileged() -> None:
    facts = Facts(
        live=True,
        process=ProcessFacts(uid=0, gid=0, cap_eff=DOCKER_DEFAULT_CAPS | 1 << 19, seccomp=0),  # + SYS_PTRACE
        container=ContainerFacts(runtime="docker", cgroup_version=1),
    )
    assert "security.privileged" not in _causes(facts)


def _article_ipc_text(value: str, pidfd_ok: bool, pp: int = 1) -> str:
    from tpdoctor.model.facts import ProbeResult

    facts = Facts(
        env={"CCL_WORKER_COUNT": "2", "CCL_ZE_IPC_EXCHANGE": value},
        probes=LiveProbes(pidfd_self_test=ProbeResult(ok=pidfd_ok, errno=None if pidfd_ok else "EPERM")),
    )
    found = {f.cause: f for f in run_fact_rules(facts, CheckOptions(tp=2, pp=pp))}
    return {e.source: e.text for e in found["env.article-set"].evidence}["CCL_ZE_IPC_EXCHANGE"]


def test_drmfd_requested_is_not_wrong_when_the_pidfd_self_test_fails() -> None:
    """Measured in the container matrix (`generate:ipex-llm-serving-xpu:*`): generate writes
    CCL_ZE_IPC_EXCHANGE=drmfd, and check inside said 'WRONG HERE: ... uses drmfd instead'."""
    assert "WRONG HERE" not in _article_ipc_text("drmfd", pidfd_ok=False)
    assert "WRONG HERE" not in _article_ipc_text("drmfd", pidfd_ok=True, pp=2)
    for value in ("sockets", "pidfd"):
        assert _article_ipc_text(value, pidfd_ok=False).startswith("WRONG HERE: the pidfd self-test fails")
    assert _article_ipc_text("sockets", pidfd_ok=True, pp=2).startswith("WRONG HERE: pipeline parallel")
