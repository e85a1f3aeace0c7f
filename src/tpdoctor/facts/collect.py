"""Orchestrates the family collectors. Each collector fills part of Facts and records what it
could not read in facts.errors (one line each) instead of raising."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tpdoctor import __version__
from tpdoctor.model import Facts


@dataclass(frozen=True)
class CollectContext:
    root: Path
    live: bool
    env: Mapping[str, str]

    def path(self, p: str) -> Path:
        """The in-root absolute path p ('/dev/dri') as a path on this machine."""
        return self.root / p.lstrip("/")


Collector = Callable[[CollectContext, Facts], None]

# Family collectors in order; each module adds itself here when imported.
COLLECTORS: list[Collector] = []

# Modules holding collectors, in the order they run (process before system: /tmp needs the uid;
# probes last: they use what devices found).
COLLECTOR_MODULES: tuple[str, ...] = (
    "tpdoctor.facts.devices",
    "tpdoctor.facts.process",
    "tpdoctor.facts.system",
    "tpdoctor.facts.cpu",
    "tpdoctor.facts.probes",
)


def load_collectors() -> list[Collector]:
    for mod in COLLECTOR_MODULES:
        importlib.import_module(mod)
    return list(COLLECTORS)


def collect_facts(root: Path, env: Mapping[str, str], live: bool) -> Facts:
    ctx = CollectContext(root=root, live=live, env=env)
    facts = Facts(
        root=str(root),
        live=live,
        tool_version=__version__,
        collected_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    for collector in load_collectors():
        try:
            collector(ctx, facts)
        except OSError as exc:  # an unreadable file must never abort the whole check
            facts.errors.append(f"{collector.__module__}: {exc}")
    return facts


# Family collectors of issue 3 (GPU nodes, NVIDIA, shm/limits/namespaces, LSM/userns); each
# appends itself to COLLECTORS when imported.
from tpdoctor.facts import gpunodes as _gpunodes  # noqa: E402,F401
from tpdoctor.facts import nvidia as _nvidia  # noqa: E402,F401
from tpdoctor.facts import resources as _resources  # noqa: E402,F401
from tpdoctor.facts import security as _security  # noqa: E402,F401
