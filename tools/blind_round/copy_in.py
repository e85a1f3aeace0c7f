"""Copy a blind round's checked entries into the project (README step 2):

  python3 tools/blind_round/copy_in.py N BATCH

Copies each collector's logs to tests/data/explain-real/heldoutN/, appends the entries to index.yaml with
`split: heldoutN` and `batch: BATCH`, and gathers the collectors' uncovered.md lists into heldoutN-uncovered.md."""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path

import yaml

INDEX_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "explain-real"


def main(n: str, batch: int) -> None:
    repo = str(INDEX_DIR)
    dst = f"{repo}/heldout{n}"
    os.makedirs(dst, exist_ok=True)
    out = []
    unc = [f"# heldout{n}: resolved container/host causes that no cause id covered (the collectors' lists, verbatim)\n"]
    for d in sorted(glob.glob(f"/work/wt/heldout{n}-set/c{n}*")):
        for e in yaml.safe_load(open(d + "/entries.yaml")) or []:
            assert not os.path.exists(f"{dst}/{e['path']}"), e["path"]
            shutil.copyfile(f"{d}/{e['path']}", f"{dst}/{e['path']}")
            r = {"path": f"heldout{n}/{e['path']}", "expected": e.get("expected") or "none"}
            if e.get("also"):
                r["also"] = list(e["also"])
            r.update(kind=e["kind"], split=f"heldout{n}", batch=batch, source=e["source"],
                     repository=e.get("repository", ""), title=str(e.get("title", "")), reason=str(e.get("reason", "")))
            out.append(r)
        u = d + "/uncovered.md"
        if os.path.exists(u):
            unc.append("\n" + open(u).read().strip() + "\n")
    text = yaml.safe_dump(out, sort_keys=False, allow_unicode=True, width=120)
    with open(f"{repo}/index.yaml", "a") as f:
        f.write(text)
    open(f"{repo}/heldout{n}-uncovered.md", "w").write("".join(unc))
    print(len(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
