"""gnew36b (issue 13): thread and process creation refused in containers.

check: the pids cgroup limit (pids.max of the process's cgroup and its ancestors, cgroup v2 and v1's pids hierarchy,
pids.current where the limit is) and RLIMIT_NPROC read through the in-root readers, the live clone3 probe, and the rules
limits.pids-exhausted / seccomp.clone3-eperm; audit: compose pids_limit and --pids-limit. The need per rank is the one
measured in bench/gpu/results/threads-h100x1/ (39 tasks with 16 CPUs, 9 with OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.probes import clone3_errno
from tpdoctor.facts.resources import parse_nproc, parse_pids_value, pids_cgroup_dirs
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.rules.limits import clone3_eperm, pids_limit, rank_tasks

LIMITS = """Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max processes             4096                 513046               processes
Max open files            1048576              1048576              files
"""


def test_pids_cgroup_dirs_walk_to_the_root() -> None:
    assert pids_cgroup_dirs(["0::/user.slice/user-1000.slice/session-3.scope"]) == [
        "/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope",
        "/sys/fs/cgroup/user.slice/user-1000.slice",
        "/sys/fs/cgroup/user.slice",
        "/sys/fs/cgroup",
    ]
    # cgroup v1: the pids hierarchy's line wins over a hybrid host's unified one
    assert pids_cgroup_dirs(["0::/", "5:pids:/docker/abc"]) == [
        "/sys/fs/cgroup/pids/docker/abc",
        "/sys/fs/cgroup/pids/docker",
        "/sys/fs/cgroup/pids",
    ]
    assert pids_cgroup_dirs(["0::/"]) == ["/sys/fs/cgroup"]
    assert pids_cgroup_dirs(["0::/../../etc"]) == []  # outside input never leaves the mount
    assert pids_cgroup_dirs([]) == []


def test_parsers() -> None:
    assert parse_nproc(LIMITS) == (4096, 513046)
    assert parse_pids_value("max\n") == -1
    assert parse_pids_value("2048\n") == 2048
    assert parse_pids_value("garbage") is None


def _facts(fr: FakeRoot) -> Facts:
    return collect_facts(fr.root, dict(fr.env), live=False)


def test_collector_takes_the_smallest_limit_on_the_path(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path)
    fr.write("proc/self/cgroup", "0::/system.slice/docker-abc.scope\n")
    fr.write("sys/fs/cgroup/system.slice/docker-abc.scope/pids.max", "max\n")
    fr.write("sys/fs/cgroup/system.slice/docker-abc.scope/pids.current", "7\n")
    fr.write("sys/fs/cgroup/system.slice/pids.max", "100\n")
    fr.write("sys/fs/cgroup/system.slice/pids.current", "61\n")
    fr.write("proc/self/limits", LIMITS)
    facts = _facts(fr)
    assert facts.limits.pids_max == 100
    assert facts.limits.pids_current == 61
    assert facts.limits.pids_source == "/sys/fs/cgroup/system.slice/pids.max"
    assert (facts.limits.nproc_soft, facts.limits.nproc_hard) == (4096, 513046)


def test_collector_in_a_cgroup_namespace(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path)  # proc/self/cgroup is '0::/': the container's own cgroup at the mount's root
    fr.write("sys/fs/cgroup/pids.max", "64\n").write("sys/fs/cgroup/pids.current", "3\n")
    facts = _facts(fr)
    assert (facts.limits.pids_max, facts.limits.pids_current) == (64, 3)


def test_collector_no_limit_and_no_controller(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path)
    assert _facts(fr).limits.pids_max is None  # no pids.max at all: unknown
    fr.write("sys/fs/cgroup/pids.max", "max\n")
    assert _facts(fr).limits.pids_max == -1


def test_collector_never_follows_a_link_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "pids.max").write_text("5\n")
    fr = FakeRoot(tmp_path)
    fr.write("proc/self/cgroup", "0::/x\n")
    fr.path("sys/fs/cgroup").mkdir(parents=True, exist_ok=True)
    os.symlink(str(outside), fr.path("sys/fs/cgroup/x"))  # absolute: resolved inside the root, not the host's
    assert _facts(fr).limits.pids_max != 5


def _rule(facts: Facts, **opts: int) -> list[str]:
    return [f"{f.severity.value}:{f.message}" for f in pids_limit(facts, CheckOptions(**opts))]  # type: ignore[arg-type]


def test_rank_need_is_the_measured_one() -> None:
    facts = Facts()
    facts.cpu.online = 16
    assert rank_tasks(facts)[0] == 39  # bench/gpu/results/threads-h100x1: 39 threads, ulimit -u 38 failed
    facts.env["OMP_NUM_THREADS"] = "1"
    assert rank_tasks(facts)[0] == 9  # OMP_NUM_THREADS=1: 9 threads, ulimit -u 8 failed


def test_pids_rule_severities() -> None:
    facts = Facts()
    facts.cpu.online = 16
    facts.limits.pids_max, facts.limits.pids_current = 64, 8
    out = _rule(facts, tp=2)
    assert out and out[0].startswith("blocker:") and "78" in out[0]  # 2 x 39
    facts.limits.pids_max = 140  # room 132: above 78, below twice it
    assert _rule(facts, tp=2)[0].startswith("degraded:")
    facts.limits.pids_max = 2048
    assert _rule(facts, tp=2) == []
    facts.limits.pids_max = -1
    assert _rule(facts, tp=2) == []
    facts.env["OMP_NUM_THREADS"] = "1"  # the pools trimmed: 2 x 9
    facts.limits.pids_max = 64
    assert _rule(facts, tp=2) == []


def test_nproc_binds_only_non_root() -> None:
    facts = Facts()
    facts.cpu.online = 16
    facts.limits.nproc_soft, facts.limits.nproc_hard = 40, 40
    facts.process.uid = 0
    assert _rule(facts, tp=2) == []
    facts.process.uid = 1000
    out = _rule(facts, tp=2)
    assert out and "RLIMIT_NPROC" in out[0] and out[0].startswith("blocker:")


def test_clone3_rule() -> None:
    facts = Facts()
    assert list(clone3_eperm(facts, CheckOptions())) == []  # --root: no probe, nothing said
    from tpdoctor.model.facts import LiveProbes

    facts.probes = LiveProbes(clone3="EPERM", glibc="glibc 2.35")
    (f,) = clone3_eperm(facts, CheckOptions())
    assert f.severity.value == "blocker"
    facts.probes = LiveProbes(clone3="EPERM", glibc="glibc 2.31")
    (f,) = clone3_eperm(facts, CheckOptions())
    assert f.severity.value == "notice"
    for answer in ("EINVAL", "ENOSYS"):
        facts.probes = LiveProbes(clone3=answer, glibc="glibc 2.35")
        assert list(clone3_eperm(facts, CheckOptions())) == []


def test_clone3_probe_creates_nothing() -> None:
    before = len(os.listdir("/proc/self/task"))
    assert clone3_errno() in ("EINVAL", "ENOSYS", "EPERM")
    assert len(os.listdir("/proc/self/task")) == before


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("docker run --gpus all --pids-limit 50 vllm/vllm-openai --tensor-parallel-size 4\n", True),
        ("docker run --gpus all --pids-limit -1 vllm/vllm-openai --tensor-parallel-size 4\n", False),
        ("docker run --gpus all vllm/vllm-openai --tensor-parallel-size 4\n", False),  # Docker: no limit by default
        ("podman run --device nvidia.com/gpu=all docker.io/vllm/vllm-openai --tensor-parallel-size 8\n", False),
        ("podman run --device nvidia.com/gpu=all -e OMP_NUM_THREADS=128 docker.io/vllm/vllm-openai --tensor-parallel-size 8\n", True),
        ("docker run --gpus all --user 1000 --ulimit nproc=60 vllm/vllm-openai --tensor-parallel-size 2\n", True),
        ("docker run --gpus all --ulimit nproc=60 vllm/vllm-openai --tensor-parallel-size 2\n", False),  # root: exempt
    ],
)
def test_audit_pids_limit(tmp_path: Path, text: str, fires: bool) -> None:
    from tpdoctor.deploy.audit import audit_model, load

    path = tmp_path / "run.sh"
    path.write_text(text)
    got = {f.cause for f in audit_model(load(path, None).model, None).findings}
    assert ("limits.pids-exhausted" in got) is fires, got


# --- the final read's findings (twenty-fifth session) -----------------------------------------------------------


def test_collector_takes_the_least_room_not_the_smallest_max(tmp_path: Path) -> None:
    # own cgroup 10000 with 10 in use, its parent 10001 with 10000 in use: one task of room, held by the parent
    fr = FakeRoot(tmp_path)
    fr.write("proc/self/cgroup", "0::/a/b\n")
    fr.write("sys/fs/cgroup/a/b/pids.max", "10000\n")
    fr.write("sys/fs/cgroup/a/b/pids.current", "10\n")
    fr.write("sys/fs/cgroup/a/pids.max", "10001\n")
    fr.write("sys/fs/cgroup/a/pids.current", "10000\n")
    facts = _facts(fr)
    assert (facts.limits.pids_max, facts.limits.pids_current) == (10001, 10000)
    assert facts.limits.pids_source == "/sys/fs/cgroup/a/pids.max"


@pytest.mark.parametrize("value", ["²\n", "9" * 5000 + "\n", "-3\n", "1e3\n"])
def test_hostile_pids_and_limits_values_are_unread_not_a_crash(tmp_path: Path, value: str) -> None:
    # str.isdigit() accepts '²' and int() refuses strings over 4300 digits: both were internal errors
    fr = FakeRoot(tmp_path)
    fr.write("proc/self/cgroup", "0::/\n")
    fr.write("sys/fs/cgroup/pids.max", value)
    fr.write("proc/self/limits", LIMITS.replace("4096 ", value.strip()[:30] + " "))
    fr.env["OMP_NUM_THREADS"] = value.strip()
    fr.flush()
    facts = _facts(fr)
    assert facts.limits.pids_max is None
    list(pids_limit(facts, CheckOptions()))
    assert rank_tasks(facts)[0] > 0


@pytest.mark.parametrize(
    "text",
    [
        "docker run --gpus all --user 1000 --ulimit nproc=² vllm/vllm-openai --tensor-parallel-size 2\n",
        "docker run --gpus all --pids-limit 50 -e OMP_NUM_THREADS=² vllm/vllm-openai --tensor-parallel-size 2\n",
        "docker run --gpus all --pids-limit 50 -e OMP_NUM_THREADS=" + "9" * 5000 + " vllm/vllm-openai\n",
    ],
)
def test_audit_hostile_numbers_are_not_a_crash(tmp_path: Path, text: str) -> None:
    from tpdoctor.deploy.audit import audit_model, load

    path = tmp_path / "run.sh"
    path.write_text(text)
    audit_model(load(path, None).model, None)


def test_clone3_probe_runs_in_a_child() -> None:
    from tpdoctor.facts.probes import run_in_child

    res = run_in_child(lambda: {"ok": True, "step": "clone3", "detail": clone3_errno()})
    assert res.ok and res.detail == clone3_errno()
