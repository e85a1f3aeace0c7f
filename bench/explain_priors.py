"""Which listed cause the labelled logs support, for every signature that lists more than one.

  PYTHONPATH=src python3 bench/explain_priors.py [--all]

A `suggests` signature names its causes in the order a bare line should name them. For each dev log
(tests/data/explain-real/dev/) this scans the log, and for every multi-cause signature it matched counts
which of its causes the log's label accepts (`clean` for negatives and healthy runs, `other` when the
label is a cause the signature does not list). A signature whose first cause is out-voted is printed
(with --all: every multi-cause signature that matched): its order is worth re-reading (docs/explain.md
"Priors of an ambiguous line"). Held-out splits are never read.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from explain_eval import DEV_SPLITS, ROOT, entries

from tpdoctor.explain import scan_inputs
from tpdoctor.explain.signatures import knowledge_base


def tallies() -> dict[str, Counter[str]]:
    by_id = {s.id: s for s in knowledge_base().signatures}
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in entries():
        path = str(entry["path"])
        if str(entry.get("split") or path.split("/", 1)[0]) not in DEV_SPLITS:
            continue
        positive = entry.get("kind", "positive") == "positive"
        accepted = (
            {str(entry.get("expected")), *(str(x) for x in entry.get("also") or [])} if positive else set()
        )
        for sig_id in scan_inputs([str(ROOT / path)]).signatures:
            sig = by_id.get(sig_id)
            if sig is None or len(sig.causes) < 2:
                continue
            hit = [c for c in sig.causes if c in accepted]
            out[sig_id].update(hit or (["other"] if positive else ["clean"]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--all", action="store_true", help="every multi-cause signature that matched a dev log")
    args = ap.parse_args(argv)
    by_id = {s.id: s for s in knowledge_base().signatures}
    for sig_id, counts in sorted(tallies().items()):
        first = by_id[sig_id].causes[0]
        best, n = max(
            ((c, k) for c, k in counts.items() if c not in ("other", "clean")),
            key=lambda x: x[1],
            default=("", 0),
        )
        if args.all or (best and best != first and n > counts[first]):
            print(f"{sig_id}: listed {list(by_id[sig_id].causes)}; dev logs {dict(counts.most_common())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
