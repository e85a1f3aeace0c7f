"""Check a blind round's collected entries before they are copied in (README step 2):

  python3 tools/blind_round/check.py N

Each entry: its file is there, its cause ids are known, its source is not already a log's source, and the file
name starts with the expected id (or the kind). Prints the problems, then the counts per collector and per kind."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import yaml

INDEX = Path(__file__).resolve().parents[2] / "tests" / "data" / "explain-real" / "index.yaml"


def problems(entry: dict[str, object], folder: Path, ids: set[str], known_sources: set[str]) -> list[str]:
    kind = str(entry.get("kind"))
    expected = str(entry.get("expected") or "none")
    found = []
    if not (folder / str(entry["path"])).is_file():
        found.append("missing file")
    if kind == "positive" and expected not in ids:
        found.append(f"unknown id {expected}")
    found += [f"unknown also {a}" for a in entry.get("also") or [] if a not in ids]  # type: ignore[attr-defined]
    if str(entry.get("source")) in known_sources:
        found.append("source already in index.yaml")
    if kind != "positive" and expected != "none":
        found.append("a negative/healthy entry with an expected id")
    if not str(entry["path"]).startswith((expected if kind == "positive" else kind) + "__"):
        found.append("file name does not start with the expected id or kind")
    return found


def main(n: str) -> int:
    ids = {line.split(":")[0] for line in Path("/work/notes/cause-ids.txt").read_text().splitlines() if line}
    known = {str(e.get("source")) for e in yaml.safe_load(INDEX.read_text())["logs"]}
    kinds: Counter[str] = Counter()
    bad = 0
    for folder in sorted(Path(f"/work/wt/heldout{n}-set").glob(f"c{n}*")):
        listed = folder / "entries.yaml"
        if not listed.is_file():
            print(folder.name, "no entries.yaml")
            continue
        entries = yaml.safe_load(listed.read_text()) or []
        for entry in entries:
            kinds[str(entry.get("kind"))] += 1
            for p in problems(entry, folder, ids, known):
                bad += 1
                print(folder.name, entry["path"], p)
        print(folder.name, len(entries))
    print(dict(kinds))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
