#!/usr/bin/env python3
"""Does the number of prefilter literals change Hyperscan's scan time?

    PYTHONPATH=src python3 bench/literal_cost.py /tmp/explain2-bench.log --mib 256

Scans the first --mib MiB of a log (blocks of 4 MiB, in memory) with the knowledge base's full
literal set (covered literals confirmed in place, engine.covers), the same set with every literal in the
database (no covers), and only the error-word literals, best CPU time of 3 each.
"""

from __future__ import annotations

import argparse
import time

from tpdoctor.explain import engine as engine_mod
from tpdoctor.explain.engine import HyperscanEngine
from tpdoctor.explain.scanner import SALIENT_LITERALS, Scanner
from tpdoctor.explain.signatures import knowledge_base


def best_scan(engine: HyperscanEngine, blocks: list[bytes]) -> tuple[float, int]:
    best, hits = 1e9, 0
    for _ in range(3):
        t0 = time.process_time()
        hits = sum(len(engine.scan(b)) for b in blocks)
        best = min(best, time.process_time() - t0)
    return best, hits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    with open(args.log, "rb") as f:
        data = f.read(args.mib << 20)
    blocks = [data[i : i + (4 << 20)] for i in range(0, len(data), 4 << 20)]
    full = Scanner(knowledge_base()).engine
    assert isinstance(full, HyperscanEngine)
    literals, single = full._literals, full._is_single
    words = {w.encode() for w in SALIENT_LITERALS}
    few = [(lit, s) for lit, s in zip(literals, single, strict=True) if lit in words]
    covers = engine_mod.covers
    engine_mod.covers = lambda _lits, _single: {}  # type: ignore[assignment]
    try:
        uncovered = HyperscanEngine(literals, single)
    finally:
        engine_mod.covers = covers
    for name, engine in (
        (f"all {len(literals)} literals", full),
        ("all, none covered", uncovered),
        (f"{len(few)} error-word literals", HyperscanEngine([x for x, _ in few], [s for _, s in few])),
    ):
        t, hits = best_scan(engine, blocks)
        print(f"{name:28s} {t:.3f} s CPU, {hits} hits")


if __name__ == "__main__":
    main()
