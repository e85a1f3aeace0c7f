"""explain's forked scan workers (explain/scanpool.py): a long log gives exactly the report one
process gives, and a worker that fails or dies costs speed, never an answer."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tpdoctor.explain import scanner
from tpdoctor.explain import scanpool as sp
from tpdoctor.explain.reader import CHUNK, iter_buffers

# Lines a real failing run prints (shared corpus forms), planted far apart in a long healthy log.
PLANTED = (
    "RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: could not open device directory",
    "node1:1234:1300 [0] include/shm.h:28 NCCL WARN Error: failed to extend /dev/shm/nccl-abc123 to 9637892 bytes",
    "\x1b[31mERROR 05-01 10:00:00 worker.py:12] torch.distributed.DistBackendError: NCCL error: unhandled system error\x1b[0m",
)
FILLER = (
    "node1:1234:1300 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM\n"
    "INFO 05-01 10:00:00 metrics.py:351] Avg prompt throughput: 0.0 tokens/s, Running: 1 reqs\n"
    "\x1b[32mINFO\x1b[0m 05-01 10:00:01 engine.py:12] step 42 took 0.01 s, error rate 0\n"
)


def _long_log(path: Path, size: int) -> list[int]:
    """A log of about `size` bytes with PLANTED at scattered lines; returns their line numbers."""
    rng = random.Random(7)
    lines_per_filler = FILLER.count("\n")
    n_fillers = size // len(FILLER)
    at = sorted(rng.sample(range(1, n_fillers), len(PLANTED)))
    numbers: list[int] = []
    with path.open("w", encoding="utf-8") as f:
        line = 0
        for i in range(n_fillers):
            f.write(FILLER)
            line += lines_per_filler
            if at and i == at[0]:
                at.pop(0)
                f.write(PLANTED[len(numbers)] + "\n")
                line += 1
                numbers.append(line)
    return numbers


# Run in a fresh interpreter: the pool never forks from a process with other threads, and a
# pytest process may hold some (docker SDK, executors) left by earlier tests.
_DRIVER = """
import json, os, sys
from tpdoctor.explain import explain, scanpool
from tpdoctor.render.json_format import render_json
submitted = []
real = scanpool.ScanPool.submit
def spy(self, slot, end):
    submitted.append(len(self))
    real(self, slot, end)
scanpool.ScanPool.submit = spy
out = {}
for workers in ("0", "2"):
    os.environ["TPDOCTOR_SCAN_WORKERS"] = workers
    out[workers] = {"report": json.loads(render_json(explain([sys.argv[1]]))), "submitted": list(submitted)}
    submitted.clear()
