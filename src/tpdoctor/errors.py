"""Errors that end a command with a one-line message and a defined exit code, never a traceback."""

from __future__ import annotations

from tpdoctor.model.finding import ExitCode


class TpdoctorError(Exception):
    exit_code: ExitCode = ExitCode.internal


class UsageError(TpdoctorError):
    """Bad options or bad input the user can correct (missing file, garbage snapshot, bad YAML)."""

    exit_code = ExitCode.usage


class InputError(UsageError):
    """Input that cannot be read or parsed."""


class NotDeploymentError(InputError):
    """A readable file that holds no deployment (`audit --skip-other` passes over it)."""


class NoGpuError(TpdoctorError):
    """A command that needs GPUs found none (or fewer than asked)."""

    exit_code = ExitCode.usage
