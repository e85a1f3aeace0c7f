"""How long the live probes take: the watchdog's overshoot past its timeout, and each probe.

    python3 bench/probes_latency.py [runs]

tests/test_probes_live.py checks what the probes answer; how fast they answer is measured here
(median of `runs`, default 7), never asserted in a test.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tpdoctor.facts.probes import pidfd_self_test, pidfd_sibling_test, run_in_child


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    timeout = 0.3
    hang = _median_ms(
        lambda: run_in_child(lambda: (time.sleep(3600), {"ok": True})[1], timeout=timeout), runs
    )
    print(f"watchdog: a hung probe returns after {hang:.0f} ms (timeout {timeout * 1000:.0f} ms, n={runs})")
    print(f"pidfd self-test   median {_median_ms(pidfd_self_test, runs):.1f} ms (n={runs})")
    print(f"pidfd sibling     median {_median_ms(pidfd_sibling_test, runs):.1f} ms (n={runs})")


if __name__ == "__main__":
    main()
