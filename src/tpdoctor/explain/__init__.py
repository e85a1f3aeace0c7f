"""`explain`: from any error log to the root cause and the minimal fix.

scan (reader + engine + scanner, one streaming pass) -> correlate (signatures + facts -> ranked
causes) -> Findings with the remedy catalog's fixes. The knowledge is data/signatures.yaml.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from tpdoctor.explain.context import add_quoted_facts
from tpdoctor.explain.correlate import Diagnosis, diagnose, to_findings
from tpdoctor.explain.fallback import first_error, layer_of, nearest_causes
from tpdoctor.explain.launcher import launcher_of, launcher_ranks
from tpdoctor.explain.reader import open_log
from tpdoctor.explain.scanner import Scanner, ScanResult
from tpdoctor.explain.signatures import knowledge_base
from tpdoctor.explain.terminal import classify, not_container_reason
from tpdoctor.model import Finding, Report
from tpdoctor.model.fixes import fix_context

NO_CAUSE = "No known container/IPC cause found."


class ExplainReport(Report):
    """Findings are already ranked by correlate (primary first); keep that order when rendering."""

    def sorted_findings(self) -> list[Finding]:
        return list(self.findings)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic collection while the knowledge base and the scanner's literal tables are built: ~75 k objects
    that all stay alive, which the collector would otherwise walk again and again as they grow (~10% of that
    start-up). Collection resumes after; the collector was only asked to wait."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def scan_inputs(inputs: Sequence[str], engine: str = "auto") -> ScanResult:
    with _gc_paused():
        scanner = Scanner(knowledge_base(), engine=engine)
    for name in inputs:
        with open_log(name, scanner.result.notes) as stream:
            scanner.scan_stream(stream, "<stdin>" if name == "-" else name)
    add_quoted_facts(scanner.result)
    return scanner.result


def _gpu_count(value: str | int | None) -> int | None:
    """A count the log gives, as a container's GPUs: 1-64, else none."""
    n = int(value) if isinstance(value, int) or (value and value.isdigit()) else None
    return n if n is not None and 0 < n <= 64 else None


def _context(scan: ScanResult) -> dict[str, str]:
    """Fill fix templates from what the log says (e.g. the TP size sets the GPU count), and name the launcher
    the log used, which picks a remedy's variant (model/fixes.py; explain/launcher.py)."""
    # the ranks a launcher starts on this node are the GPUs the container needs (gfeat38), before the world size:
    # that counts every node's ranks, and torch elastic's rendezvous block prints group_world_size=1 (the number
    # of agents, which the world-size fact also reads) above local_ranks=[0, 1, 2, 3]
    counts = (scan.facts.get("tp_size"), launcher_ranks(scan.facts), scan.facts.get("world_size"))
    gpu_count = next((n for n in map(_gpu_count, counts) if n is not None), None)
    ctx = fix_context(gpu_count=gpu_count) if gpu_count else {}
    launcher = launcher_of(scan.facts, scan.signatures)
    if launcher:
        ctx["launcher"] = launcher
    return ctx


def _facts(scan: ScanResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "inputs": scan.inputs,
        "lines": scan.lines,
        "bytes": scan.bytes,
        "engine": scan.engine,
    }
    for key, (value, _line, _src) in sorted(scan.facts.first.items()):
        values = scan.facts.values.get(key, [value])
        out[key] = values if len(values) > 1 else value
    kb = knowledge_base()
    implied: dict[str, str] = {}
    for sig_id in scan.signatures:
        implied.update(kb.signature(sig_id).implies)
    if implied:
        out["implied"] = implied
    return out


