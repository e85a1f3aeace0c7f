"""Pydantic models shared by every command. Imports nothing else of tpdoctor."""

from tpdoctor.model.catalog import Cause, catalog, get_cause
from tpdoctor.model.facts import Facts
from tpdoctor.model.finding import (
    Evidence,
    ExitCode,
    Finding,
    Fix,
    Privilege,
    Report,
    Runtime,
    Severity,
    exit_code_for,
)

__all__ = [
    "Cause",
    "Evidence",
    "ExitCode",
    "Facts",
    "Finding",
    "Fix",
    "Privilege",
    "Report",
    "Runtime",
    "Severity",
    "catalog",
    "exit_code_for",
    "get_cause",
]
