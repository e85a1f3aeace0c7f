"""`tpdoctor audit FILE...`: GPU-aware least-privilege review of compose, docker/podman run and
Kubernetes files; `--fix` prints the least-privilege diff, `--write` applies it.

The work, without typer: `run_audit`, and `parse_fast` for the options it knows (typer, click,
rich and the pydantic that typer imports cost ~0.2 s of CPU per run; `cli/audit_cmd.py` is the
typer command, used for --help, errors and anything parse_fast leaves to it)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tpdoctor.cli.choices import OutputFormat, RuntimeChoice
from tpdoctor.cli.fastargs import split_options

if TYPE_CHECKING:
    from tpdoctor.model import Facts


class InputKind(str, Enum):
    auto = "auto"
    compose = "compose"
    docker = "docker"
    podman = "podman"
    kubernetes = "kubernetes"
    devcontainer = "devcontainer"


class IpcExchange(str, Enum):
    drmfd = "drmfd"
    pidfd = "pidfd"


class ComposeImpl(str, Enum):
    auto = "auto"
    compose_v2 = "compose-v2"
    docker_compose_v1 = "docker-compose-v1"
    podman_compose = "podman-compose"


class Pss(str, Enum):
    baseline = "baseline"


def load_facts(path: Path | None) -> Facts | None:
    """--host-facts: read by the one snapshot reader (schema version and shape checked, exit 2)."""
    if path is None:
        return None
    from tpdoctor.facts.snapshot import read_snapshot

    return read_snapshot(path)


def run_audit(
    files: list[Path],
    host_facts: Path | None = None,
    input_kind: InputKind = InputKind.auto,
    fix: bool = False,
    write: bool = False,
    ipc_exchange: IpcExchange = IpcExchange.drmfd,
    pss: Pss | None = None,
    strict: bool = False,
    compose_impl: ComposeImpl = ComposeImpl.auto,
    skip_other: bool = False,
    fmt: OutputFormat = OutputFormat.text,
    runtime: RuntimeChoice | None = None,
    verbose: bool = False,
) -> None:
    """Review deployment files for what multi-GPU tensor parallel needs and what it does not."""
    from tpdoctor.cli.common import emit, shown_runtimes
    from tpdoctor.deploy.audit import AuditResult, Loaded, audit_model, load
    from tpdoctor.deploy.model import FIX_RUNTIME, DeploymentModel
    from tpdoctor.errors import NotDeploymentError
    from tpdoctor.model import Report

    facts = load_facts(host_facts)
    kind = None if input_kind is InputKind.auto else input_kind.value
    pss_v = pss.value if pss else None
    impl = None if compose_impl is ComposeImpl.auto else compose_impl.value
    report = Report(command="audit")
    if facts is None:
        report.notes.append("no --host-facts: device nodes and the render GID are placeholders")
    if write:
        from tpdoctor.safewrite import refuse_same_file_twice

        refuse_same_file_twice(list(files))
    loaded_all: list[Loaded] = []  # parse everything first: one bad file, no partial writes
    from contextlib import nullcontext

    from tpdoctor.deploy.io import read_only_trees

    # nothing is written back without --fix/--write: the fast tree without comments will do
    with nullcontext() if (fix or write) else read_only_trees():
        for p in files:
            try:
                loaded_all.append(load(p, kind))
            except NotDeploymentError as exc:
                if not skip_other:
                    raise
                report.notes.append(f"skipped: {exc}")
    fixed_any = False
    for loaded in loaded_all:

        def audit(model: DeploymentModel) -> AuditResult:
            return audit_model(
                model, facts, ipc_exchange=ipc_exchange.value, pss=pss_v, strict=strict, compose_impl=impl
            )

        notices = [f"{loaded.path}: {n}" for n in loaded.frontend.notices(loaded.handle)]
        if loaded.fmt == "kubernetes":  # what schema validation could not check, said once
            notices += [n for n in loaded.model.notes if n not in report.notes and n not in notices]
        if not (fix or write):
            res = audit(loaded.model)
            report.notes.extend([*res.allowed, *notices])
            report.findings.extend(res.findings)
            continue
        from tpdoctor.deploy.fix import fix_loaded, hide_values, secret_values, unified_diff

        # the fix audits once (for what it writes); the findings reported are those of the
        # fixed text, or of the file itself when nothing changed
        result = fix_loaded(loaded, facts, ipc_exchange.value, pss_v)
        report.notes.extend([*result.allowed, *notices])
        if result.text == loaded.text:
            report.findings.extend(audit(loaded.model).findings)
        else:
            report.findings.extend(audit(load(loaded.path, kind, text=result.text).model).findings)
        report.findings.extend(result.notices)  # what the edits mean; only the fix reports them
        for plan in result.plans:
            for why in plan.why:
                report.notes.append(f"{loaded.path}: {plan.service}: {why}")
            for c in plan.cannot:
                report.notes.append(f"{loaded.path}: {plan.service}: not changed: {c}")
        if result.text == loaded.text:
            continue
        fixed_any = True
        if write:
            from tpdoctor.deploy.audit import write_fix
            from tpdoctor.termsafe import printable

            backup = write_fix(loaded, result.text)
            print(printable(f"tpdoctor: wrote {loaded.path} (backup {backup})"), file=sys.stderr)
        else:
            from tpdoctor.termsafe import printable_lines

            # the file's own bytes, minus what a terminal would run: ESC sequences, C1, bidi controls (gsafe41)
            # and without the values of its secret variables, whatever their layout (gsafe42)
            diff = hide_values(unified_diff(str(loaded.path), loaded.text, result.text), secret_values(loaded.model))
            sys.stdout.write(printable_lines(diff))
    if (fix or write) and not fixed_any:
        print("tpdoctor: nothing to change", file=sys.stderr)
    if fix and not write:
        # the diff is the output; findings left after the fix (and the fix's notices) go to
        # stderr, in the format asked for, and the exit code
        from tpdoctor.render import render

        render(report, fmt.value, sys.stderr)
        raise SystemExit(int(report.exit_code))
    # the fixes in the audited file's own format (the first file's, when several are given)
    fmt_read = loaded_all[0].model.format if loaded_all else "compose"
    detected = FIX_RUNTIME.get(fmt_read, fmt_read)
    runtimes, full = shown_runtimes(runtime, detected, verbose)
    emit(report, fmt, runtimes, full=full)


# The options parse_fast understands: (name, takes a value). Anything else (--help, a typo, a bad
# value, `--`) goes to typer, which owns the messages; tests/test_cli_fast_path.py runs both.
_FAST_OPTIONS = {
    "--host-facts": True, "--input": True, "--fix": False, "--write": False, "--ipc-exchange": True,
    "--pss": True, "--strict": False, "--compose-impl": True, "--skip-other": False,
    "--format": True, "-f": True, "--runtime": True, "-r": True, "--verbose": False, "-v": False,
}  # fmt: skip
_ALIASES = {"-f": "--format", "-r": "--runtime", "-v": "--verbose"}


def parse_fast(args: list[str]) -> dict[str, Any] | None:
    """run_audit's arguments for `audit` with the options above, or None to let typer parse."""
    parsed = split_options(args, _FAST_OPTIONS, _ALIASES, positionals=True)
    if parsed is None:
        return None
    raw, words = parsed
    files = [Path(w) for w in words]
    if not files or any(str(f) == "-" for f in files):
        return None
    try:
        return {
            "files": files,
            "host_facts": Path(str(raw["--host-facts"])) if "--host-facts" in raw else None,
            "input_kind": InputKind(raw.get("--input", "auto")),
            "fix": bool(raw.get("--fix")),
            "write": bool(raw.get("--write")),
            "ipc_exchange": IpcExchange(raw.get("--ipc-exchange", "drmfd")),
            "pss": Pss(raw["--pss"]) if "--pss" in raw else None,
            "strict": bool(raw.get("--strict")),
            "compose_impl": ComposeImpl(raw.get("--compose-impl", "auto")),
            "skip_other": bool(raw.get("--skip-other")),
            "fmt": OutputFormat(raw.get("--format", "text")),
            "runtime": RuntimeChoice(raw["--runtime"]) if "--runtime" in raw else None,
            "verbose": bool(raw.get("--verbose")),
        }
    except ValueError:
        return None
