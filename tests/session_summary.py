"""Tables the session prints at its end (the container fault matrix, the real-oneCCL results), so they are in the CI log.

The suite runs under pytest-xdist (`-n auto`): the fixture that builds a table runs in a worker, whose terminal
summary nobody sees. A worker hands its lines to the controller through xdist's `workeroutput` (sent when the worker
ends); the controller, or a plain one-process run, prints them in its own terminal summary. tests/conftest.py
imports the two hooks below, which makes them the suite's.
"""

from __future__ import annotations

import pytest

KEY = "tpdoctor_session_summaries"
STASH = pytest.StashKey[list[tuple[str, list[str]]]]()


def publish(config: pytest.Config, title: str, lines: list[str]) -> None:
    """Print `lines` under `title` at the end of the session, from a worker or from a one-process run."""
    out = getattr(config, "workeroutput", None)  # set only in an xdist worker
    if out is not None:
        out.setdefault(KEY, []).append([title, lines])
    else:
        collected(config).append((title, lines))


def collected(config: pytest.Config) -> list[tuple[str, list[str]]]:
    if STASH not in config.stash:
        config.stash[STASH] = []
    return config.stash[STASH]


def received(config: pytest.Config, workeroutput: dict[str, object]) -> None:
    """The controller's side: keep what a worker handed over."""
    for title, lines in workeroutput.get(KEY) or []:  # type: ignore[attr-defined]
        collected(config).append((str(title), [str(x) for x in lines]))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist, in the controller: a worker ended; keep the tables it built."""
    received(node.config, getattr(node, "workeroutput", None) or {})  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    for title, lines in collected(config):
        terminalreporter.write_sep("=", title)
        for line in lines:
            terminalreporter.write_line(line)
