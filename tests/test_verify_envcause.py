"""verify names the variable behind a slow or failed result (verify/envcause.py + verdict.py)."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.model import Severity
from tpdoctor.verify import transport, verdict
from tpdoctor.verify.envcause import FORCING, env_causes, forced_algo_failure
from tpdoctor.verify.results import Expectation, OpResult, RankProblem, VerifyResult
from tpdoctor.verify.run import build_report, failure_lines

MIB = 1 << 20
DATA = Path(__file__).parent / "data/gpu"
H200 = Expectation(link="nvlink", raw_gbps=478.1, efficiency=0.774, ceiling_gbps=370.0, source="test")
# The message NCCL v2.28.9 prints (src/enqueue.cc:1859, format string filled in as NCCL does)
# and what torch's DistBackendError carries after "Last error:".
NCCL_228_WARN = (
    "vm:2201:2201 [1] enqueue.cc:1859 NCCL WARN Error : no algorithm/protocol available for function "
    "AllGather with datatype ncclBfloat16. NCCL_ALGO was set to Tree."
)
TORCH_ERROR = (
    "DistBackendError: NCCL error in: /pytorch/torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:3690, "
    "invalid usage (run with NCCL_DEBUG=WARN for details), NCCL version 2.28.9\n"
    "ncclInvalidUsage: This usually reflects invalid usage of NCCL library.\nLast error:\n"
    "Error : no algorithm/protocol available for function AllGather with datatype ncclBfloat16. "
    "NCCL_ALGO was set to Tree."
)


def _res(busbw: float | None = None, **kw: object) -> VerifyResult:
    rows = []
    if busbw is not None:
        rows = [
            OpResult(
                op="all_reduce", bytes=256 * MIB, count=128 * MIB, dtype="bf16", iters=20,
                time_us=1.0, algbw_gbps=busbw, busbw_gbps=busbw, wrong=0,
            )
        ]  # fmt: skip
    res = VerifyResult(
        backend="nccl", device="NVIDIA H200", world_size=2, dtype="bf16", quick=True,
        results=rows, expectation=H200, **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    verdict.judge(res.results, H200, 2)
    return res


def test_real_h200_log_shows_the_channel_cap() -> None:
    lines = (DATA / "h200x1-nccl-max-nchannels-1.log").read_text().splitlines()
    info, version = transport.parse_logs(lines, "nccl")
    assert version == "2.28.9+cuda13.0" and info.coll_channels == 1
    assert "NCCL_MAX_NCHANNELS set by environment to 1" in info.env_lines["NCCL_MAX_NCHANNELS"]
    (c,) = env_causes({"NCCL_MAX_NCHANNELS": "1", "NCCL_NVLS_ENABLE": "0"}, "nccl", info)
    assert (c.name, c.forces, c.backend) == ("NCCL_MAX_NCHANNELS", "channels", "NCCL/RCCL")
    assert c.seen == "NCCL INFO 1 coll channels (capped at 1)"
    # without the cap, 64 channels (same machine): the cap is not shown as in effect
    base = (DATA / "h200x1-nccl-algo-tree.log").read_text().splitlines()
    info2, _ = transport.parse_logs(base, "nccl")
    assert info2.coll_channels == 64
    (c2,) = env_causes({"NCCL_MAX_NCHANNELS": "128"}, "nccl", info2)
    assert c2.seen is None


def test_only_active_settings_of_this_backend_count() -> None:
    env = {
        "NCCL_P2P_DISABLE": "0",  # explicitly on: forces nothing
        "NCCL_SHM_DISABLE": "1",
        "NCCL_PROTO": "Simple",
        "CCL_ALLREDUCE": "topo",  # oneCCL's own default for GPU buffers
        "CCL_TOPO_P2P_ACCESS": "0",
        "NCCL_DEBUG": "INFO",
        "NCCL_NTHREADS": "100",
    }
    nccl = {c.name: c for c in env_causes(env, "nccl")}
    assert set(nccl) == {"NCCL_SHM_DISABLE", "NCCL_PROTO", "NCCL_NTHREADS"}
    assert "value not accepted by NCCL" in nccl["NCCL_NTHREADS"].effect  # rules/envvars.py knows the values
    ccl = {c.name for c in env_causes(env | {"CCL_ALLREDUCE": "ring"}, "xccl")}
    assert ccl == {"CCL_ALLREDUCE", "CCL_TOPO_P2P_ACCESS"}
    assert env_causes(env, "gloo") == []
    # every variable the issue lists is known
    for name in ("NCCL_MAX_NCHANNELS", "NCCL_MIN_NCHANNELS", "NCCL_ALGO", "NCCL_PROTO", "NCCL_P2P_LEVEL",
                 "NCCL_P2P_DISABLE", "NCCL_SHM_DISABLE", "NCCL_NET", "NCCL_IB_DISABLE", "CCL_ALLREDUCE",
                 "CCL_ATL_TRANSPORT"):  # fmt: skip
        assert name in FORCING


def test_forced_algorithm_message_is_parsed() -> None:
    f = forced_algo_failure(["something else", TORCH_ERROR], {})
    assert f is not None and (f.function, f.datatype, f.algo, f.proto) == (
        "AllGather",
        "ncclBfloat16",
        "Tree",
        None,
    )
    # NCCL <= 2.2x said only this; the values then come from the environment
    old = forced_algo_failure(["NCCL WARN Error : no algorithm/protocol available"], {"NCCL_PROTO": "LL128"})
    assert old is not None and old.function is None and old.proto == "LL128"
    assert forced_algo_failure(["NCCL WARN Cuda failure 'out of memory'"], {"NCCL_ALGO": "Tree"}) is None


def test_failed_collective_names_the_forced_algorithm() -> None:
    problem = RankProblem(
        kind="error",
        ranks=[0],
        last_ops={0: "failed in all_gather 1 MiB (step 5)", 1: "failed in all_gather 1 MiB (step 5)"},
        detail=f"rank 0 exited with exit code 1: {TORCH_ERROR[:200]}",
        log_tail={
            0: ["Traceback (most recent call last):", "torch.distributed.DistBackendError: NCCL error"]
        },
    )
    env = {"NCCL_ALGO": "Tree"}
    res = _res(
        problem=problem,
        env=env,
        env_causes=env_causes(env, "nccl"),
        failure_lines=failure_lines(["x NCCL INFO fine", NCCL_228_WARN]),
    )
    found = {f.cause: f for f in verdict.findings(res)}
    assert set(found) == {"verify.rank-failed", "verify.forced-algorithm-unavailable", "verify.env-forced"}
    fa = found["verify.forced-algorithm-unavailable"]
    assert fa.severity is Severity.blocker and "NCCL_ALGO=Tree" in fa.message and "AllGather" in fa.message
    assert "all_gather" in fa.message
    assert "forced NCCL_ALGO" in found["verify.rank-failed"].message
    assert "verify.forced-algorithm-unavailable" in found["verify.rank-failed"].related
    assert build_report(res).exit_code == 3


def test_degraded_bandwidth_lists_the_channel_cap_with_proof() -> None:
    lines = (DATA / "h200x1-nccl-max-nchannels-1.log").read_text().splitlines()
    info, _ = transport.parse_logs(lines, "nccl")
    env = {"NCCL_MAX_NCHANNELS": "1"}
    res = _res(40.0, env=env, env_causes=env_causes(env, "nccl", info), transport=info)
    found = {f.cause: f for f in verdict.findings(res)}
    assert set(found) == {"verify.bandwidth-degraded", "verify.env-forced"}
    ef = found["verify.env-forced"]
    assert ef.confidence == "proves" and "NCCL_MAX_NCHANNELS=1" in ef.message
    assert any("1 coll channels" in e.text for e in ef.evidence)
    assert any("NCCL_MAX_NCHANNELS" in e.text for e in found["verify.bandwidth-degraded"].evidence)
    assert "verify.env-forced" in found["verify.bandwidth-degraded"].related
    assert any("unset NCCL_MAX_NCHANNELS" in (fx.snippet or "") for fx in ef.fixes)
    assert build_report(res).exit_code == 4


def test_p2p_disable_is_proven_by_the_shm_channels() -> None:
    log = [
        "h:1:1 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via SHM/direct/direct",
        "h:1:1 [0] NCCL INFO Channel 01/0 : 0[0] -> 1[1] via SHM/direct/direct",
    ]
    info, _ = transport.parse_logs(log, "nccl")
    env = {"NCCL_P2P_DISABLE": "1"}
    res = _res(27.8, env=env, env_causes=env_causes(env, "nccl", info, fallback=True), transport=info)
    found = {f.cause: f for f in verdict.findings(res)}
    assert set(found) == {"verify.bandwidth-degraded", "verify.transport-fallback", "verify.env-forced"}
    assert found["verify.env-forced"].confidence == "proves"
    assert any("SHM x2" in e.text for e in found["verify.env-forced"].evidence)


def test_a_healthy_run_raises_no_env_finding_but_notes_it() -> None:
    env = {"NCCL_PROTO": "Simple"}
    res = _res(300.0, env=env, env_causes=env_causes(env, "nccl"))
    assert verdict.findings(res) == []
    report = build_report(res)
    assert report.exit_code == 0 and any("NCCL_PROTO=Simple" in n for n in report.notes)


def test_forced_table_script_tells_named_from_noted() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "forced_table", Path(__file__).parents[1] / "bench/gpu/forced_table.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    env = {"NCCL_MAX_NCHANNELS": "1"}
    slow = build_report(_res(40.0, env=env, env_causes=env_causes(env, "nccl"))).model_dump(mode="json")
    ok = build_report(_res(300.0, env=env, env_causes=env_causes(env, "nccl"))).model_dump(mode="json")
    assert mod.row("a", "NCCL_MAX_NCHANNELS=1", slow, "4").endswith("| yes |")
    assert mod.row("b", "NCCL_MAX_NCHANNELS=1", ok, "0").endswith(
        "| noted only (nothing measured was slow) |"
    )
    assert mod.row("c", "NCCL_ALGO=Tree", ok, "0").endswith("| **NO** |")
