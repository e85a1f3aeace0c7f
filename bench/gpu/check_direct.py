"""Fallback for the fault matrix when `python -m tpdoctor check` is not available: the same
collectors and rules, called directly. Usage: check_direct.py [--tp N] [--backend B] [--snapshot FILE]."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Report
from tpdoctor.render.json_format import render_json
from tpdoctor.rules import run_fact_rules


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tp", type=int, default=None)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--snapshot", type=Path, default=None)
    args = ap.parse_args()
    facts = collect_facts(Path("/"), dict(os.environ), live=True)
    if not facts.env:  # the env collector lives in the check foundation; keep the rules fed
        facts.env = {
            k: v
            for k, v in os.environ.items()
            if not any(s in k for s in ("TOKEN", "KEY", "SECRET", "PASSWORD"))
        }
    if args.snapshot:
        args.snapshot.write_text(facts.model_dump_json(indent=2))
        return 0
    report = Report(
        command="check", findings=run_fact_rules(facts, CheckOptions(tp=args.tp, backend=args.backend))
    )
    report.notes.append("bench/gpu/check_direct.py (fallback for `tpdoctor check`)")
    print(render_json(report))
    return int(report.exit_code)


if __name__ == "__main__":
    sys.exit(main())
