"""`tpdoctor check`: inspect a host or container and predict whether N-GPU TP will start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tpdoctor.cli.options import (
    Backend,
    BackendOpt,
    Format,
    OneCclVersion,
    OutputFormat,
    Pp,
    RuntimeOpt,
    Tp,
    Verbose,
)

if TYPE_CHECKING:
    from tpdoctor.model import Facts


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (docker --env-file / compose .env style; `export`, quotes and # allowed)."""
    from tpdoctor.errors import InputError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read env file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    env: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip().replace("_", "").isalnum():
            raise InputError(f"{path}:{n}: not a KEY=VALUE line")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def _root_environ(root: Path) -> dict[str, str]:
    """A captured /proc/self/environ under the root, if there is one."""
    try:
        raw = (root / "proc/self/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode("utf-8", "replace").partition("=") for item in raw.split(b"\0") if item)
    return {k: v for k, sep, v in pairs if sep}


def check_command(
    root: Path = typer.Option(
        None, "--root", help="Inspect a root directory laid out like / (fixture or mounted snapshot)."
    ),
    tp: Tp = None,
    pp: Pp = 1,
    backend: BackendOpt = Backend.auto,
    fmt: Format = OutputFormat.text,
    runtime: RuntimeOpt = None,
    verbose: Verbose = False,
    env_file: Path = typer.Option(
        None, "--env-file", help="The job's environment (KEY=VALUE lines) instead of this shell's."
    ),
    snapshot: Path = typer.Option(None, "--snapshot", help="Also write the collected facts as JSON."),
    from_snapshot: Path = typer.Option(
        None, "--from-snapshot", help="Analyse facts captured elsewhere with --snapshot."
    ),
    example: str = typer.Option(None, "--example", help="A built-in example snapshot ('list' lists them)."),
    oneccl_version: OneCclVersion = None,
    ipc_exchange: str = typer.Option(
        None, "--ipc-exchange", help="What if CCL_ZE_IPC_EXCHANGE were pidfd, drmfd or sockets."
    ),
    compare: bool = typer.Option(
        False,
        "--compare",
        help="Compare --snapshot files taken in each rank's container (SNAPSHOTS...): "
        "are the ranks of one TP group split across containers or namespaces?",
    ),
    snapshots: list[Path] = typer.Argument(
        None, help="With --compare: two or more snapshot files.", show_default=False
    ),
) -> None:
    """Predict, before launch, whether N-GPU tensor parallel will start here, and why not."""
    from tpdoctor.errors import UsageError

    if compare or snapshots:
        if not compare:
            raise UsageError("snapshot files are arguments of --compare: check --compare A.json B.json")
        if any(x is not None for x in (root, from_snapshot, example, snapshot)):
            raise UsageError("--compare takes only snapshot files (and --format)")
        from tpdoctor.cli.common import emit
        from tpdoctor.facts.snapshot import read_compare_snapshot
        from tpdoctor.rules.topology import compare_snapshots

        emit(compare_snapshots([(p.name, read_compare_snapshot(p)) for p in snapshots or []]), fmt)

    if ipc_exchange is not None and ipc_exchange not in ("pidfd", "drmfd", "sockets"):
        raise UsageError(f"--ipc-exchange must be pidfd, drmfd or sockets, not {ipc_exchange!r}")
    if sum(x is not None for x in (root, from_snapshot, example)) > 1:
        raise UsageError("use only one of --root, --from-snapshot and --example")
    if example == "list":
        from tpdoctor.facts.snapshot import example_names

        for name, label in example_names().items():
            typer.echo(f"{name:16} {label}")
        raise typer.Exit(0)

    facts = _load_facts(root, from_snapshot, example, env_file)
    if snapshot is not None:
        from tpdoctor.facts.snapshot import write_snapshot

        write_snapshot(facts, snapshot)

    from tpdoctor.cli.common import emit, shown_runtimes
    from tpdoctor.model import CheckOptions, Report
    from tpdoctor.rules import run_fact_rules
    from tpdoctor.rules.summary import facts_summary

    options = CheckOptions(
        tp=tp,
        pp=pp or 1,
        backend=(backend or Backend.auto).value,
        oneccl_version=oneccl_version,
        ipc_exchange=ipc_exchange,
    )
    findings = run_fact_rules(facts, options)
    summary = facts_summary(facts, options)
    notes: list[str] = []
    if not summary["gpus"] and any(f.cause == "device.no-gpu" for f in findings):
        notes.append("No GPU is present: nothing for tensor parallel to use here.")
    oneccl = summary.get("oneccl")
    if oneccl:
        notes.append(
            f"oneCCL {oneccl['version']} ({oneccl['version_source']}"
            + (", assumed: pass --oneccl-version to change" if oneccl["version_assumed"] else "")
            + f"): requested {oneccl['requested']}, predicted IPC exchange {oneccl['mode']}."
        )
    notes += [f"could not read: {e}" for e in facts.errors[:5]]
    live_deployment = from_snapshot is None and example is None
    runtimes, full = shown_runtimes(runtime, _deployment_runtime(facts, live_deployment), verbose)
    report = Report(command="check", findings=findings, facts=summary, notes=notes)
    emit(report, fmt, runtimes, full=full)


def _deployment_runtime(facts: Facts, look_here: bool) -> str:
    """Whose fixes a person here needs: compose when a compose file is in the working directory
    (checked for a live or --root check only), else the container runtime the facts show (docker
    in Docker, kubernetes in a pod, podman), else docker."""
    from tpdoctor.cli.common import compose_project_here
    from tpdoctor.facts.container import container_runtime

    if look_here and compose_project_here():
        return "compose"
    runtime = container_runtime(facts)
    return runtime if runtime in ("docker", "podman", "kubernetes") else "docker"


def _load_facts(
    root: Path | None, from_snapshot: Path | None, example: str | None, env_file: Path | None
) -> Facts:
    from tpdoctor.errors import InputError

    if from_snapshot is not None or example is not None:
        from tpdoctor.facts.snapshot import load_example, read_snapshot

        facts = read_snapshot(from_snapshot) if from_snapshot is not None else load_example(example or "")
        if env_file is not None:
            from tpdoctor.facts.process import redact_env

            facts.env = redact_env(read_env_file(env_file))
        return facts
    from tpdoctor.facts.collect import collect_facts

    if root is not None:
        if not root.is_dir():
            raise InputError(f"--root {root}: not a directory")
        env = read_env_file(env_file) if env_file is not None else _root_environ(root)
        return collect_facts(root.resolve(), env, live=False)
    env = read_env_file(env_file) if env_file is not None else dict(os.environ)
    return collect_facts(Path("/"), env, live=True)
