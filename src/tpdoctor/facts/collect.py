"""Orchestrates the family collectors. Each collector fills part of Facts and records what it
could not read in facts.errors (one line each) instead of raising."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tpdoctor import __version__
from tpdoctor.model import Facts
from tpdoctor.redact import clip

MAX_ERROR_LINE = 400  # characters of one facts.errors line from a collector's OSError


@dataclass(frozen=True)
class CollectContext:
    """What every collector reads from: the root, live or not, the environment."""

    root: Path
    live: bool
    env: Mapping[str, str]
    # what several collectors read, read once per gathering (facts/passwd.py)
    memo: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def path(self, p: str) -> Path:
        """The in-root absolute path p ('/dev/dri') as a path on this machine, every symlink
        resolved inside the root (fsutil.follow_path): never a path outside it."""
        from tpdoctor.facts.fsutil import follow_path

        return follow_path(self.root, p)

    def entry(self, p: str) -> Path:
        """p's directory resolved inside the root, p itself not followed (for lstat, readlink)."""
        from tpdoctor.facts.fsutil import host_path

        return host_path(self.root, p)


Collector = Callable[[CollectContext, Facts], None]

# Family collectors in order; each module adds itself here when imported.
COLLECTORS: list[Collector] = []

# Modules holding collectors, in the order they run (process before system: /tmp needs the uid;
# nccl_conf right after process: it merges NCCL's files into the environment the rules read;
# system before resources: /dev/shm's size comes from the mounts; probes last: they use what
# devices found).
COLLECTOR_MODULES: tuple[str, ...] = (
    "tpdoctor.facts.devices",
    "tpdoctor.facts.process",
    "tpdoctor.facts.nccl_conf",
    "tpdoctor.facts.system",
    "tpdoctor.facts.oneccl_install",
    "tpdoctor.facts.jit_cache",
    "tpdoctor.facts.cpu",
    "tpdoctor.facts.resources",
    "tpdoctor.facts.security",
    "tpdoctor.facts.nvidia",
    "tpdoctor.facts.driver_libs",
    "tpdoctor.facts.cdi",
    "tpdoctor.facts.nvidia_toolkit",
    "tpdoctor.facts.engine_config",
    "tpdoctor.facts.network",
    "tpdoctor.facts.probes",
)


def load_collectors() -> list[Collector]:
    """Every collector, in COLLECTOR_MODULES order whichever module was imported first."""
    for mod in COLLECTOR_MODULES:
        importlib.import_module(mod)
    rank = {m: i for i, m in enumerate(COLLECTOR_MODULES)}
    return sorted(COLLECTORS, key=lambda c: rank.get(c.__module__, len(rank)))


def collect_facts(root: Path, env: Mapping[str, str], live: bool) -> Facts:
    ctx = CollectContext(root=root, live=live, env=env)
    facts = Facts(
        root=str(root),
        live=live,
        tool_version=__version__,
        collected_at=_utc_now(),
    )
    for collector in load_collectors():
        try:
            collector(ctx, facts)
        except OSError as exc:  # an unreadable file must never abort the whole check
            # the message names the path, which a hostile root or environment can make megabytes long (gsafe48)
            facts.errors.append(clip(f"{collector.__module__}: {exc}", MAX_ERROR_LINE, "…"))
    return facts


def _utc_now() -> str:
    """datetime.now(timezone.utc).isoformat(timespec="seconds"), without importing datetime
    (~2 ms of check's start-up)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
