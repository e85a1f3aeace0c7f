"""Save the real outputs as corpus (TPDOCTOR_ONECCL_RECORD=1): tests/data/oneccl-real/<version>/
<scenario>.log, the library's own lines with a header naming version, scenario, config, command
and the cause explain must name first. tests/test_explain_oneccl_real.py reads them back."""

from __future__ import annotations

from .harness import DATA, RealResult


def record(results: list[RealResult]) -> None:
    for r in results:
        if r.harness_error or not r.output:
            continue
        sc = r.scenario
        d = DATA / r.version
        d.mkdir(parents=True, exist_ok=True)
        cmd = "tpdoctor run --tp 2 -- repro 2" if sc.mode == "run" else f"repro {sc.ranks}"
        head = [
            f"# oneCCL {r.version} (PyPI oneccl-devel/oneccl), Level Zero null driver, Docker",
            f"# scenario: {sc.id}: {sc.title}",
            f"# config: {sc.how}; command in the container: {cmd}",
            f"# expect-first: {sc.run_cause if sc.mode == 'run' else sc.cause or 'none'}",
        ]
        (d / f"{sc.id}.log").write_text("\n".join(head) + "\n" + r.library_lines.rstrip() + "\n")
