"""The forced-variable table: for each case (a variable set on the ranks), did verify name it?

    python3 bench/gpu/forced_table.py OUT_DIR > forced_table.md

Reads OUT_DIR/forced_<case>.json (tpdoctor verify --format json) and forced_<case>.rc, both
written by verify_small_h200x2.sh. A case is "named" when a finding's evidence or message quotes
the variable (verify.env-forced, or verify.forced-algorithm-unavailable for a failed collective);
"noted only" when no measurement was slow and the report's notes list the variable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def named(doc: dict, var: str) -> bool:  # type: ignore[type-arg]
    for f in doc.get("findings", []):
        if var in f.get("message", ""):
            return True
        if any(var in (e.get("source") or "") or var in (e.get("text") or "") for e in f.get("evidence", [])):
            return True
    return False


def row(case: str, env: str, doc: dict, rc: str) -> str:  # type: ignore[type-arg]
    causes = sorted({f["cause"] for f in doc.get("findings", [])})
    v = doc.get("facts", {}).get("verify", {})
    slow = [r for r in v.get("results", []) if r.get("verdict") == "degraded"]
    lat = [r for r in v.get("latency", []) if r.get("verdict") == "degraded"]
    seen = [c["seen"] for c in v.get("env_causes", []) if c.get("seen")]
    bw = {(r["op"], r["bytes"]): r["busbw_gbps"] for r in v.get("results", [])}
    ar256 = bw.get(("all_reduce", 256 << 20))
    names = [e.split("=")[0] for e in env.split()]
    noted = all(any(n in note for note in doc.get("notes", [])) for n in names)
    if not names:
        verdict = "-"
    elif all(named(doc, n) for n in names):
        verdict = "yes"
    elif noted:
        verdict = "noted only (nothing measured was slow)"
    else:
        verdict = "**NO**"
    return (
        f"| {case} | `{env or '-'}` | {rc} | {', '.join(causes) or '-'} | "
        f"{ar256 if ar256 is not None else '-'} | {len(slow)} bw / {len(lat)} latency | "
        f"{'; '.join(s[:90] for s in seen[:2]) or '-'} | {verdict} |"
    )


def main(out: Path) -> int:
    print(
        "| case | variables | exit | findings | all_reduce 256 MiB busbw | degraded rows | log shows | named? |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for p in sorted(out.glob("forced_*.json")):
        case = p.stem.removeprefix("forced_")
        try:
            doc = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            print(f"| {case} | - | - | unreadable: {exc} | - | - | - | - |")
            continue
        envf = out / f"forced_{case}.env"
        env = envf.read_text().strip() if envf.exists() else ""
        rcf = out / f"forced_{case}.rc"
        rc = rcf.read_text().strip() if rcf.exists() else "?"
        print(row(case, env, doc, rc))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "out")))
