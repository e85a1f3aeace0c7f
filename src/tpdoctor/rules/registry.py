"""The rule registries, one per input kind, each typed by what its rules take.

- fact rules (`@fact_rule`): Facts + CheckOptions -> findings (`check`, `run`, each cluster node);
- compare rules (`@compare_rule`): two snapshots -> findings (`check --compare`);
- cluster rules (`@cluster_rule`): the nodes of one Ray cluster -> findings (`cluster check`);
- deploy rules (`@deploy_rule`): one service of a DeploymentModel (+ Facts) -> findings (`audit`).

A rule's docstring documents it; `docs.py` renders them per cause id.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from tpdoctor.model import CheckOptions, ClusterNode, Facts, Finding, get_cause

if TYPE_CHECKING:  # the deploy model lives in deploy/; rules only read it
    from tpdoctor.deploy.model import DeploymentModel, Service

# Modules holding fact rules; importing them registers their rules.
RULE_MODULES: tuple[str, ...] = (
    "tpdoctor.rules.oneccl",
    "tpdoctor.rules.oneccl_install",
    "tpdoctor.rules.devices",
    # issue 3: every backend and container failure family
    "tpdoctor.rules.nvidia",
    "tpdoctor.rules.nvidia_toolkit",
    "tpdoctor.rules.engine_config",
    "tpdoctor.rules.rocm",
    "tpdoctor.rules.parallel",
    "tpdoctor.rules.shm_ipc",
    "tpdoctor.rules.rdma",
    "tpdoctor.rules.security",
    "tpdoctor.rules.env",
    "tpdoctor.rules.network",
    "tpdoctor.rules.limits",
    "tpdoctor.rules.jit_cache",  # gnew36: fs.jit-cache-noexec
    "tpdoctor.rules.display",  # gnew41: display.x11-unavailable
    "tpdoctor.rules.host_cpu",  # gnew46: host.cpu-avx-missing
)


RuleKind = Literal["fact", "compare", "cluster", "deploy"]
ANY_CAUSE = "*"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Rule(Generic[F]):
    """One registered rule: its name, the cause ids it may emit, its function (and docs)."""

    name: str
    causes: tuple[str, ...]
    func: F
    kind: RuleKind
    # deploy rules: the diagnosed causes (from `explain`) that this rule's edits also remove;
    # ANY_CAUSE: every cause some deploy rule remedies, by the service's whole least-privilege
    # edit (replacing privileged is the point: it is what `audit --fix` writes)
    remedies: tuple[str, ...] = ()

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "")


class Registry(Generic[F]):
    """The rules of one input kind; importing `modules` registers them (in that order)."""

    def __init__(self, kind: RuleKind, modules: tuple[str, ...]) -> None:
        self.kind: RuleKind = kind
        self.modules = modules
        self._rules: list[Rule[F]] = []

    def register(self, *causes: str, remedies: Iterable[str] = ()) -> Callable[[F], F]:
        """A decorator: register `func` as a rule that may emit `causes` (all in the catalog)."""
        remedies = tuple(remedies)
        for c in (*causes, *remedies):
            if c != ANY_CAUSE:
                get_cause(c)

        def deco(func: F) -> F:
            name = f"{func.__module__}.{func.__name__}"
            self._rules.append(Rule(name, tuple(causes), func, self.kind, remedies))
            return func

        return deco

    def rules(self) -> list[Rule[F]]:
        """Every rule, in the order of `modules` whatever imported them first (docs are stable)."""
        for mod in self.modules:
            importlib.import_module(mod)
        order = {mod: i for i, mod in enumerate(self.modules)}
        return sorted(self._rules, key=lambda r: order.get(r.func.__module__, len(order)))


FactRuleFunc = Callable[[Facts, CheckOptions], Iterable[Finding]]
# two snapshots meant to be ranks of one TP group, and their display names (check --compare)
CompareRuleFunc = Callable[[Facts, Facts, tuple[str, str]], list[Finding]]
# every alive node of one Ray cluster (cluster check)
ClusterRuleFunc = Callable[[Sequence[ClusterNode], CheckOptions], list[Finding]]

FACT_RULES: Registry[FactRuleFunc] = Registry("fact", RULE_MODULES)
COMPARE_RULES: Registry[CompareRuleFunc] = Registry("compare", ("tpdoctor.rules.topology",))
CLUSTER_RULES: Registry[ClusterRuleFunc] = Registry("cluster", ("tpdoctor.rules.cluster",))

fact_rule = FACT_RULES.register
compare_rule = COMPARE_RULES.register
cluster_rule = CLUSTER_RULES.register


def all_rules() -> list[Rule[Any]]:
    """Every rule of every kind, in documentation order."""
    out: list[Rule[Any]] = []
    for registry in (FACT_RULES, COMPARE_RULES, CLUSTER_RULES, DEPLOY_RULES):
        out += registry.rules()
    return out


def run_fact_rules(facts: Facts, options: CheckOptions) -> list[Finding]:
    from tpdoctor.rules.env import from_conf_files

    findings: list[Finding] = []
    for rule in FACT_RULES.rules():
        findings.extend(rule.func(facts, options))
    from_conf_files(findings, facts)
    return sorted(findings, key=lambda f: f.sort_key())


def run_compare_rules(a: Facts, b: Facts, names: tuple[str, str] = ("A", "B")) -> list[Finding]:
    findings: list[Finding] = []
    for rule in COMPARE_RULES.rules():
        findings.extend(rule.func(a, b, names))
    return findings


def run_cluster_rules(nodes: Sequence[ClusterNode], options: CheckOptions) -> list[Finding]:
    findings: list[Finding] = []
    for rule in CLUSTER_RULES.rules():
        findings.extend(rule.func(nodes, options))
    return findings


# --- deployment rules (audit): DeploymentModel service (+ Facts) -> findings -------------------

DEPLOY_RULE_MODULES: tuple[str, ...] = (
    "tpdoctor.rules.deploy_security",
    "tpdoctor.rules.deploy_devices",
    "tpdoctor.rules.deploy_shm",
    "tpdoctor.rules.deploy_topology",
    "tpdoctor.rules.deploy_compose",
    "tpdoctor.rules.deploy_intel",
    "tpdoctor.rules.deploy_nvidia",
    "tpdoctor.rules.deploy_k8s_schema",
    "tpdoctor.rules.deploy_args",
)


@dataclass(frozen=True)
class DeployContext:
    """What a deploy rule reads beside its service: the model, host facts, options."""

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
DEPLOY_RULES: Registry[DeployRuleFunc] = Registry("deploy", DEPLOY_RULE_MODULES)
deploy_rule = DEPLOY_RULES.register


def deploy_remedies() -> dict[str, frozenset[str]]:
    """Audit cause id -> the diagnosed cause ids its findings' edits remove (itself included);
    `explain --config` keeps the findings whose set meets the diagnosed causes."""
    out: dict[str, set[str]] = {}
    for rule in DEPLOY_RULES.rules():
        for c in rule.causes:
            out.setdefault(c, {c}).update(rule.remedies)
    every = {c for cs in out.values() for c in cs} - {ANY_CAUSE}
    return {c: frozenset(every if ANY_CAUSE in cs else cs) for c, cs in out.items()}


def deploy_rewrites_service() -> frozenset[str]:
    """Audit cause ids whose remedy is the service's whole least-privilege edit (privileged)."""
    return frozenset(c for rule in DEPLOY_RULES.rules() if ANY_CAUSE in rule.remedies for c in rule.causes)


def run_deploy_rules(ctx: DeployContext) -> list[tuple[Service, Finding]]:
    """Every deployment rule on every service; allowed causes are left to the caller to drop."""
    rules = DEPLOY_RULES.rules()
    out: list[tuple[Service, Finding]] = []
    for svc in ctx.model.services:
        for rule in rules:
            for f in rule.func(svc, ctx):
                out.append((svc, f))
    return out
