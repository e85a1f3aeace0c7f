"""The rule registry: every fact rule, the cause ids it can emit, and its documentation."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tpdoctor.model import CheckOptions, Facts, Finding, get_cause

if TYPE_CHECKING:  # the deploy model lives in deploy/; rules only read it
    from tpdoctor.deploy.model import DeploymentModel, Service

# Modules holding fact rules; importing them registers their rules.
RULE_MODULES: tuple[str, ...] = (
    "tpdoctor.rules.oneccl",
    "tpdoctor.rules.oneccl_install",
    "tpdoctor.rules.devices",
    # issue 3: every backend and container failure family
    "tpdoctor.rules.nvidia",
    "tpdoctor.rules.rocm",
    "tpdoctor.rules.parallel",
    "tpdoctor.rules.shm_ipc",
    "tpdoctor.rules.rdma",
    "tpdoctor.rules.security",
    "tpdoctor.rules.env",
    "tpdoctor.rules.network",
    "tpdoctor.rules.topology",
    "tpdoctor.rules.cluster",
)


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
    for mod in (*RULE_MODULES, *DEPLOY_RULE_MODULES):
        importlib.import_module(mod)
    return list(_RULES) + list(_DEPLOY_RULES)


def run_fact_rules(facts: Facts, options: CheckOptions) -> list[Finding]:
    findings: list[Finding] = []
    for rule in all_rules():
        if rule.kind == "facts":  # compare rules take two snapshots (rules/topology.py)
            findings.extend(rule.func(facts, options))
    return sorted(findings, key=lambda f: f.sort_key())


# --- deployment rules (audit): DeploymentModel service (+ Facts) -> findings -------------------

DEPLOY_RULE_MODULES: tuple[str, ...] = (
    "tpdoctor.rules.deploy_security",
    "tpdoctor.rules.deploy_devices",
    "tpdoctor.rules.deploy_shm",
    "tpdoctor.rules.deploy_topology",
    "tpdoctor.rules.deploy_compose",
    "tpdoctor.rules.deploy_intel",
)


@dataclass(frozen=True)
class DeployContext:
    model: DeploymentModel
    facts: Facts | None = None
    ipc_exchange: str = "drmfd"  # drmfd | pidfd: the route the fix would take
    pss: str | None = None  # "baseline": also check Pod Security baseline
    extra: Mapping[str, Any] = field(default_factory=dict)
    # per-audit memo for rules that look at the whole model (computed once, not once per service)
    cache: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


DeployRuleFunc = Callable[["Service", DeployContext], Iterable[Finding]]
_DEPLOY_RULES: list[Rule] = []


def deploy_rule(*causes: str) -> Callable[[DeployRuleFunc], DeployRuleFunc]:
    """Register a deployment rule, run once per service/container of an audited file."""
    for c in causes:
        get_cause(c)

    def deco(func: DeployRuleFunc) -> DeployRuleFunc:
        _DEPLOY_RULES.append(
            Rule(name=f"{func.__module__}.{func.__name__}", causes=tuple(causes), func=func, kind="deploy")  # type: ignore[arg-type]
        )
        return func

    return deco


def run_deploy_rules(ctx: DeployContext) -> list[tuple[Service, Finding]]:
    """Every deployment rule on every service; allowed causes are left to the caller to drop."""
    for mod in DEPLOY_RULE_MODULES:
        importlib.import_module(mod)
    out: list[tuple[Service, Finding]] = []
    for svc in ctx.model.services:
        for rule in _DEPLOY_RULES:
            for f in rule.func(svc, ctx):  # type: ignore[call-arg, arg-type]
                out.append((svc, f))
    return out
