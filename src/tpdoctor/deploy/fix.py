"""Apply least-privilege plans to the user's file and produce the new text and a diff."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from tpdoctor.deploy.audit import Loaded
from tpdoctor.deploy.least_privilege import Plan, plan_k8s, plan_service
from tpdoctor.deploy.model import Service
from tpdoctor.errors import InputError
from tpdoctor.model import Facts

# Narrows a service's least-privilege plan (explain --config keeps only what the diagnosed causes need).
PlanFilter = Callable[[Service, Plan], Plan]


@dataclass
class FixResult:
    text: str
    plans: list[Plan] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(p.ops for p in self.plans)


def fix_loaded(
    loaded: Loaded,
    facts: Facts | None,
    ipc_exchange: str = "drmfd",
    pss: str | None = None,
    select: PlanFilter | None = None,
) -> FixResult:
    """Apply the least-privilege plan of every service (narrowed by `select`) to the file's text."""

    def keep(svc: Service, plan: Plan) -> Plan:
        return select(svc, plan) if select is not None else plan

    if loaded.fmt == "compose":
        from tpdoctor.deploy.compose import apply_ops
        from tpdoctor.deploy.io import dump_yaml_docs

        doc = loaded.handle
        plans = [keep(s, plan_service(s, facts, ipc_exchange)) for s in loaded.model.services]
        for p in plans:
            if p.ops:
                try:
                    apply_ops(doc, p.service, p.ops)
                except InputError as exc:  # a key of the wrong type: name the file, change nothing
                    raise InputError(f"{loaded.path}: {exc}") from None
        changed = any(p.ops for p in plans) or (bool(doc.recovered) and select is None)
        return FixResult(dump_yaml_docs([doc.root]) if changed else loaded.text, plans)
    if loaded.fmt == "kubernetes":
        from tpdoctor.deploy.io import dump_yaml_docs
        from tpdoctor.deploy.kubernetes import apply_k8s_ops

        docs = loaded.handle
        plans = [keep(s, plan_k8s(s, facts, ipc_exchange, pss)) for s in loaded.model.services]
        for s, p in zip(loaded.model.services, plans, strict=True):
            if p.ops:
                apply_k8s_ops(docs, s, p.ops)
        if not any(p.ops for p in plans):
            return FixResult(loaded.text, plans)
        text = dump_yaml_docs(docs)
        if loaded.text.lstrip().startswith("---") and not text.startswith("---"):
            text = "---\n" + text
        return FixResult(text, plans)
    from tpdoctor.deploy.dockerrun import patch_script

    plans = []
    work = []
    for s, run in zip(loaded.model.services, loaded.handle, strict=True):
        p = keep(s, plan_service(s, facts, ipc_exchange))
        plans.append(p)
        repair = bool(run.breaks) and select is None
        if repair:
            p.why.append("continuation repaired: comments moved above the command, blanks after `\\` removed")
        work.append((run, p.ops, repair))
    text, refused = patch_script(loaded.text, work)
    for p, (run, ops, _r) in zip(plans, work, strict=True):
        p.cannot.extend(
            r for r in refused if ops and r.startswith(tuple(f"line {w.line}" for w in run.words))
        )
    return FixResult(text, plans)


def unified_diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=path,
            tofile=f"{path} (least privilege)",
        )
    )
