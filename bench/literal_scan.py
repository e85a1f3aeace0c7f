#!/usr/bin/env python3
"""How long the literal prefilter alone (hyperscan, else Aho-Corasick) takes over a log, and how many of its literals
are short. Hyperscan's literal matcher slows with many short literals, even ones that never match: 70 five-byte
literals cost 13% of its scan on a Xeon (bench/README.md, seventh session).

    PYTHONPATH=src python3 bench/literal_scan.py /tmp/b256.log [MiB]

Compare trees with PYTHONPATH=<tree>/src on the same machine; the scan is timed alone (min of 5), on the first MiB
of the log (default 128).
"""

from __future__ import annotations

import sys
import time

from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base

SHORT = 5  # bytes; a literal this short or shorter is counted as short


def main() -> None:
    path, mib = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 128
    engine = Scanner(knowledge_base()).engine
    literals: list[bytes] = list(getattr(engine, "_literals", []))
    with open(path, "rb") as f:
        data = f.read(mib << 20)
    end = data.rfind(b"\n") + 1
    best = float("inf")
    hits = 0
    for _ in range(5):
        t0 = time.perf_counter()
        hits = len(engine.scan(data, end))
        best = min(best, time.perf_counter() - t0)
    short = sum(1 for lit in literals if len(lit) <= SHORT)
    print(
        f"{engine.name}: {len(literals)} literals ({short} of {SHORT} bytes or fewer), {hits} hits, "
        f"scan of {end / 2**20:.0f} MiB min {best:.3f} s"
    )


if __name__ == "__main__":
    main()