print(json.dumps(out))
"""


def _reports(path: Path) -> dict[str, dict[str, object]]:
    env = dict(os.environ, PYTHONPATH=str(Path(scanner.__file__).resolve().parents[2]))
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(path)], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_long_log_gives_the_same_report_with_workers(tmp_path: Path) -> None:
    log = tmp_path / "long.log"
    planted = _long_log(log, 4 * CHUNK + 12345)
    assert log.stat().st_size >= scanner.POOL_FROM
    runs = _reports(log)
    assert runs["0"]["submitted"] == []
    submitted = runs["2"]["submitted"]
    assert isinstance(submitted, list) and submitted and all(n == 2 for n in submitted), "the workers were not used"
    one, two = runs["0"]["report"], runs["2"]["report"]
    assert two == one
    assert isinstance(one, dict)
    findings = one["findings"]
    assert isinstance(findings, list)
    lines = {ev["line"] for f in findings for ev in f["evidence"]}
    assert set(planted[:2]) <= lines, "a planted line was not reported at its line"
    causes = {f["cause"] for f in findings}
    assert {"oneccl.bypath-missing", "shm.too-small"} <= causes


def _scan_x(block: sp.Buffer, end: int) -> sp.Prescanned:
    """A stand-in prescan: every b"x" is literal 0, every b"y" literal 1; newlines counted."""
    data = bytes(block[:end])
    hits = [(0 if c == ord("x") else 1, i + 1) for i, c in enumerate(data) if c in b"xy"]
    return hits, [data.count(b"\n", 0, e) for _, e in hits], data.count(b"\n")


@pytest.mark.parametrize("failure", ["raises", "dies"])
def test_a_failing_worker_costs_speed_not_hits(failure: str, tmp_path: Path) -> None:
    parent = os.getpid()

    def flaky(block: sp.Buffer, end: int) -> sp.Prescanned:
        if os.getpid() != parent and bytes(block[:5]) == b"BOOM!":
            if failure == "dies":
                os._exit(3)
            raise ValueError("worker failure")
        return _scan_x(block, end)

    rng = random.Random(3)
    blocks = [bytes(rng.choice(b"xyz\n") for _ in range(5000)) for _ in range(9)]
    blocks[4] = b"BOOM!" + blocks[4][5:]
    buffers = sp.shared_buffers(4, 6000)
    pool = sp.ScanPool(flaky, buffers, 2)
    try:
        assert len(pool) == 2
        got = []
        for i, block in enumerate(blocks):
            slot = i % 4
            buffers[slot][: len(block)] = block
            pool.submit(slot, len(block))
            got.append(pool.result(slot))
        assert got == [_scan_x(b, len(b)) for b in blocks]
    finally:
        pool.close()
    for w in pool._workers:
        assert not os.path.exists(f"/proc/{w.pid}")


def test_ring_buffers_keep_earlier_blocks_intact() -> None:
    rng = random.Random(11)
    lines = [bytes(rng.choice(b"ab ") for _ in range(rng.choice([0, 3, 40, 700]))) for _ in range(3000)]
    data = b"\n".join(lines) + b"\n"
    single = [bytes(b[:e]) for b, e in iter_buffers(io.BytesIO(data), chunk=4096, max_line=512)]
    ring = [bytearray(4096 + 512 + 1) for _ in range(3)]
    held: list[tuple[bytearray, int, bytes]] = []
    for n, (buf, end) in enumerate(iter_buffers(io.BytesIO(data), chunk=4096, max_line=512, buffers=ring)):
        assert buf is ring[n % 3]
        held.append((buf, end, bytes(buf[:end])))
        # the two blocks before this one are still what they were when yielded
        for old_buf, old_end, copy in held[-3:]:
            assert bytes(old_buf[:old_end]) == copy
    assert [c for _, _, c in held] == single


def test_no_fork_with_threads_running() -> None:
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not sp.can_fork()
    finally:
        stop.set()
        t.join()
    assert sp.can_fork()


@pytest.mark.parametrize(
    ("machine", "pinned", "load", "want"),
    [
        (2, 2, 0.2, 2),
        (2, 2, 1.2, 2),
        (2, 2, 1.9, 2),
        (2, 2, 2.0, 0),
        (2, 2, 3.5, 0),
        (16, 16, 0.0, 4),  # an idle many-CPU host: four (1.20x grep against 1.70x with two, 88 MB)
        (16, 16, 11.5, 4),
        (16, 16, 12.5, 3),  # more than two only where that many CPUs are idle
        (16, 16, 14.8, 2),
        (16, 16, 17.0, 0),
        (4, 4, 0.5, 3),
        (64, 64, 1.0, sp.MAX_WORKERS),
        (16, 2, 2.5, 2),  # pinned to 2 of 16 CPUs: the load is the whole machine's
        (16, 1, 0.0, 0),
        (1, 1, 0.0, 0),
    ],
)
def test_workers_unless_the_machine_is_oversubscribed(
    machine: int, pinned: int, load: float, want: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TPDOCTOR_SCAN_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: machine)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(pinned)))
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert sp.worker_count() == want
    monkeypatch.setenv("TPDOCTOR_SCAN_WORKERS", "0")
    assert sp.worker_count() == 0
