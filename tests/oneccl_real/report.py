"""The scenario table (docs/oneccl-real.md and the CI log): config -> real oneCCL -> tpdoctor."""

from __future__ import annotations

from .harness import RealResult


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(results: list[RealResult]) -> str:
    head = (
        "| scenario | config | oneCCL | real oneCCL result | check's blockers | explain first | agree? |\n"
        "|---|---|---|---|---|---|---|"
    )
    rows = []
    for r in results:
        sc = r.scenario
        blockers = ", ".join(f"`{b}`" for b in r.blockers) or "none"
        first = r.explain_first or "-"
        if sc.mode == "run":
            first = f"{first}; run: {r.run_first or '-'}"
        problems = r.problems()
        agree = "yes" if not problems else "NO: " + "; ".join(problems)
        rows.append(
            f"| `{sc.id}`: {_cell(sc.title)} | {sc.how} | {r.version} | {_cell(r.outcome)} | {blockers} "
            f"| {first} | {_cell(agree)} |"
        )
    return "\n".join([head, *rows])
