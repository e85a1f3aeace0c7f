"""Top-1 accuracy of `tpdoctor explain` on real public logs (tests/data/explain-real).

  PYTHONPATH=src python3 bench/explain_eval.py [--split dev|heldout|heldoutN|all] [--hard] [--verbose] [--jobs N]

Positives: the first cause named (the first finding above notice; where there is none, the first cause that is a notice in the
catalogue, so that a positive whose cause is itself a notice, `device.no-gpu`, can be named) must be the `expected` cause or one of
`also`. Negatives and healthy runs must be clean: no finding above notice. Reported separately
for the development split (dev/ or train/, which signatures may be tuned on) and heldout/
(chosen at random before any signature was written for it; never tuned on) and the fresh held-out sets heldoutN/ (collected
later by helpers who never ran explain on them; nobody writing signatures opens them).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from tpdoctor.explain import explain
from tpdoctor.model import get_cause

ROOT = Path(__file__).resolve().parent.parent / "tests" / "data" / "explain-real"
DEV_SPLITS = ("dev", "train")
# Every held-out split present (heldout/, heldoutN/): a new set is measured the moment its folder lands,
# and disappears from the choices when tools/promote_heldout.py moves it to dev/.
HELDOUT_SPLITS = tuple(
    sorted(
        (p.name for p in ROOT.iterdir() if re.fullmatch(r"heldout\d*", p.name) and any(p.glob("*.log"))),
        key=lambda n: int(n[7:] or 0),
    )
)  # each reported on its own, never listed


# Collectors mark a log whose text cannot show its resolved cause (a title line, prose, a hang that
# printed nothing) in its `reason` (README.md: "hard cases"); these words are how they wrote it.
HARD_MARKS = (
    "hard case",
    "cannot show",
    "title only",
    "only the title",
    "no error text",
    "does not show",
    "doubtful",
)


@dataclass
class Result:
    path: str
    split: str
    kind: str
    expected: str
    accepted: tuple[str, ...]
    got: tuple[str, ...]
    hard: bool = False

    @property
    def ok(self) -> bool:
        if self.kind == "positive":
            return bool(self.got) and self.got[0] in self.accepted
        return not self.got


def entries(root: Path = ROOT) -> list[dict[str, object]]:
    index = yaml.safe_load((root / "index.yaml").read_text(encoding="utf-8")) or {}
    return [e for e in index.get("logs") or [] if (root / str(e["path"])).is_file()]


def _split_of(entry: dict[str, object]) -> str:
    return str(entry.get("split") or str(entry["path"]).split("/", 1)[0])


def evaluate(entry: dict[str, object], root: Path = ROOT) -> Result:
    report = explain([str(root / str(entry["path"]))])
    got = tuple(f.cause for f in report.findings if f.severity.value != "notice")
    kind = str(entry.get("kind", "positive"))
    if kind == "positive" and not got:
        # a notice is what the user reads first when nothing is above it: `device.no-gpu` (a VM with no GPU passed
        # through) is a notice by design, and before this no positive labelled with it alone could be named. Only a
        # cause that is a notice in the catalogue: one demoted to a notice here (benign in this log) is not named.
        got = tuple(f.cause for f in report.findings if get_cause(f.cause).severity.value == "notice")[:1]
    expected = str(entry.get("expected", "none"))
    also = tuple(str(x) for x in (entry.get("also") or []))
    split = _split_of(entry)
    hard = any(m in str(entry.get("reason", "")).lower() for m in HARD_MARKS)
    return Result(str(entry["path"]), split, kind, expected, (expected, *also), got, hard)


def _holds_any(entry: dict[str, object], texts: list[str], root: Path = ROOT) -> bool:
    body = (root / str(entry["path"])).read_bytes().decode("utf-8", "replace").lower()
    return any(t in body for t in texts)


def summary(results: list[Result]) -> str:
    pos = [r for r in results if r.kind == "positive"]
    neg = [r for r in results if r.kind != "positive"]
    p_ok = sum(r.ok for r in pos)
    n_ok = sum(r.ok for r in neg)
    p = f"top-1 {p_ok}/{len(pos)} = {100 * p_ok / len(pos):.0f}%" if pos else "top-1 n/a"
    n = f"clean {n_ok}/{len(neg)} = {100 * n_ok / len(neg):.0f}%" if neg else "clean n/a"
    return f"{p}; negatives {n}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("dev", *HELDOUT_SPLITS, "all"), default="all")
    ap.add_argument("--verbose", "-v", action="store_true", help="list every log and what explain said")
    ap.add_argument(
        "--hard",
        action="store_true",
        help="also split top-1 by logs the collector marked as not showing the cause",
    )
    ap.add_argument(
        "--jobs", "-j", type=int, default=1,
        help="logs explained in parallel processes (the answers do not depend on it; 0: one per CPU)",
    )
    ap.add_argument(
        "--containing", "-c", action="append", default=[], metavar="TEXT",
        help="only the logs holding TEXT (case-insensitive; repeat for any of several): a learner's quick before/after"
        " on the logs its new literals can touch, instead of the whole dev split",
    )
    args = ap.parse_args(argv)
    # only the logs of the split asked for: a blind round's heldoutN is 100 logs, dev is 3000
    todo = [e for e in entries() if args.split == "all" or _split_of(e) == args.split
            or (args.split == "dev" and _split_of(e) in DEV_SPLITS)]
    if args.containing:
        todo = [e for e in todo if _holds_any(e, [t.lower() for t in args.containing])]
        print(f"{len(todo)} logs hold {' or '.join(map(repr, args.containing))}")
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    if jobs > 1 and len(todo) > 1:
        # the first log here builds the pattern database once; forked workers inherit it instead of each compiling it
        results = [evaluate(todo[0])]
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            results += pool.map(evaluate, todo[1:], chunksize=8)  # map keeps the index order
    else:
        results = [evaluate(e) for e in todo]
    groups = {"dev": [r for r in results if r.split in DEV_SPLITS]}
    groups.update({name: [r for r in results if r.split == name] for name in HELDOUT_SPLITS})
    for name, group in groups.items():
        if args.split not in (name, "all") or (not group and args.split == "all"):
            continue
        print(f"{name:8s} {len(group):3d} logs: {summary(group)}")
        if args.hard:
            shown = [r for r in group if r.kind == "positive" and not r.hard]
            hard = [r for r in group if r.kind == "positive" and r.hard]
            print(
                f"{'':8s} text shows the cause: {summary(shown).split(';')[0]}; marked hard: {summary(hard).split(';')[0]}"
            )
        if args.verbose and name == "dev":  # held-out results are counted, never listed: nobody tunes on them
            for r in group:
                mark = "ok  " if r.ok else "MISS"
                print(
                    f"  {mark} {r.path}: expected {'/'.join(r.accepted) if r.kind == 'positive' else 'clean'}, got {', '.join(r.got) or '-'}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
