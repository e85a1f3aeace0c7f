"""`tpdoctor check`: inspect a host or container and predict whether N-GPU TP will start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tpdoctor.cli import app
from tpdoctor.cli.common import FORMAT_OPTION, OutputFormat

if TYPE_CHECKING:
    from tpdoctor.model import Facts


ENV_FILE_MAX = 1 << 20


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (docker --env-file / compose .env style; `export`, quotes and # allowed)."""
    from tpdoctor.boundedio import read_text_bounded
    from tpdoctor.errors import InputError

    text = read_text_bounded(path, ENV_FILE_MAX, what="env file")
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
    from tpdoctor.facts.fsutil import read_text

    raw = read_text(root.resolve(), "/proc/self/environ") or ""  # in the root, bounded
    pairs = (item.partition("=") for item in raw.split("\0") if item)
    return {k: v for k, sep, v in pairs if sep}


@app.command("check")
def check_command(
    root: Path = typer.Option(
        None, "--root", help="Inspect a root directory laid out like / (fixture or mounted snapshot)."
    ),
    tp: int = typer.Option(None, "--tp", min=1, help="Tensor-parallel size (default: all visible GPUs)."),
    pp: int = typer.Option(1, "--pp", min=1, help="Pipeline-parallel size."),
    backend: str = typer.Option(
        "auto",
        "--backend",
        help="auto, xpu, cuda or rocm; xccl or ccl: Intel through torch's XCCL or oneccl_bindings.",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    env_file: Path = typer.Option(
        None, "--env-file", help="The job's environment (KEY=VALUE lines) instead of this shell's."
    ),
    snapshot: Path = typer.Option(None, "--snapshot", help="Also write the collected facts as JSON."),
    from_snapshot: Path = typer.Option(
        None, "--from-snapshot", help="Analyse facts captured elsewhere with --snapshot."
    ),
    example: str = typer.Option(None, "--example", help="A built-in example snapshot ('list' lists them)."),
    oneccl_version: str = typer.Option(
        None, "--oneccl-version", help="oneCCL version when it cannot be detected, e.g. 2021.13."
    ),
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
        from tpdoctor.rules.topology import compare_snapshots

        emit(compare_snapshots(list(snapshots or [])), fmt)

    if backend not in ("auto", "xpu", "cuda", "rocm", "xccl", "ccl"):
        raise UsageError(f"--backend must be auto, xpu, cuda, rocm, xccl or ccl, not {backend!r}")
    dist_backend = backend if backend in ("xccl", "ccl") else None
    backend = "xpu" if dist_backend else backend
    if ipc_exchange is not None and ipc_exchange not in ("pidfd", "drmfd", "sockets"):
        raise UsageError(f"--ipc-exchange must be pidfd, drmfd or sockets, not {ipc_exchange!r}")
    if sum(x is not None for x in (root, from_snapshot, example)) > 1:
        raise UsageError("use only one of --root, --from-snapshot and --example")
    if oneccl_version is not None:
        from tpdoctor.oneccl.model import parse_version

        try:
            parse_version(oneccl_version)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if example == "list":
        from tpdoctor.facts.snapshot import example_names

        for name, label in example_names().items():
            typer.echo(f"{name:16} {label}")
        raise typer.Exit(0)

    facts = _load_facts(root, from_snapshot, example, env_file)
    if snapshot is not None:
        from tpdoctor.facts.snapshot import write_snapshot

        write_snapshot(facts, snapshot)

    from tpdoctor.cli.common import emit
    from tpdoctor.limits import check_sizes
    from tpdoctor.model import CheckOptions, Report
    from tpdoctor.rules import run_fact_rules
    from tpdoctor.rules.summary import facts_summary

    check_sizes(tp, pp)
    options = CheckOptions(
        tp=tp,
        pp=pp,
        backend=backend,
        oneccl_version=oneccl_version,
        ipc_exchange=ipc_exchange,
        dist_backend=dist_backend,
    )
    findings = run_fact_rules(facts, options)
    summary = facts_summary(facts, options)
    notes: list[str] = []
    if not summary["gpus"] and any(f.cause == "device.no-gpu" for f in findings):
        notes.append("No GPU is present: nothing for tensor parallel to use here.")
    oneccl = summary.get("oneccl")
    if oneccl:
        notes.append(
            (f"{oneccl['dist_backend']} runs " if oneccl.get("dist_backend") else "")
            + f"oneCCL {oneccl['version']} ({oneccl['version_source']}"
            + (", assumed: pass --oneccl-version to change" if oneccl["version_assumed"] else "")
            + f"): requested {oneccl['requested']}, predicted IPC exchange {oneccl['mode']}."
        )
    notes += [f"could not read: {e}" for e in facts.errors[:5]]
    emit(Report(command="check", findings=findings, facts=summary, notes=notes), fmt)


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
