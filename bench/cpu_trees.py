#!/usr/bin/env python3
"""`tpdoctor explain` CPU time (user + system) of several trees on one log, interleaved, min of N.

    python3 bench/cpu_trees.py /tmp/b256.log 5 /tmp/old-tree /work/main

Each run is `python3 -m tpdoctor explain LOG` with PYTHONPATH=<tree>/src and TPDOCTOR_SCAN_WORKERS=0 (one
process); CPU time from the children's rusage, steadier than wall time on a shared machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys


def main() -> None:
    log, rounds, trees = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    cpu: dict[str, list[float]] = {t: [] for t in trees}
    for _ in range(rounds):
        for tree in trees:
            env = dict(os.environ, TPDOCTOR_SCAN_WORKERS="0", PYTHONPATH=os.path.join(tree, "src"))
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(
                [sys.executable, "-m", "tpdoctor", "explain", log],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[tree].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    for tree, values in cpu.items():
        print(f"{tree}: min {min(values):.2f} s, all {' '.join(f'{v:.2f}' for v in sorted(values))}")


if __name__ == "__main__":
    main()
