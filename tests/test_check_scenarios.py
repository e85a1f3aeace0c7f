"""`check --root` on fake roots: the exact cause ids for each container set-up of the issue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from fakeroot import FakeRoot, article_root
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Finding
from tpdoctor.rules import run_fact_rules

BDF0, BDF1, BDF2 = "0000:03:00.0", "0000:04:00.0", "0000:05:00.0"


def findings(fr: FakeRoot, **opts: object) -> list[Finding]:
    env = dict(fr.env)
    facts = collect_facts(fr.root, env, live=False)
    return run_fact_rules(facts, CheckOptions(**opts))  # type: ignore[arg-type]


def causes(fr: FakeRoot, **opts: object) -> dict[str, str]:
    return {f.cause: f.severity.value for f in findings(fr, **opts)}


def oneccl_blockers(c: dict[str, str]) -> set[str]:
    return {k for k, v in c.items() if k.startswith("oneccl.") and v == "blocker"}


def test_article_container_needs_bypath(tmp_path: Path) -> None:
    c = causes(article_root(tmp_path), tp=2)
    assert c["oneccl.bypath-missing"] == "blocker"
    assert c["oneccl.pidfd-unsupported"] == "degraded"
    assert c["oneccl.sockets-overridden"] == "degraded"  # the image's start script asks for sockets
    assert oneccl_blockers(c) == {"oneccl.bypath-missing"}


def test_article_finding_explains_and_fixes_least_privilege_first(tmp_path: Path) -> None:
    f = next(f for f in findings(article_root(tmp_path), tp=2) if f.cause == "oneccl.bypath-missing")
    assert "oneccl.pidfd-unsupported" in f.related
    texts = " ".join(e.text for e in f.evidence)
    assert "drmfd" in texts and "/dev/dri/by-path/" in texts
    compose = next(x for x in f.fixes if x.id == "bypath-mount" and x.runtime == "compose")
    assert "/dev/dri/renderD128" in compose.snippet and "/dev/dri/renderD129" in compose.snippet
    assert '"992"' in compose.snippet  # the node's own GID, numeric
    assert {x.runtime for x in f.fixes} >= {"compose", "docker", "podman", "kubernetes"}
    assert f.fixes[0].privilege == "none" and f.fixes[-1].privilege == "privileged" and f.fixes[-1].risk


def test_article_plus_bypath_mount_has_no_oneccl_blocker(tmp_path: Path) -> None:
    fr = article_root(tmp_path).add_bypath(BDF0, 128).add_bypath(BDF1, 129)
    c = causes(fr, tp=2)
    assert oneccl_blockers(c) == set()
    assert "oneccl.pidfd-unsupported" in c  # still drmfd, now with what it needs


def test_bypath_mounted_but_one_node_absent_dangles(tmp_path: Path) -> None:
    fr = (
        FakeRoot(tmp_path)
        .add_gpu(128, BDF0)
        .add_gpu(129, BDF1)
        .add_gpu(130, BDF2, node=False)  # the host has a third GPU the container did not get
        .add_bypath(BDF0, 128)
        .add_bypath(BDF1, 129)
        .add_bypath(BDF2, 130)  # ...but the host's whole by-path directory is mounted
        .docker_default()
        .dockerenv()
    )
    fs = findings(fr, tp=2)
    c = {f.cause: f for f in fs}
    assert oneccl_blockers({f.cause: f.severity.value for f in fs}) == {"oneccl.bypath-dangling"}
    ev = " ".join(e.source or "" for e in c["oneccl.bypath-dangling"].evidence)
    assert f"pci-{BDF2}-render" in ev and f"pci-{BDF0}-render" not in ev


def test_sys_ptrace_with_scope_1_takes_pidfd_route_without_bypath(tmp_path: Path) -> None:
    fr = (
        FakeRoot(tmp_path)
        .add_gpu(128, BDF0)
        .add_gpu(129, BDF1)
        .docker_default(sys_ptrace=True)
        .set_ptrace_scope(1)
        .dockerenv()
    )
    c = causes(fr, tp=2)
    assert not {k for k in c if k.startswith("oneccl.")}, c


def test_scope_3_refuses_pidfd_then_drmfd_needs_bypath(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, BDF0).add_gpu(129, BDF1).docker_default(sys_ptrace=True).dockerenv()
    fr.set_ptrace_scope(3)
    f = next(f for f in findings(fr, tp=2) if f.cause == "oneccl.pidfd-ptrace-denied")
    assert f.severity.value == "blocker"
    assert f.fixes[0].id == "drmfd-instead" and "by-path" in f.fixes[0].snippet
    # following the fix (drmfd) without the mount lands on the by-path blocker
    fr.set_env(CCL_ZE_IPC_EXCHANGE="drmfd")
    assert oneccl_blockers(causes(fr, tp=2)) == {"oneccl.bypath-missing"}
    fr.add_bypath(BDF0, 128).add_bypath(BDF1, 129)
    assert oneccl_blockers(causes(fr, tp=2)) == set()


def test_scope_1_without_sys_ptrace_under_podman_is_ptrace_denied(tmp_path: Path) -> None:
    # Podman's seccomp profile lets the self-test pass; Yama then refuses the sibling rank.
    fr = FakeRoot(tmp_path).add_gpu(128, BDF0).add_gpu(129, BDF1).docker_default().containerenv()
    fr.set_ptrace_scope(1)
    c = causes(fr, tp=2)
    assert oneccl_blockers(c) == {"oneccl.pidfd-ptrace-denied"}
    assert "oneccl.pidfd-unsupported" not in c


def test_sockets_with_pipeline_parallel(tmp_path: Path) -> None:
    fr = (
        FakeRoot(tmp_path)
        .add_gpu(128, BDF0)
        .add_gpu(129, BDF1)
        .docker_default(sys_ptrace=True)
        .set_ptrace_scope(0)
        .dockerenv()
        .set_env(CCL_ZE_IPC_EXCHANGE="sockets")
    )
    assert oneccl_blockers(causes(fr, tp=1, pp=2)) == {"oneccl.sockets-pt2pt"}
    assert oneccl_blockers(causes(fr, tp=2, pp=1)) == set()


def test_old_oneccl_honours_sockets(tmp_path: Path) -> None:
    fr = article_root(tmp_path)
    c = causes(fr, tp=2, oneccl_version="2021.13")
    assert oneccl_blockers(c) == set() and "oneccl.sockets-overridden" not in c
    assert oneccl_blockers(causes(fr, tp=1, pp=2, oneccl_version="2021.13")) == {"oneccl.sockets-pt2pt"}


def test_readonly_tmp(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, BDF0).add_gpu(129, BDF1).dockerenv().readonly_root()
    fr.add_bypath(BDF0, 128).add_bypath(BDF1, 129)
    c = causes(fr, tp=2)
    assert c["oneccl.tmp-unwritable"] == "blocker"
    assert "oneccl.pidfd-unsupported" in c  # the self-test's mkstemp fails too
    fr.readonly_root(tmpfs_on_tmp=True)
    assert "oneccl.tmp-unwritable" not in causes(fr, tp=2)


def test_non_root_without_render_group(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, BDF0).add_gpu(129, BDF1).dockerenv()
    fr.add_bypath(BDF0, 128).add_bypath(BDF1, 129).set_status(uid=1000, gid=1000, groups=[1000])
    fs = {f.cause: f for f in findings(fr, tp=2)}
    f = fs["device.group-denied"]
    assert f.severity.value == "blocker"
    compose = next(x for x in f.fixes if x.runtime == "compose")
    assert '"992"' in compose.snippet
    fr.set_status(groups=[1000, 992])
    assert "device.group-denied" not in causes(fr, tp=2)


def test_root_without_dac_override_is_still_the_owner(tmp_path: Path) -> None:
    # cap_drop: [ALL] removes DAC_OVERRIDE, but without a user namespace uid 0 owns the node (0660)
    fr = FakeRoot(tmp_path).add_gpu(128, BDF0).add_gpu(129, BDF1).set_status(capeff=0)
    assert "device.group-denied" not in causes(fr)
    fr2 = FakeRoot(tmp_path / "o").add_sysfs_gpu(128, BDF0).add_render_node(128, mode=0o060)
    assert "device.group-denied" in causes(fr2.set_status(capeff=0))


def test_stale_bypath_names(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, BDF0).add_gpu(129, BDF1).docker_default().dockerenv()
    fr.add_bypath("0000:0a:00.0", 128).add_bypath(BDF1, 129)  # copied from another host
    assert oneccl_blockers(causes(fr, tp=2)) == {"oneccl.bypath-stale"}


def test_override_dir_rules(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, BDF0).add_gpu(129, BDF1).docker_default().dockerenv()
    fr.symlink(f"run/ccl-by-path/pci-{BDF0}-render", "/dev/dri/renderD128")
    fr.symlink(f"run/ccl-by-path/pci-{BDF1}-render", "/dev/dri/renderD129")
    fr.set_env(CCL_DRMFD_DEV_RENDER_DIR_PATH="/run/ccl-by-path/")
    assert oneccl_blockers(causes(fr, tp=2)) == set()
    fr.set_env(CCL_DRMFD_DEV_RENDER_DIR_PATH="/run/ccl-by-path")
    assert oneccl_blockers(causes(fr, tp=2)) == {"oneccl.drmfd-dir-no-slash"}
    fr.set_env(CCL_DRMFD_DEV_RENDER_DIR_PATH="/dev/dri/")  # renderD128 never contains "-render"
    assert oneccl_blockers(causes(fr, tp=2)) == {"oneccl.bypath-no-render-entries"}
    # oneCCL 2021.13 has no override: it reads /dev/dri/by-path/, which is absent
    assert oneccl_blockers(causes(fr, tp=2, oneccl_version="2021.13", ipc_exchange="drmfd")) == {
        "oneccl.bypath-missing"
    }


def test_old_kernel_has_no_pidfd(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, BDF0).add_gpu(129, BDF1).set_kernel("5.4.0-150-generic")
    c = causes(fr, tp=2)
    assert "oneccl.pidfd-unsupported" in c and "oneccl.bypath-missing" in c


def test_worker_affinity_outside_cpuset(tmp_path: Path) -> None:
    fr = article_root(tmp_path).add_bypath(BDF0, 128).add_bypath(BDF1, 129)
    fr.set_cpus(online="0-63", allowed="0-15")
    f = next(f for f in findings(fr, tp=2) if f.cause == "oneccl.worker-affinity")
    assert "60-63" in f.message  # 2 ranks × CCL_WORKER_COUNT=2 on the host's last 4 CPUs
    assert any("12,13,14,15" in x.snippet for x in f.fixes)
    fr.set_env(CCL_WORKER_AFFINITY="12,13,14,15")
    assert "oneccl.worker-affinity" not in causes(fr, tp=2)
    fr.set_env(CCL_WORKER_AFFINITY="auto").set_cpus(online="0-63", allowed="0-63")
    assert "oneccl.worker-affinity" not in causes(fr, tp=2)


def test_tp_larger_than_nodes_passed(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, BDF0).add_gpu(129, BDF1, node=False)
    f = next(f for f in findings(fr, tp=2) if f.cause == "device.render-node-missing")
    assert "/dev/dri/renderD129" in f.message
    assert "vllm.tp-exceeds-visible-gpus" in causes(FakeRoot(tmp_path / "b").add_gpu(128, BDF0), tp=4)


def test_bind_mounted_dri_is_cgroup_denied(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, BDF0).add_gpu(129, BDF1)
    fr.add_mount("udev /dev/dri devtmpfs rw,nosuid,relatime,size=16G 0 0")
    assert causes(fr)["device.cgroup-denied"] == "blocker"
    fr2 = FakeRoot(tmp_path / "v1").add_gpu(128, BDF0).add_gpu(129, BDF1)
    fr2.write("sys/fs/cgroup/devices/devices.list", "c 1:3 rwm\nc 226:128 rw\n")
    f = next(f for f in findings(fr2) if f.cause == "device.cgroup-denied")
    assert "226:129" in f.evidence[0].text and "226:128" not in " ".join(e.text for e in f.evidence)


def test_no_gpu_is_a_notice_unless_tp_is_asked(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path).add_mount("shm /dev/shm tmpfs rw,size=16777216k 0 0")  # not the shm rule's case
    assert causes(fr) == {"device.no-gpu": "notice"}
    with_tp = causes(fr, tp=2)
    assert with_tp["device.no-gpu"] == "notice" and with_tp["vllm.tp-exceeds-visible-gpus"] == "blocker"


@pytest.mark.parametrize("scope", [0, 1, 2])
def test_scopes_that_allow_with_sys_ptrace(tmp_path: Path, scope: int) -> None:
    fr = FakeRoot(tmp_path).add_gpu(128, BDF0).add_gpu(129, BDF1).docker_default(sys_ptrace=True).dockerenv()
    fr.set_ptrace_scope(scope)
    assert oneccl_blockers(causes(fr, tp=2)) == set()


def test_cli_json_exit_codes(tmp_path: Path) -> None:
    fr = article_root(tmp_path)
    r = run_cli("check", "--root", str(fr.root), "--tp", "2", "--format", "json")
    assert r.returncode == 3, r.stderr
    out = json.loads(r.stdout)
    blockers = [f["cause"] for f in out["findings"] if f["severity"] == "blocker"]
    assert blockers == ["oneccl.bypath-missing"]
    for f in out["findings"]:
        assert {"cause", "severity", "summary", "evidence", "fixes"} <= set(f)
    assert out["facts"]["oneccl"]["mode"] == "drmfd"
    fr.add_bypath(BDF0, 128).add_bypath(BDF1, 129)
    r = run_cli("check", "--root", str(fr.root), "--tp", "2", "--format", "json")
    assert r.returncode == 4, r.stdout  # only degraded: pidfd unsupported, sockets overridden
    assert not [f for f in json.loads(r.stdout)["findings"] if f["severity"] == "blocker"]
