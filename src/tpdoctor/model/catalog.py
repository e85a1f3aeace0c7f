"""The cause catalog: the public vocabulary of findings (data/causes.yaml).

The file is a copy of the project's shared causes.yaml plus ids added here; a test keeps
the shared ids identical. Ids are a public contract: add, never rename.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tpdoctor.model.finding import Severity
from tpdoctor.model.pkgdata import read_data
from tpdoctor.model.yamldata import load_data_yaml


@dataclass(frozen=True, kw_only=True)
class Cause:
    """One cause id of data/causes.yaml: its severity and one-line summary."""

    id: str
    severity: Severity
    summary: str


@lru_cache(maxsize=1)
def catalog() -> dict[str, Cause]:
    text = read_data("causes.yaml")
    raw = load_data_yaml(text, "causes.yaml") or {}
    return {
        cid: Cause(id=cid, severity=Severity(spec["severity"]), summary=str(spec["summary"]))
        for cid, spec in raw.items()
    }


def get_cause(cause_id: str) -> Cause:
    """Return the catalog entry; unknown ids are a programming error, not user input."""
    try:
        return catalog()[cause_id]
    except KeyError:
        raise KeyError(f"unknown cause id {cause_id!r}: add it to data/causes.yaml") from None
