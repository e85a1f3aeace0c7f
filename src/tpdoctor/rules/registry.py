"""The rule registry: every fact rule, the cause ids it can emit, and its documentation."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from tpdoctor.fixes import fixes_for
from tpdoctor.model import Evidence, Facts, Finding, get_cause

# Modules holding fact rules; importing them registers their rules.
RULE_MODULES: tuple[str, ...] = (
    "tpdoctor.rules.oneccl",
    "tpdoctor.rules.devices",
    # issue 3: every backend and container failure family
    "tpdoctor.rules.nvidia",
    "tpdoctor.rules.rocm",
    "tpdoctor.rules.parallel",
    "tpdoctor.rules.shm_ipc",
    "tpdoctor.rules.rdma",
    "tpdoctor.rules.security",
    "tpdoctor.rules.env",
    "tpdoctor.rules.topology",
)


@dataclass(frozen=True)
class CheckOptions:
    """What the user is about to launch: sizes, backend, versions."""

    tp: int | None = None
    pp: int = 1
    backend: str = "auto"  # auto | xpu | cuda | rocm
    oneccl_version: str | None = None
    ipc_exchange: str | None = None  # override of CCL_ZE_IPC_EXCHANGE for what-if checks
    extra: Mapping[str, str] = field(default_factory=dict)


RuleFunc = Callable[[Facts, CheckOptions], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    name: str
    causes: tuple[str, ...]
    func: RuleFunc
    kind: str = "facts"

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "")


_RULES: list[Rule] = []


def fact_rule(*causes: str) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule that may emit the given cause ids (all must be in the catalog)."""
    for c in causes:
        get_cause(c)

    def deco(func: RuleFunc) -> RuleFunc:
        _RULES.append(Rule(name=f"{func.__module__}.{func.__name__}", causes=tuple(causes), func=func))
        return func

    return deco


def all_rules() -> list[Rule]:
    for mod in RULE_MODULES:
        importlib.import_module(mod)
    return list(_RULES)


def run_fact_rules(facts: Facts, options: CheckOptions) -> list[Finding]:
    findings: list[Finding] = []
    for rule in all_rules():
        if rule.kind == "facts":  # compare rules take two snapshots (rules/topology.py)
            findings.extend(rule.func(facts, options))
    return sorted(findings, key=lambda f: f.sort_key())


def make_finding(
    cause: str,
    message: str,
    evidence: Iterable[Evidence | tuple[str, str] | str] = (),
    *,
    context: Mapping[str, str] | None = None,
    related: Iterable[str] = (),
    confidence: str = "proves",
    severity: str | None = None,
) -> Finding:
    """Build a Finding with the catalog's severity and summary and the catalog's fixes."""
    spec = get_cause(cause)
    evs: list[Evidence] = []
    for e in evidence:
        if isinstance(e, Evidence):
            evs.append(e)
        elif isinstance(e, tuple):
            evs.append(Evidence(source=e[0], text=e[1]))
        else:
            evs.append(Evidence(text=e))
    return Finding(
        cause=cause,
        severity=severity or spec.severity,  # type: ignore[arg-type]
        summary=spec.summary,
        message=message,
        confidence=confidence,
        evidence=evs,
        fixes=fixes_for(cause, context),
        related=list(related),
    )
