"""The steps of `tpdoctor run` around the child: check and fix before, explain after.

Everything is printed to stderr, one line per item, prefixed `tpdoctor:` so it can be told
from the command's own output in a container log.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tpdoctor.model import CheckOptions, Facts, Finding, Severity
from tpdoctor.runner.child import Capture
from tpdoctor.runner.safefix import (
    BYPATH_CAUSES,
    ENV_VAR,
    LD_PATH,
    LIBCUDA_CAUSE,
    Applied,
    BypathPlan,
    LibPathPlan,
    NoFix,
    create_bypath_dir,
    plan_bypath_dir,
    plan_driver_lib_path,
    private_base,
    wont_fix_reason,
)

Say = Callable[[str], None]


def stderr_say(stream: TextIO | None = None) -> Say:
    from tpdoctor.redact import redact_text
    from tpdoctor.termsafe import one_line

    def say(msg: str) -> None:
        out = stream or sys.stderr
        # quoted log lines carry the job's secrets, and its escape sequences (`ESC c` resets the terminal; gsafe41)
        out.write(one_line(redact_text(f"tpdoctor: {msg}")) + "\n")
        out.flush()

    return say


@dataclass
class Prepared:
    env: dict[str, str]
    findings: list[Finding] = field(default_factory=list)
    applied: list[Applied] = field(default_factory=list)

    @property
    def blockers(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.blocker]

    def cleanup(self) -> None:
        for a in self.applied:
            a.remove()


def _count(findings: Sequence[Finding]) -> str:
    n = {s: sum(f.severity is s for f in findings) for s in Severity}
    return (
        f"{n[Severity.blocker]} blocker(s), {n[Severity.degraded]} degraded, {n[Severity.notice]} notice(s)"
    )


Collect = Callable[[Mapping[str, str]], Facts]


def collect_live(env: Mapping[str, str]) -> Facts:
    from tpdoctor.facts.collect import collect_facts

    return collect_facts(Path("/"), env, live=True)


def check_and_fix(
    env: Mapping[str, str],
    options: CheckOptions,
    *,
    fix: bool,
    say: Say,
    collect: Collect = collect_live,
    bases: Sequence[Path] | None = None,
) -> Prepared:
    """Collect facts (live by default), run the rules, apply the safe fixes, and re-check with
    them in place: a fix is kept only when the rules agree it resolves its findings."""
    from tpdoctor.rules.registry import run_fact_rules

    facts = collect(env)
    findings = run_fact_rules(facts, options)
    prepared = Prepared(dict(env), findings)
    job = f"backend {options.backend}, tp {options.tp or 'all visible GPUs'}, pp {options.pp}"
    say(f"check ({job}): {_count(findings)}")
    fixed: dict[str, str] = {}
    if fix:
        plan = plan_bypath_dir(facts, findings, options)
        if isinstance(plan, NoFix):
            say(f"cannot fix {', '.join(plan.causes)}: {plan.reason}")
        elif isinstance(plan, BypathPlan):
            where = list(bases) if bases is not None else private_base(prepared.env)
            applied = _apply_bypath(plan, prepared, options, say, collect, where)
            if applied is not None:
                fixed.update(dict.fromkeys(plan.causes, "fixed"))
        lib_plan = plan_driver_lib_path(facts, prepared.findings)
        if isinstance(lib_plan, NoFix):
            say(f"cannot fix {', '.join(lib_plan.causes)}: {lib_plan.reason}")
        elif isinstance(lib_plan, LibPathPlan):
            _apply_lib_path(lib_plan, prepared, options, say, collect)
    else:
        if any(f.cause in BYPATH_CAUSES for f in findings):
            say(f"--no-fix: not generating a {ENV_VAR} directory")
        if any(f.cause == LIBCUDA_CAUSE for f in findings):
            say(f"--no-fix: not adding the driver's library directory to {LD_PATH}")
    for f in prepared.findings:
        if f.severity is Severity.notice:
            continue
        line = f"{f.severity.value.upper()} {f.cause}: {f.message or f.summary}"
        reason = wont_fix_reason(f)
        say(line + (f" [{reason}]" if reason else ""))
    return prepared


def _apply_lib_path(
    plan: LibPathPlan, prepared: Prepared, options: CheckOptions, say: Say, collect: Collect
) -> None:
    """Append the directory for the child and keep it only when the re-check no longer finds the cause."""
    from tpdoctor.rules.registry import run_fact_rules

    extra = plan.env(prepared.env)
    env = {**prepared.env, **extra}
    after = run_fact_rules(collect(env), options)
    if any(f.cause in plan.causes for f in after):
        say(
            f"not fixing {LIBCUDA_CAUSE}: with {plan.directory} on {LD_PATH} the check still finds it; left {LD_PATH} as it was"
        )
        return
    say(
        f"fixed {LIBCUDA_CAUSE}: appended {plan.directory} to {LD_PATH} for the command only "
        "(at the end: what the path found before still comes first; --no-fix skips this)"
    )
    prepared.env = env
    prepared.findings = after


def _apply_bypath(
    plan: BypathPlan, prepared: Prepared, options: CheckOptions, say: Say, collect: Collect, bases: list[Path]
) -> Applied | None:
    from tpdoctor.rules.registry import run_fact_rules

    try:
        applied = create_bypath_dir(plan, bases)
    except OSError as exc:
        say(f"cannot fix {', '.join(plan.causes)}: {exc}")
        return None
    env = {**prepared.env, **applied.env}
    try:
        after = run_fact_rules(collect(env), options)
    except BaseException:
        applied.remove()
        raise
    left = sorted({f.cause for f in after if f.cause in (*BYPATH_CAUSES, "oneccl.drmfd-dir-no-slash")})
    if left:
        applied.remove()
        say(
            f"not fixing {', '.join(plan.causes)}: with a generated directory the check still finds "
            f"{', '.join(left)}; left {ENV_VAR} unset"
        )
        return None
    links = ", ".join(f"{ln.name} -> {ln.target}" for ln in plan.links)
    say(
        f"fixed {', '.join(plan.causes)}: generated {applied.directory}/ ({links}) and set "
        f"{ENV_VAR}={applied.env[ENV_VAR]} for the command only; {plan.version_note} (--no-fix skips this)"
    )
    for s in plan.skipped:
        say(f"  not linked: {s}")
    prepared.env = env
    prepared.findings = after
    prepared.applied.append(applied)
    return applied


def explain_capture(
    capture: Capture,
    exit_code: int,
    say: Say,
    *,
    log_file: Path | None = None,
    applied: Sequence[Applied] = (),
    predicted: Sequence[str] = (),
    limit: int = 3,
) -> None:
    """Run explain on what the command printed and tell the root cause and its top fix.

    `predicted`: the cause ids the check found before the start (said beside the same cause)."""
    from tpdoctor.explain import NO_CAUSE, explain

    with _scratch_dir() as tmp:
        path = tmp / "output.log"
        capture.write_to(path)
        report = explain([str(path)])
        if log_file is not None:
            _write_report(report, log_file, say)
    causes = [f for f in report.findings if f.severity is not Severity.notice]
    if not causes:
        say(f"the command exited with {exit_code}; explain: {NO_CAUSE}")
        for e in (report.facts.get("error_lines") or [])[:limit]:
            say(f"  line {e['line']}: {e['text'][:300]}")
        return
    say(f"the command exited with {exit_code}; explain names {len(causes)} cause(s), most likely first:")
    for f in causes[:limit]:
        say(f"{f.severity.value.upper()} {f.cause} ({f.confidence}): {f.message or f.summary}")
        for ev in f.evidence[:2]:
            where = f"line {ev.line}: " if ev.line else ""
            say(f"  evidence {where}{ev.text[:300]}")
        if f.fixes:
            top = f.fixes[0]
            say(f"  fix: {top.title}")
        if f.cause == "oneccl.bypath-missing" and applied:
            # only a failed opendir means the variable was not read; a later step (an entry that
            # cannot be opened: ENOENT/ENXIO/EPERM/EACCES) means oneCCL got past it
            say(
                f"  note: {ENV_VAR} pointed at a generated directory and oneCCL still could not open a "
                "device directory: this build ignores the variable (older than 2021.13.1); use the "
                "by-path mount instead"
            )
        if f.cause in predicted:
            say("  check predicted this cause before the command started")
    if log_file is None:
        say("`--explain-log FILE` writes the full diagnosis with every fix")


@contextlib.contextmanager
def _scratch_dir() -> Iterator[Path]:
    """A private temporary directory; not only /tmp, whose absence may be what crashed."""
    errors: list[str] = []
    for base in private_base(os.environ):
        try:
            tmp = tempfile.mkdtemp(prefix="tpdoctor-run-", dir=base)
        except OSError as exc:
            errors.append(f"{base}: {exc.strerror or exc}")
            continue
        try:
            yield Path(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    raise OSError("no writable temporary directory: " + "; ".join(errors))


def _write_report(report: object, log_file: Path, say: Say) -> None:
    from tpdoctor.model import Report
    from tpdoctor.render import render

    assert isinstance(report, Report)
    from tpdoctor.safewrite import write_output_file

    fmt = "json" if log_file.suffix == ".json" else "text"
    buf = io.StringIO()
    render(report, fmt, buf, full=True)
    try:
        write_output_file(log_file, buf.getvalue())  # redacted, never through a planted link
    except OSError as exc:
        say(f"cannot write --explain-log {log_file}: {exc.strerror or exc}")
        return
    say(f"full diagnosis written to {log_file}")
