"""The shared vocabulary: plain dataclasses (datamodel.py), the cause and remedy catalogs, make_finding.

Imports nothing of tpdoctor outside model/.
"""

from tpdoctor.model.catalog import Cause, catalog, get_cause
from tpdoctor.model.cluster import ClusterNode
from tpdoctor.model.facts import Facts
from tpdoctor.model.finding import (
    Confidence,
    Evidence,
    ExitCode,
    Finding,
    Fix,
    Privilege,
    Report,
    Runtime,
    Severity,
    SeverityName,
    exit_code_for,
)
from tpdoctor.model.make import make_finding
from tpdoctor.model.options import CheckOptions

__all__ = [
    "Cause",
    "CheckOptions",
    "ClusterNode",
    "Confidence",
    "Evidence",
    "ExitCode",
    "Facts",
    "Finding",
    "Fix",
    "Privilege",
    "Report",
    "Runtime",
    "Severity",
    "SeverityName",
    "catalog",
    "exit_code_for",
    "get_cause",
    "make_finding",
]
