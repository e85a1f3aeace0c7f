"""The forms each cause takes in logs, from the knowledge base: `docs/explain-forms.md`.

    PYTHONPATH=src python3 -m tpdoctor.explain.forms > docs/explain-forms.md

One section per cause id that explain can name: every signature that supports it (first cause or
alternative), how strongly, the example lines (real wordings, several versions where they differ)
and the upstream source each was read from. Error-code table entries are summarised per table
(data/error_codes/*.yaml list every code). tests/test_explain_forms.py keeps the file in sync.
"""

from __future__ import annotations

import sys
from collections import defaultdict

from tpdoctor.explain.signatures import KnowledgeBase, Signature, knowledge_base
from tpdoctor.model import catalog


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def render(kb: KnowledgeBase | None = None) -> str:
    kb = kb or knowledge_base()
    by_cause: dict[str, list[tuple[int, Signature]]] = defaultdict(list)
    codes: dict[str, list[str]] = defaultdict(list)
    for sig in kb.signatures:
        if sig.loose_of:
            continue  # a loose twin repeats its original's forms (signatures.loose_twins)
        for rank, cause in enumerate(sig.causes):
            if sig.code is not None:
                codes[cause].append(f"{sig.code.name}")
            else:
                by_cause[cause].append((rank, sig))
    known = catalog()
    out = [
        "# The forms of each cause in logs",
        "",
        "Generated from `src/tpdoctor/data/signatures.yaml` by `PYTHONPATH=src python3 -m tpdoctor.explain.forms`;",
        "do not edit. For each cause id: the signatures that recognise it (`main` = the cause the line",
        "supports, `alt` = an alternative shown as related), their strength, the wordings they are tested",
        "on, and the upstream code or thread each wording was read from.",
        "",
    ]
    for cause in sorted(set(by_cause) | set(codes)):
        summary = known[cause].summary if cause in known else ""
        out += [f"## `{cause}`", "", _cell(summary), ""]
        rows = sorted(by_cause.get(cause, []), key=lambda r: (r[0], r[1].id))
        if rows:
            out += ["| signature | role | strength | forms (examples) | source |", "|---|---|---|---|---|"]
            for rank, sig in rows:
                forms = "<br>".join(f"`{_cell(e)}`" for e in sig.examples)
                role = "main" if rank == 0 else "alt"
                out.append(f"| `{sig.id}` | {role} | {sig.strength} | {forms} | {_cell(sig.source)} |")
            out.append("")
        if cause in codes:
            names = sorted(set(codes[cause]))
            out += [f"Error codes (by name, printed string or number): {', '.join(f'`{n}`' for n in names)}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
