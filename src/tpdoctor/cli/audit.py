"""`tpdoctor audit FILE...`: GPU-aware least-privilege review of compose, docker/podman run and
Kubernetes files; `--fix` prints the least-privilege diff, `--write` applies it."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tpdoctor.cli.options import Format, OutputFormat, RuntimeOpt, Verbose

if TYPE_CHECKING:
    from tpdoctor.model import Facts


class InputKind(str, Enum):
    auto = "auto"
    compose = "compose"
    docker = "docker"
    podman = "podman"
    kubernetes = "kubernetes"


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


def audit_command(
    files: list[Path] = typer.Argument(
        ..., help="compose files, docker/podman run scripts, Kubernetes manifests."
    ),
    host_facts: Path = typer.Option(
        None, "--host-facts", help="Facts JSON from `tpdoctor check --snapshot` on the GPU host."
    ),
    input_kind: InputKind = typer.Option(InputKind.auto, "--input", help="Force the file format."),
    fix: bool = typer.Option(False, "--fix", help="Print the least-privilege version as a diff."),
    write: bool = typer.Option(False, "--write", help="Apply the fix (atomic, backup FILE.tpdoctor.bak)."),
    ipc_exchange: IpcExchange = typer.Option(
        IpcExchange.drmfd,
        "--ipc-exchange",
        help="oneCCL route the fix prepares: drmfd (no capability) or pidfd.",
    ),
    pss: Pss = typer.Option(None, "--pss", help="Kubernetes: stay within Pod Security 'baseline'."),
    strict: bool = typer.Option(False, "--strict", help="Also report missing hardening in compose/docker."),
    compose_impl: ComposeImpl = typer.Option(
        ComposeImpl.auto,
        "--compose-impl",
        help="Compose implementation that will run the files (auto: only what the file says, "
        "e.g. an x-podman key); podman-compose and docker-compose-v1 ignore or refuse some keys.",
    ),
    skip_other: bool = typer.Option(
        False,
        "--skip-other",
        help="Pass over files that hold no deployment (a pre-commit hook over every YAML and shell file); "
        "unreadable or invalid files still fail.",
    ),
    fmt: Format = OutputFormat.text,
    runtime: RuntimeOpt = None,
    verbose: Verbose = False,
) -> None:
    """Review deployment files for what multi-GPU tensor parallel needs and what it does not."""
    from tpdoctor.cli.common import emit, shown_runtimes
    from tpdoctor.deploy.audit import AuditResult, Loaded, audit_model, load
    from tpdoctor.deploy.model import DeploymentModel
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
        from tpdoctor.deploy.fix import fix_loaded, unified_diff

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

            backup = write_fix(loaded, result.text)
            print(f"tpdoctor: wrote {loaded.path} (backup {backup})", file=sys.stderr)
        else:
            sys.stdout.write(unified_diff(str(loaded.path), loaded.text, result.text))
    if (fix or write) and not fixed_any:
        print("tpdoctor: nothing to change", file=sys.stderr)
    if fix and not write:
        # the diff is the output; findings left after the fix (and the fix's notices) go to
        # stderr, in the format asked for, and the exit code
        from tpdoctor.render import render

        render(report, fmt.value, sys.stderr)
        raise typer.Exit(int(report.exit_code))
    # the fixes in the audited file's own format (the first file's, when several are given)
    detected = loaded_all[0].model.format if loaded_all else "compose"
    runtimes, full = shown_runtimes(runtime, detected, verbose)
    emit(report, fmt, runtimes, full=full)