def _code_notes(diagnosis: Diagnosis, facts: dict[str, Any], findings: Sequence[Finding] = ()) -> list[str]:
    """Every error code in the log, with its meaning and whether it can be a container cause.

    A code on a line that a finding cites is read in that context: "not a container cause" would contradict
    the finding printed above it (NCCL's NVLS 'invalid argument' is CUDA's generic 1, and the fabric state).
    """
    cited: dict[tuple[str | None, int], str] = {}
    for f in findings:
        if f.severity.value == "notice":
            continue
        for ev in f.evidence:
            if ev.line is not None:
                cited.setdefault((ev.source, ev.line), f.cause)
    notes: list[str] = []
    rows = []
    for seen in diagnosis.codes:
        c = seen.code
        rows.append(
            {
                "table": c.table,
                "name": c.name,
                "code": c.code,
                "class": c.klass,
                "meaning": c.meaning,
                "causes": list(c.causes),
                "line": seen.hit.line,
                "source": seen.hit.source,
            }
        )
        where = f"line {seen.hit.line}"
        reading = cited.get((seen.hit.source, seen.hit.line))
        if c.klass == "not-container" and reading:
            notes.append(f"{c.layer} error at {where}: {c.describe()}. The code alone names no cause; {reading} reads its context.")
        elif c.klass == "not-container":
            notes.append(f"{c.layer} error at {where}: {c.describe()}. Not a container cause.")
        elif c.klass == "unknown":
            maybe = f" Possible container causes (guesses): {', '.join(c.causes)}." if c.causes else ""
            notes.append(
                f"{c.layer} error at {where}: {c.describe()}. Container or not cannot be told from the code.{maybe}"
            )
    if rows:
        facts["error_codes"] = rows
    return notes


def _terminal_note(scan: ScanResult, facts: dict[str, Any]) -> list[str]:
    """The error the run died of (explain/terminal.py), in the facts; a note when it has no container cause."""
    verdict = classify(scan, knowledge_base())
    if verdict is None:
        return []
    t = verdict.terminal
    facts["terminal_error"] = {"source": t.source, "line": t.line, "text": t.text, "kind": verdict.kind, "family": verdict.why}
    if verdict.kind != "not-container":
        return []
    return [f"the run ended with {t.source}:{t.line} ({verdict.why}), a failure with no container cause: {t.text}"]


def _fallback_notes(
    lines: list[tuple[str, int, str]], code_lines: dict[tuple[str, int], str], facts: dict[str, Any]
) -> list[str]:
    first = first_error(lines, code_lines)
    if first is None:
        return []
    src, line, text = first
    layer = layer_of(text, code_lines.get((src, line), ""))
    # a line known to have no container cause gets no container guesses (they would only mislead)
    root = not_container_reason(text, knowledge_base())
    guesses = [] if root else nearest_causes(text, knowledge_base())
    facts["first_error"] = {
        "source": src,
        "line": line,
        "text": text,
        "layer": layer,
        "guesses": [{"cause": g.cause, "signature": g.signature, "similarity": g.score} for g in guesses],
    }
    notes = [f"first error ({src}:{line}), raised by {layer}: {text}"]
    if root:
        facts["first_error"]["not_container"] = root
        notes.append(f"no container guesses: that line is a failure with no container cause ({root}).")
    if guesses:
        notes.append(
            "nearest known causes (guesses, not diagnosed): "
            + ", ".join(f"{g.cause} (similarity {g.score})" for g in guesses)
        )
    return notes


def explain(
    inputs: Sequence[str], runtimes: Iterable[str] | None = None, engine: str = "auto"
) -> ExplainReport:
    scan = scan_inputs(inputs, engine)
    diagnosis = diagnose(scan, knowledge_base())
    findings = to_findings(diagnosis, _context(scan), runtimes)
    facts = _facts(scan)
    notes = list(scan.notes) + diagnosis.notes
    notes.extend(_code_notes(diagnosis, facts, findings))
    ending = _terminal_note(scan, facts)
    if not any(f.severity.value != "notice" for f in findings):
        notes.append(NO_CAUSE)
        notes.extend(ending)
        lines = scan.top_error_lines()
        facts["error_lines"] = [{"source": src, "line": line, "text": text} for src, line, text in lines]
        notes.extend(_fallback_notes(lines, scan.code_lines, facts))
    notes.extend(f"hint: {h}" for h in diagnosis.hints)
    return ExplainReport(command="explain", findings=findings, facts=facts, notes=notes)
