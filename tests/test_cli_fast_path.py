"""`check`'s fast path (no typer) and the typer path give the same output for the same argv."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli
from tpdoctor.cli.check_run import parse_fast


def assert_both_paths_agree(
    monkeypatch: pytest.MonkeyPatch, *args: str, cwd: Path, input: str | None = None
) -> None:
    """The same argv through the fast path and, with TPDOCTOR_NO_FAST_PATH=1, through typer:
    identical exit code, stdout and stderr."""
    fast = run_cli(*args, cwd=cwd, input=input)
    monkeypatch.setenv("TPDOCTOR_NO_FAST_PATH", "1")
    slow = run_cli(*args, cwd=cwd, input=input)
    monkeypatch.delenv("TPDOCTOR_NO_FAST_PATH")
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)


ARGVS = [
    ["--example", "article", "--tp", "2"],
    ["--example", "article", "--tp=2", "-f", "json"],
    ["--example", "article-fixed", "--format", "sarif", "--backend", "xpu"],
    ["--example", "pidfd", "--verbose", "--runtime", "compose"],
    ["--example", "podman-yama", "-r", "all", "--pp", "2"],
    ["--example", "article", "--oneccl-version", "2021.13", "--ipc-exchange", "pidfd"],
    ["--example", "article", "--oneccl-version", "14"],  # a usage error, one line
    ["--example", "list"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=[" ".join(a) for a in ARGVS])
def test_fast_path_matches_typer(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_both_paths_agree(monkeypatch, "check", *argv, cwd=tmp_path)


def test_what_the_fast_path_leaves_to_typer() -> None:
    assert parse_fast(["--help"]) is None
    assert parse_fast(["--tp", "0"]) is None  # typer says why
    assert parse_fast(["--backend", "tpu"]) is None
    assert parse_fast(["--compare", "a.json", "b.json"]) is None
    assert parse_fast(["--tp", "2", "--tp", "4"]) is None
    assert parse_fast(["--tp"]) is None
    assert parse_fast(["-f", "json", "--tp", "8"]) == {
        "fmt": parse_fast(["-f", "json"])["fmt"],
        "tp": 8,
        "verbose": False,
    }  # type: ignore[index]


def test_the_fast_path_imports_neither_typer_nor_rich(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    code = (
        "import sys, runpy; sys.argv = ['tpdoctor', 'check', '--example', 'article', '-f', 'json'];\n"
        "try: runpy.run_module('tpdoctor', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')), file=sys.stderr)"
    )
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert "LOADED []" in r.stderr, r.stderr[-500:]


# `audit` has the same split: cli/audit.py's parse_fast and run_audit, typer in cli/audit_cmd.py
COMPOSE = (
    "services:\n  vllm:  # the server\n    image: intel/vllm:0.17.0-xpu\n    privileged: true\n"
    "    group_add: [video]\n    environment:\n      - HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz\n"
)
AUDIT_ARGVS = [
    ["{c}"],
    ["{c}", "-f", "json"],
    ["--format=sarif", "{c}"],
    ["{c}", "--fix"],
    ["{c}", "--strict", "--runtime", "docker", "-v"],
    ["{c}", "--compose-impl", "podman-compose", "--ipc-exchange", "pidfd"],
    ["{c}", "--input", "kubernetes"],  # an error, one line
    ["{c}", "--format", "yaml"],  # a bad value: typer's message either way
    ["{c}", "--host-facts", "{c}"],  # not a snapshot: one line, exit 2
    ["{c}", "{c}"],
    ["{c}", "--bogus"],
]


@pytest.mark.parametrize("argv", AUDIT_ARGVS, ids=[" ".join(a) for a in AUDIT_ARGVS])
def test_audit_fast_path_matches_typer(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(COMPOSE)
    args = [a.replace("{c}", str(compose)) for a in argv]
    assert_both_paths_agree(monkeypatch, "audit", *args, cwd=tmp_path)
    assert compose.read_text() == COMPOSE


def test_what_the_audit_fast_path_leaves_to_typer() -> None:
    from tpdoctor.cli.audit import parse_fast as parse_audit

    assert parse_audit([]) is None  # typer: missing argument
    assert parse_audit(["a.yaml", "--help"]) is None
    assert parse_audit(["a.yaml", "--format", "yaml"]) is None
    assert parse_audit(["a.yaml", "-f", "json", "--format", "json"]) is None
    assert parse_audit(["a.yaml", "--fix=1"]) is None
    assert parse_audit(["a.yaml", "--", "b.yaml"]) is None
    parsed = parse_audit(["a.yaml", "-f", "json", "b.yml", "--write"])
    assert parsed is not None and [str(f) for f in parsed["files"]] == ["a.yaml", "b.yml"]
    assert parsed["write"] and not parsed["fix"] and parsed["fmt"].value == "json"


def test_audit_without_fix_imports_neither_typer_nor_rich(tmp_path: Path) -> None:
    import subprocess
    import sys

    compose = tmp_path / "compose.yaml"
    compose.write_text(COMPOSE)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    code = (
        f"import sys, runpy; sys.argv = ['tpdoctor', 'audit', {str(compose)!r}, '-f', 'json'];\n"
        "try: runpy.run_module('tpdoctor', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "heavy = ('typer', 'rich', 'click', 'pydantic')\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in heavy), file=sys.stderr)"
    )
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert '"findings"' in r.stdout, r.stderr[-500:]
    assert "LOADED []" in r.stderr, r.stderr[-500:]


# `explain` too: cli/explain.py's parse_fast and run_explain, typer in cli/explain_cmd.py
LOG = (
    "INFO starting\n"
    "RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: "
    "could not open device directory\n"
)
EXPLAIN_ARGVS = [
    ["{l}"],
    ["{l}", "-f", "json"],
    ["--format=sarif", "{l}"],
    ["{l}", "--verbose", "-r", "docker"],
    ["{l}", "{l}"],
    ["{l}", "--config", "{c}"],
    ["{l}", "-c", "{c}", "-f", "json"],
    ["{l}", "--engine", "nope"],  # a usage error, one line
    ["{l}", "--write"],  # --write needs --config
    ["-", "-f", "json"],  # stdin
    ["{l}", "--bogus"],
]


@pytest.mark.parametrize("argv", EXPLAIN_ARGVS, ids=[" ".join(a) for a in EXPLAIN_ARGVS])
def test_explain_fast_path_matches_typer(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "vllm.log"
    log.write_text(LOG)
    compose = tmp_path / "compose.yaml"
    compose.write_text(COMPOSE)
    args = [a.replace("{l}", str(log)).replace("{c}", str(compose)) for a in argv]
    assert_both_paths_agree(monkeypatch, "explain", *args, cwd=tmp_path, input=LOG)
    assert compose.read_text() == COMPOSE


# `run` (every container start): cli/run.py's parse_fast and run_workload, typer in cli/run_cmd.py
RUN_ARGVS = [
    ["--no-check", "--", "true"],
    ["--no-check", "--", "sh", "-c", "echo out; echo err >&2; exit 3"],
    ["--no-check", "--", "/no/such/command"],
    ["--tp", "2", "--no-fix", "--", "true"],
    ["--strict", "--backend", "xpu", "--tp=2", "--", "true"],
    ["--oneccl-version", "14", "--", "true"],  # a usage error, one line
    ["--tp", "0", "--", "true"],  # typer's min=1 message either way
    ["--no-check", "--"],  # no command: one line, exit 2
    ["--no-check", "true"],  # no `--`: typer parses
]


@pytest.mark.parametrize("argv", RUN_ARGVS, ids=[" ".join(a) for a in RUN_ARGVS])
def test_run_fast_path_matches_typer(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_both_paths_agree(monkeypatch, "run", *argv, cwd=tmp_path)


def test_what_the_run_fast_path_leaves_to_typer() -> None:
    from tpdoctor.cli.run import parse_fast as parse_run

    assert parse_run(["true"]) is None  # no `--`
    assert parse_run(["--help", "--", "true"]) is None
    assert parse_run(["--tp", "--", "true"]) is None  # --tp without its value
    parsed = parse_run(["--tp", "4", "--no-fix", "--", "vllm", "serve", "--tp", "2"])
    assert parsed is not None and parsed["command"] == ["vllm", "serve", "--tp", "2"]
    assert parsed["tp"] == 4 and parsed["no_fix"] and not parsed["strict"]
