"""The misses of a promoted blind set (entries with `was: heldoutN`) at this tree, for the learners' briefs.

    PYTHONPATH=src python3 tools/blind_round/misses.py heldout20
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import explain_eval as ev

split = sys.argv[1]
for e in ev.entries():
    if e.get("was") != split:
        continue
    r = ev.evaluate(e)
    if not r.ok:
        accepted = "/".join(r.accepted) if r.kind == "positive" else "clean"
        print(f"- `{e['path']}` ({r.kind}{', hard' if r.hard else ''}): expected {accepted}, got {', '.join(r.got) or '-'}")
        print(f"  source: {e.get('source')}")
        print(f"  reason: {e.get('reason')}")
