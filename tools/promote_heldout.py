"""Promote a measured held-out split of tests/data/explain-real to dev/ (its entries keep `was:`).

  python3 tools/promote_heldout.py heldout7

Run it only after the split was measured (bench/explain_eval.py --split heldoutN, aggregates only):
from then on its logs are development data that signatures may be learnt from. The files move with
`git mv` semantics left to the caller (plain renames here, then `git add -A`); index.yaml is edited
line by line so that every other byte of it stays as it was.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "tests" / "data" / "explain-real"


def promote(split: str, root: Path = ROOT) -> int:
    if not re.fullmatch(r"heldout\d+", split):
        raise SystemExit(f"not a held-out split name: {split!r}")
    src, dst = root / split, root / "dev"
    index = root / "index.yaml"
    lines = index.read_text(encoding="utf-8").splitlines(keepends=True)
    out: list[str] = []
    moved = 0
    for line in lines:
        if line.startswith(f"- path: {split}/"):
            name = line.split("/", 1)[1].strip()
            if (dst / name).exists():
                raise SystemExit(f"dev/{name} exists already")
            (src / name).rename(dst / name)
            line = f"- path: dev/{name}\n"
            moved += 1
        elif line == f"  split: {split}\n":
            out.append("  split: dev\n")
            line = f"  was: {split}\n"
        out.append(line)
    index.write_text("".join(out), encoding="utf-8")
    if src.is_dir() and not any(src.iterdir()):
        src.rmdir()
    return moved


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(f"promoted {promote(sys.argv[1])} logs to dev/")
