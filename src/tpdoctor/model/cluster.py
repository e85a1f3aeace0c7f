"""One node of a Ray cluster as `tpdoctor cluster check` sees it: its Facts, or why there are none."""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.model.facts import Facts


@dataclass
class ClusterNode:
    """One alive node of the Ray cluster and what its check task returned."""

    index: int
    node_id: str
    ip: str
    hostname: str | None = None
    facts: Facts | None = None
    error: str | None = None  # why there are no facts
    error_kind: str | None = None  # timeout | died | import | error

    @property
    def label(self) -> str:
        return f"node {self.index} ({self.ip}, {self.node_id[:8]})"
