"""Audit rule: Kubernetes objects that their schema refuses (deploy/k8s_schema.py validates)."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.deploy.model import SchemaProblem, Service
from tpdoctor.model import Evidence, Finding, make_finding
from tpdoctor.rules.registry import DeployContext, deploy_rule


def _by_owner(services: list[Service], problems: list[SchemaProblem]) -> dict[int, list[SchemaProblem]]:
    """Each problem under the id of its owner: the first container of the object the problem is in (so a `tpdoctor:
    allow` comment or annotation on that object covers it), for an object without containers the file's first.
    Indexed once per file: looked up per service and per problem it cost N^3 for N objects (1000 pods: 150 s; gsafe40)."""
    first: dict[str, Service] = {}
    for s in services:
        owner = str(s.extra.get("pod") or "")
        first.setdefault(owner, s)
        cut = owner.find(":")
        while cut >= 0:  # `Kind/name:role` is owned by the problems of `Kind/name`
            first.setdefault(owner[:cut], s)
            cut = owner.find(":", cut + 1)
    out: dict[int, list[SchemaProblem]] = {}
    for p in problems:
        out.setdefault(id(first.get(f"{p.kind}/{p.name}", services[0])), []).append(p)
    return out


@deploy_rule("k8s.schema-invalid")
def schema_invalid(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: every object of a Kubernetes file against its schema: built-in kinds against
    kubernetes-validate's strict schemas (the `k8s` extra), LeaderWorkerSet, KubeRay, KServe and
    JobSet against the OpenAPI v3 schema their CRD publishes (shipped with tpdoctor, with its
    source). It reports a field of the wrong type, a required field that is missing, an unknown
    field (a misspelling) where the schema keeps no unknown fields, and an apiVersion that the
    kind is not served in.

    Why it matters: `kubectl apply` validates strictly by default (kubectl >= 1.25), so the API
    server refuses the whole object (`unknown field "spec.leaderWorkerTemplate.workerTemplat"`);
    with validation off, the misspelled field is silently dropped and the GPUs, shm volume or
    security settings it carried never apply.

    A required field that a CRD's object lacks is a notice only: the operator's mutating webhook
    runs before the API server validates the schema and may fill it (JobSet names its failure
    policy rules, pkg/webhooks/jobset_webhook.go in kubernetes-sigs/jobset v0.12.0).

    How to fix: correct the field at the reported path and line; `kubectl apply --dry-run=server`
    shows the API server's own verdict.

    Example: `env: [{name: TP, value: 2}]` (env values are strings: quote it, `value: "2"`).
    """
    if not ctx.model.schema_problems or not ctx.model.services:
        return
    owned = ctx.memo("k8s.schema-invalid", lambda: _by_owner(ctx.model.services, ctx.model.schema_problems))
    for p in owned.get(id(svc), []):
        obj = f"document {p.document} ({p.kind}{' ' + p.name if p.name else ''})"
        yield make_finding(
            "k8s.schema-invalid",
            f"{obj}: {p.path}: {p.message}",
            [
                Evidence(
                    source=ctx.model.source, line=p.line, text=f"{p.path}: {p.message} [{p.schema_source}]"
                )
            ],
            confidence=p.confidence,
            severity=p.severity,
        )
