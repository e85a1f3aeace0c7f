"""`explain`: from any error log to the root cause and the minimal fix.

scan (reader + engine + scanner, one streaming pass) -> correlate (signatures + facts -> ranked
causes) -> Findings with the remedy catalog's fixes. The knowledge is data/signatures.yaml.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tpdoctor.explain.correlate import diagnose, to_findings
from tpdoctor.explain.reader import open_log
from tpdoctor.explain.scanner import Scanner, ScanResult
from tpdoctor.explain.signatures import knowledge_base
from tpdoctor.model import Finding, Report
from tpdoctor.model.fixes import fix_context

NO_CAUSE = "No known container/IPC cause found."


class ExplainReport(Report):
    """Findings are already ranked by correlate (primary first); keep that order when rendering."""

    def sorted_findings(self) -> list[Finding]:
        return list(self.findings)


def scan_inputs(inputs: Sequence[str], engine: str = "auto") -> ScanResult:
    scanner = Scanner(knowledge_base(), engine=engine)
    for name in inputs:
        with open_log(name, scanner.result.notes) as stream:
            scanner.scan_stream(stream, "<stdin>" if name == "-" else name)
    return scanner.result


def _context(scan: ScanResult) -> dict[str, str]:
    """Fill fix templates from what the log says (e.g. the TP size sets the GPU count)."""
    tp = scan.facts.get("tp_size") or scan.facts.get("world_size")
    gpu_count = int(tp) if tp and tp.isdigit() and 0 < int(tp) <= 64 else None
    return fix_context(gpu_count=gpu_count) if gpu_count else {}


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


def explain(
    inputs: Sequence[str], runtimes: Iterable[str] | None = None, engine: str = "auto"
) -> ExplainReport:
    scan = scan_inputs(inputs, engine)
    diagnosis = diagnose(scan, knowledge_base())
    findings = to_findings(diagnosis, _context(scan), runtimes)
    facts = _facts(scan)
    notes = list(scan.notes) + diagnosis.notes
    if not any(f.severity.value != "notice" for f in findings):
        notes.append(NO_CAUSE)
        facts["error_lines"] = [
            {"source": src, "line": line, "text": text} for src, line, text in scan.top_error_lines()
        ]
    notes.extend(f"hint: {h}" for h in diagnosis.hints)
    return ExplainReport(command="explain", findings=findings, facts=facts, notes=notes)
