"""Finding, Fix, Evidence, Report: what every command produces (plain dataclasses, model/datamodel.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Any, Literal

from tpdoctor.model.datamodel import NOT_OUTPUT, DataModel

if TYPE_CHECKING:  # 23 frozen dataclasses: ~7 ms that only audit needs; a Finding takes any tuple
    from tpdoctor.model.edits import Edit


class Severity(str, Enum):
    """blocker: the multi-GPU start will fail; degraded: works, slower or fragile; notice: informational."""

    blocker = "blocker"
    degraded = "degraded"
    notice = "notice"

    @property
    def rank(self) -> int:
        return {"blocker": 0, "degraded": 1, "notice": 2}[self.value]


SeverityName = Literal["blocker", "degraded", "notice"]


class ExitCode(IntEnum):
    """Exit codes shared by check, explain, audit and verify (ARCHITECTURE.md)."""

    ok = 0
    internal = 1
    usage = 2
    blocker = 3
    degraded = 4


Runtime = Literal["compose", "docker", "podman", "kubernetes", "env", "host"]
RUNTIMES: tuple[Runtime, ...] = ("compose", "docker", "podman", "kubernetes", "env", "host")
# proves: the evidence shows the cause; suggests: consistent with it, not conclusive.
Confidence = Literal["proves", "suggests"]

# How much a fix costs in privilege, least first. "privileged" is the explicit last resort.
Privilege = Literal["none", "capability", "host-change", "privileged"]
PRIVILEGE_ORDER: dict[str, int] = {"none": 0, "capability": 1, "host-change": 2, "privileged": 3}


@dataclass(frozen=True, kw_only=True)  # frozen: shared between findings (fixes_for is memoized)
class Fix(DataModel):
    """One way to remove a cause, for one runtime. Ordered least privilege first."""

    id: str  # stable id of the remedy within its cause, e.g. 'bypath-mount'
    runtime: Runtime
    title: str
    snippet: str = ""
    privilege: Privilege = "none"
    risk: str | None = None
    note: str | None = None


@dataclass(kw_only=True, repr=False, eq=False)
class Evidence(DataModel):
    """What proves a finding: a path and value, or a log line with its number."""

    text: str
    source: str | None = None  # file, device node, env var or log file
    line: int | None = None  # 1-based line number in a log or config


@dataclass(kw_only=True, repr=False, eq=False)
class Finding(DataModel):
    """One cause found: severity, evidence, fixes (every command's output)."""

    cause: str
    severity: Severity
    summary: str
    message: str = ""  # what is wrong here, in this system's own terms
    confidence: Confidence = "proves"
    evidence: list[Evidence] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    related: list[str] = field(default_factory=list)  # cause ids that explain or accompany this
    # what `audit --fix` changes in the config to remove this cause (model/edits.py); not output
    edits: tuple[Edit, ...] = field(default=(), metadata=NOT_OUTPUT)

    def sort_key(self) -> tuple[int, int, str]:
        return (self.severity.rank, 0 if self.confidence == "proves" else 1, self.cause)


@dataclass(kw_only=True, repr=False, eq=False)
class Report(DataModel):
    """The result of one command: findings plus a summary of what was looked at."""

    command: str
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: f.sort_key())

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_for(self.findings)


def exit_code_for(findings: list[Finding]) -> ExitCode:
    if any(f.severity is Severity.blocker for f in findings):
        return ExitCode.blocker
    if any(f.severity is Severity.degraded for f in findings):
        return ExitCode.degraded
    return ExitCode.ok
