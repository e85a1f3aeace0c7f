#!/usr/bin/env python3
"""Does `explain` keep its answer when a whole real log reaches it in another shape? Each dev log that explain
gets right is rewritten the way log stores, launchers and pastes deliver it (Docker json-file records, compose and
Ray prefixes, kubectl/journald timestamps, CRLF, a markdown quote, the whole log quoted as one JSON string) and
explained again: positives must keep their first cause, negatives must stay clean.

bench/explain_robustness.py perturbs one signature example at a time; this one keeps a log's lines together, so
what reads across lines (a banner, a table, a fact beside a signature, a correlation) is measured too.

    PYTHONPATH=src python3 bench/explain_log_formats.py [--positives 100] [--negatives 50] [--seed 0] [--misses 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import explain_eval as ev

from explain_perturb import BY_NAME
from tpdoctor.explain import explain

_TIME = "2026-12-03T16:00:00.123456789Z"


def _docker_json(lines: list[str]) -> str:
    # moby daemon/logger/jsonfilelog: one record per line, no spaces, the line's newline inside "log"
    return "".join(
        json.dumps({"log": line + "\n", "stream": "stderr", "time": _TIME}, separators=(",", ":")) + "\n" for line in lines
    )


def _prefixed(prefix: str) -> Callable[[list[str]], str]:
    return lambda lines: "".join(f"{prefix}{line}\n" for line in lines)


FORMATS: dict[str, Callable[[list[str]], str]] = {
    "docker-json-file": _docker_json,
    "compose-prefix": _prefixed("vllm-openai-1  | "),
    "kubectl-timestamps": lambda lines: "".join(f"2026-12-03T16:00:{i % 60:02d}.123456789Z {x}\n" for i, x in enumerate(lines)),
    "journald": _prefixed("Dec 03 16:00:00 gpu-node-1 python3[4242]: "),
    "crlf": lambda lines: "".join(f"{line}\r\n" for line in lines),
    "markdown-quote": _prefixed("> "),
    "one-json-string": lambda lines: json.dumps({"reason": "Error", "message": "\n".join(lines)}) + "\n",
    "ray-worker-prefix": _prefixed("(RayWorkerWrapper pid=12345, ip=10.0.0.2) "),
    "srun-label": _prefixed("1: "),
    "torch-rank-prefix": _prefixed("[rank1]: "),
    # a forum's markdown typographer on a paste outside a code block (tests/explain_perturb.py _typographer)
    "typographer": lambda lines: "".join(f"{BY_NAME['typographer'].apply(x) or x}\n" for x in lines),
}


def _answer(path: Path) -> tuple[str, ...]:
    return tuple(f.cause for f in explain([str(path)]).findings if f.severity.value != "notice")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--positives", type=int, default=100)
    ap.add_argument("--negatives", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--misses", type=int, default=3, help="list up to N dev logs that changed, per format")
    ap.add_argument("--only", help="comma-separated format names")
    args = ap.parse_args()
    right = [r for r in (ev.evaluate(e) for e in ev.entries()) if r.split in ev.DEV_SPLITS and r.ok]
    rng = random.Random(args.seed)
    pos = [r for r in right if r.kind == "positive"]
    neg = [r for r in right if r.kind != "positive"]
    pos = rng.sample(pos, min(args.positives, len(pos)))
    neg = rng.sample(neg, min(args.negatives, len(neg)))
    chosen = [n for n in FORMATS if not args.only or n in args.only.split(",")]
    print(f"dev logs explain gets right: {len(pos)} positives, {len(neg)} negatives (seed {args.seed})")
    print("| format | first cause kept | still clean |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "log"
        for name in chosen:
            changed: list[str] = []
            kept = clean = 0
            for r in pos + neg:
                text = (ev.ROOT / r.path).read_text(encoding="utf-8", errors="replace")
                out.write_text(FORMATS[name](text.splitlines()), encoding="utf-8")
                got = _answer(out)
                ok = bool(got) and got[0] in r.accepted if r.kind == "positive" else not got
                if r.kind == "positive":
                    kept += ok
                else:
                    clean += ok
                if not ok:
                    changed.append(f"{r.path}: {got[:1] or 'nothing'}")
            print(f"| {name} | {kept}/{len(pos)} | {clean}/{len(neg)} |")
            for line in changed[: args.misses]:
                print(f"    changed {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
