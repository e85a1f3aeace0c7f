#!/usr/bin/env python3
"""How robust is `explain` to the way users paste logs? Recall of every signature example under
each realistic perturbation (tests/explain_perturb.py: compose/kubectl/journald/launcher prefixes,
markdown, escaping, wrapping, case drift).

    PYTHONPATH=src python3 bench/explain_robustness.py            # the table
    PYTHONPATH=src python3 bench/explain_robustness.py --misses 5 # and up to 5 misses per row
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from explain_perturb import PERTURBATIONS, measure
from tpdoctor.explain.signatures import knowledge_base


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--misses", type=int, default=0, help="show up to N missed texts per perturbation")
    ap.add_argument("--only", help="comma-separated perturbation names")
    args = ap.parse_args()
    chosen = [p for p in PERTURBATIONS if not args.only or p.name in args.only.split(",")]
    results = measure(knowledge_base(), chosen)
    print("| perturbation | recognised | recall |")
    print("|---|---:|---:|")
    total_ok = total = 0
    for p in chosen:
        ok, n, misses = results[p.name]
        total_ok += ok
        total += n
        print(f"| {p.name} | {ok}/{n} | {100 * ok / n if n else 100:.1f}% |")
        for sid, text in misses[: args.misses]:
            print(f"    MISS {sid}: {text!r}"[:300])
    print(f"| all | {total_ok}/{total} | {100 * total_ok / total:.1f}% |")


if __name__ == "__main__":
    main()
