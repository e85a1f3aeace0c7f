"""`tpdoctor verify --backend gloo`: real multi-process runs of the launcher, checks, watchdog, report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli

pytest.importorskip("torch")

WORKER = "tpdoctor.verify.worker"


# Every run of this module tags its processes, so ranks of other sessions' runs on a shared
# machine never count as left behind.
TAG = f"TPDOCTOR_TEST_TAG={os.getpid()}-{time.time_ns()}"
os.environ[TAG.split("=")[0]] = TAG.split("=")[1]


def workers() -> set[int]:
    """PIDs of verify ranks started by this test module that are still alive."""
    found = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes()
                stat = (d / "stat").read_text()
                environ = (d / "environ").read_bytes()
            except OSError:
                continue
            if WORKER.encode() in cmd and ") Z " not in stat and TAG.encode() in environ:
                found.add(int(d.name))
    return found


def verify(*args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    os.environ.pop("TPDOCTOR_VERIFY_FAULT", None)
    if fault:
        os.environ["TPDOCTOR_VERIFY_FAULT"] = fault
    try:
        return run_cli("verify", "--backend", "gloo", "--format", "json", *args)
    finally:
        os.environ.pop("TPDOCTOR_VERIFY_FAULT", None)


def test_quick_gloo_run_passes_with_exact_results() -> None:
    before = workers()
    p = verify("--gpus", "2", "--quick")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    v = d["facts"]["verify"]
    assert d["findings"] == [] and v["world_size"] == 2 and v["problem"] is None
    ops = {(r["op"], r["bytes"]) for r in v["results"]}
    assert ops == {(op, s) for op in ("all_reduce", "all_gather", "reduce_scatter") for s in (65536, 1 << 20)}
    # busbw is rounded to 0.01 GB/s: a loaded CI machine can take > 13 ms for 64 KiB, so check the
    # arithmetic (busbw = algbw = bytes / time at 2 ranks), not a speed
    assert all(r["wrong"] == 0 and r["time_us"] > 0 for r in v["results"])
    for r in v["results"]:
        assert r["algbw_gbps"] == pytest.approx(r["bytes"] / r["time_us"] / 1e3, abs=0.006)
    assert v["tp_mlp"]["ok"] and v["tp_mlp"]["max_rel_err"] < v["tp_mlp"]["tolerance"]
    # decode shapes, batch 1 and 64, each against one device
    assert [(m["batch"], m["ok"]) for m in v["tp_mlps"]] == [(1, True), (64, True)]
    # small sizes: no CUDA graph on CPU, the timed loop instead (exact check as for large sizes)
    assert [(r["op"], r["bytes"], r["timing"], r["wrong"]) for r in v["latency"]] == [
        ("all_reduce", 8192, "loop+wallclock", 0)
    ]
    assert v["latency"][0]["time_us"] > 0 and v["latency"][0]["verdict"] == "not judged"
    assert workers() == before


def test_wrong_values_and_a_broken_tp_mlp_are_caught() -> None:
    p = verify("--gpus", "3", "--sizes", "64K", "--dtype", "fp32", fault="corrupt:1,tp-skip")
    assert p.returncode == 3, p.stderr
    d = json.loads(p.stdout)
    causes = {f["cause"] for f in d["findings"]}
    assert causes == {"verify.wrong-results", "verify.tp-mlp-mismatch"}
    rows = {r["op"]: r for r in d["facts"]["verify"]["results"]}
    assert rows["all_reduce"]["wrong"] == 3  # one corrupted input element, seen by all 3 ranks
    assert rows["all_gather"]["wrong"] == 0 and rows["reduce_scatter"]["wrong"] == 0
    assert [r["wrong"] for r in d["facts"]["verify"]["latency"]] == [3, 3]  # the small path checks too
    assert d["facts"]["verify"]["tp_mlp"]["max_rel_err"] > 0.1
    assert all(not m["ok"] for m in d["facts"]["verify"]["tp_mlps"])


def test_watchdog_ends_a_hung_rank_and_leaves_no_process() -> None:
    before = workers()
    t0 = time.monotonic()
    # The timeout also covers torch import + init of each rank, slow on a loaded 2-core CI machine.
    p = verify("--gpus", "2", "--sizes", "64K", "--timeout", "8", fault="hang:1:all_gather")
    wall = time.monotonic() - t0
    assert p.returncode == 3, p.stderr
    (f,) = json.loads(p.stdout)["findings"]
    assert f["cause"] == "verify.rank-hung"
    assert f["message"].startswith("rank 1 ") and "all_reduce 64 KiB" in f["message"]
    assert any("rank 0" == e["source"] and "in all_gather" in e["text"] for e in f["evidence"])
    assert wall < 8 + 25  # timeout + python/torch start of the ranks + clean-up
    assert workers() == before


def test_a_rank_that_dies_is_named_and_the_rest_are_ended() -> None:
    before = workers()
    p = verify("--gpus", "2", "--sizes", "64K", "--timeout", "60", fault="die:1:reduce_scatter")
    assert p.returncode == 3, p.stderr
    (f,) = json.loads(p.stdout)["findings"]
    assert f["cause"] == "verify.rank-failed" and "rank 1 exited with exit code 17" in f["message"]
    assert workers() == before


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_ends_every_rank() -> None:
    before = workers()
    env = dict(
        os.environ,
        TPDOCTOR_VERIFY_FAULT="hang:1",
        PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tpdoctor",
            "verify",
            "--backend",
            "gloo",
            "--gpus",
            "2",
            "--sizes",
            "64K",
            "--timeout",
            "300",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts `cmd &` with SIGINT ignored, exec keeps SIG_IGN and Python then installs
        # no KeyboardInterrupt handler: verify would never see this Ctrl-C. The local clean-clone CI runs as
        # `(bash .ci/run &)`, which is why this test failed there three times with an empty stderr (34th session).
        # A user's Ctrl-C reaches a foreground verify whose SIGINT is not ignored: give the child that disposition.
        preexec_fn=_sigint_default,
    )
    try:
        deadline = time.monotonic() + 30
        while len(workers() - before) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(workers() - before) == 2, "the ranks did not start"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        # Ending the ranks takes ~2 s alone (SIGTERM, 1 s, SIGKILL, reap); two local clean-clone CI runs on the 2-core
        # machine (31st and 32nd sessions) took past 30 s at the end of a 60-minute suite and passed alone in 5.5 s:
        # 90 s keeps the test about ending every rank, not about the machine's load
        t = time.monotonic()
        try:
            _, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"verify did not end within {time.monotonic() - t:.0f} s of Ctrl-C; stderr: {err[-2000:]}")
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert workers() == before


def test_no_gpu_is_a_clear_usage_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    p = run_cli("verify", "--backend", "nccl", "--quick")
    assert p.returncode == 2
    assert "needs CUDA or ROCm GPUs" in p.stderr and "Traceback" not in p.stderr
