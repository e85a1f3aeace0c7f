"""The work of `tpdoctor check`, without typer: the typer command (cli/check.py) and the fast
path of main() (parse_fast, for the common invocations) both call run_check."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tpdoctor.cli.choices import Backend, OutputFormat, RuntimeChoice, oneccl_version
from tpdoctor.cli.fastargs import split_options

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


def run_check(
    root: Path | None = None,
    tp: int | None = None,
    pp: int | None = 1,
    backend: Backend | None = Backend.auto,
    fmt: OutputFormat = OutputFormat.text,
    runtime: RuntimeChoice | None = None,
    verbose: bool = False,
    env_file: Path | None = None,
    snapshot: Path | None = None,
    from_snapshot: Path | None = None,
    example: str | None = None,
    oneccl_version: str | None = None,
    ipc_exchange: str | None = None,
    compare: bool = False,
    snapshots: list[Path] | None = None,
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
            print(f"{name:16} {label}")
        raise SystemExit(0)

    facts = _load_facts(root, from_snapshot, example, env_file)
    if snapshot is not None:
        from tpdoctor.facts.snapshot import write_snapshot

        write_snapshot(facts, snapshot)

    from tpdoctor.cli.common import emit, shown_runtimes
    from tpdoctor.limits import check_sizes
    from tpdoctor.model import CheckOptions, Report
    from tpdoctor.rules import run_fact_rules
    from tpdoctor.rules.summary import facts_summary

    check_sizes(tp, pp)
    chosen = (backend or Backend.auto).value
    dist_backend = chosen if chosen in ("xccl", "ccl") else None
    options = CheckOptions(
        tp=tp,
        pp=pp or 1,
        backend="xpu" if dist_backend else chosen,
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
    from tpdoctor.redact import clip

    notes += [f"could not read: {clip(e, 500, '…')}" for e in facts.errors[:5]]  # a snapshot's errors are anyone's
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


# The options parse_fast understands: (name, takes a value). Anything else (--help, a typo, a bad
# value) goes to typer, which owns the messages; the test runs both paths on the same argv.
_FAST_OPTIONS = {
    "--root": True, "--tp": True, "--pp": True, "--backend": True, "--format": True, "-f": True,
    "--env-file": True, "--snapshot": True, "--from-snapshot": True, "--example": True,
    "--oneccl-version": True, "--ipc-exchange": True, "--runtime": True, "-r": True,
    "--verbose": False, "-v": False,
}  # fmt: skip


def parse_fast(args: list[str]) -> dict[str, Any] | None:
    """run_check's arguments for `check` with the common options, or None to let typer parse."""
    parsed = split_options(args, _FAST_OPTIONS)
    if parsed is None:
        return None
    raw = parsed[0]
    try:
        out: dict[str, Any] = {}
        for key, opt in (("root", "--root"), ("env_file", "--env-file"), ("snapshot", "--snapshot"),
                         ("from_snapshot", "--from-snapshot")):  # fmt: skip
            if opt in raw:
                out[key] = Path(str(raw[opt]))
        for key, opt in (("tp", "--tp"), ("pp", "--pp")):
            if opt in raw:
                out[key] = int(str(raw[opt]))
                if out[key] < 1:
                    return None
        if "--backend" in raw:
            out["backend"] = Backend(raw["--backend"])
        fmt = raw.get("--format", raw.get("-f"))
        if "--format" in raw and "-f" in raw:
            return None
        if fmt is not None:
            out["fmt"] = OutputFormat(fmt)
        runtime = raw.get("--runtime", raw.get("-r"))
        if "--runtime" in raw and "-r" in raw:
            return None
        if runtime is not None:
            out["runtime"] = RuntimeChoice(runtime)
        out["verbose"] = bool(raw.get("--verbose") or raw.get("-v"))
        if "--example" in raw:
            out["example"] = str(raw["--example"])
        if "--ipc-exchange" in raw:
            out["ipc_exchange"] = str(raw["--ipc-exchange"])
        if "--oneccl-version" in raw:
            out["oneccl_version"] = oneccl_version(str(raw["--oneccl-version"]))
    except ValueError:
        return None
    return out
