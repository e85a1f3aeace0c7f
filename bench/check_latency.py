"""Latency of `tpdoctor check --root` on a fake 8-GPU root (median of N subprocess runs).

    python3 bench/check_latency.py [runs]

Builds the root with tests/fakeroot.py (needs root for mknod), then times the CLI end to end
(interpreter start, imports, collection, rules, JSON output) and, separately, collect + rules
in-process.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(HERE / "src"), str(HERE / "tests")]

from fakeroot import FakeRoot  # noqa: E402
from tpdoctor.facts.collect import collect_facts  # noqa: E402
from tpdoctor.model import CheckOptions  # noqa: E402
from tpdoctor.rules import run_fact_rules  # noqa: E402


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory() as tmp:
        fr = FakeRoot(Path(tmp)).docker_default().dockerenv().set_ptrace_scope(1)
        for i in range(8):
            bdf = f"0000:{0x18 + i:02x}:00.0"
            fr.add_gpu(128 + i, bdf).add_bypath(bdf, 128 + i)
        fr.set_env(CCL_ZE_IPC_EXCHANGE="sockets", CCL_WORKER_COUNT="2")
        env = dict(os.environ, PYTHONPATH=str(HERE / "src"))
        cmd = [sys.executable, "-m", "tpdoctor", "check", "--root", str(fr.root), "--tp", "8", "-f", "json"]
        wall = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True, check=False)
            wall.append(time.perf_counter() - t)
        inproc = []
        for _ in range(runs):
            t = time.perf_counter()
            run_fact_rules(collect_facts(fr.root, dict(fr.env), live=False), CheckOptions(tp=8))
            inproc.append(time.perf_counter() - t)
    print(
        f"cli end-to-end  median {statistics.median(wall) * 1000:.0f} ms  (min {min(wall) * 1000:.0f}, n={runs})"
    )
    print(
        f"collect+rules   median {statistics.median(inproc) * 1000:.1f} ms  (min {min(inproc) * 1000:.1f}, n={runs})"
    )


if __name__ == "__main__":
    main()
