"""Start one process per rank, watch them, and never leave one behind.

Each rank runs in its own session (start_new_session), so it is the leader of its own process
group: the watchdog ends a rank and anything it started with one killpg, and a Ctrl-C in the
terminal reaches only the launcher, which then ends the ranks itself. A rank also dies with
the launcher (PR_SET_PDEATHSIG in worker.py).

The watchdog ends the whole group when
  * no rank has reported progress for `timeout` seconds (a hang: the ranks that are behind are
    named, with their last operation), or
  * a rank exits before finishing (the others get `grace` seconds to report, then are ended).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tpdoctor.verify.results import RankProblem
from tpdoctor.verify.sizes import human

EventCallback = Callable[[dict[str, Any]], None]
POLL_S = 0.05


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Rank:
    rank: int
    proc: subprocess.Popen[bytes]
    events_path: Path
    log_path: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    offset: int = 0
    partial: str = ""
    exit_code: int | None = None

    def read_events(self) -> list[dict[str, Any]]:
        try:
            with self.events_path.open("r", encoding="utf-8") as f:
                f.seek(self.offset)
                chunk = f.read()
                self.offset = f.tell()
        except FileNotFoundError:
            return []
        text = self.partial + chunk
        lines = text.split("\n")
        self.partial = lines.pop()  # an unfinished last line waits for the next read
        new = []
        for line in lines:
            if line.strip():
                try:
                    new.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        self.events.extend(new)
        return new

    @property
    def finished(self) -> bool:
        return any(e["ev"] == "finished" for e in self.events)

    @property
    def error(self) -> str | None:
        return next((e.get("error") for e in self.events if e["ev"] == "error"), None)

    @property
    def steps_started(self) -> int:
        return max((int(e.get("step", 0)) for e in self.events if e["ev"] == "start"), default=-1)

    def last_op(self) -> str:
        if not self.events:
            return "starting (python/torch import)"
        e = self.events[-1]
        what = e.get("op", "")
        if e.get("bytes"):
            what += f" {human(int(e['bytes']))}"
        state = {
            "start": "in",
            "done": "after",
            "result": "after",
            "error": "failed in",
            "finished": "finished",
        }
        return f"{state.get(e['ev'], e['ev'])} {what} (step {e.get('step', 0)})".replace("  ", " ")


@dataclass
class LaunchOutcome:
    ranks: dict[int, list[dict[str, Any]]]
    exit_codes: dict[int, int | None]
    problem: RankProblem | None
    wall_s: float
    leftover: list[int]
    log_paths: dict[int, Path]


def log_tail(path: Path, lines: int = 12) -> list[str]:
    """Last lines of a rank's log, NCCL INFO chatter left out (the error is what matters)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    keep = [ln for ln in text if " NCCL INFO " not in ln and "|CCL_INFO|" not in ln]
    return [ln[:300] for ln in keep[-lines:]]


def kill_group(pgid: int, sig: int) -> None:
    """Signal a process group; a group already gone is fine."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (EPERM means someone is)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_all(ranks: list[Rank], term_wait: float = 3.0) -> list[int]:
    """SIGTERM every rank's group, SIGKILL what is left after `term_wait`, reap; return survivors."""
    for r in ranks:
        if r.proc.poll() is None:
            kill_group(r.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + term_wait
    while time.monotonic() < deadline and any(r.proc.poll() is None for r in ranks):
        time.sleep(POLL_S)
    for r in ranks:
        kill_group(r.proc.pid, signal.SIGKILL)  # also children a rank may have left in its group
    for r in ranks:
        try:
            r.exit_code = r.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    time.sleep(POLL_S)
    return [r.proc.pid for r in ranks if group_alive(r.proc.pid)]


def _output(path: Path) -> int:
    from tpdoctor.errors import InputError
    from tpdoctor.safewrite import open_output

    try:
        return open_output(path, 0o644)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None


def launch(
    world: int,
    config: dict[str, Any],
    run_dir: Path,
    env: dict[str, str],
    *,
    timeout: float,
    grace: float = 5.0,
    on_event: EventCallback | None = None,
) -> LaunchOutcome:
    """Run `world` ranks of tpdoctor.verify.worker to the end, or end them; KeyboardInterrupt is
    re-raised after every rank is gone."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {**config, "run_dir": str(run_dir), "parent_pid": os.getpid(), "world": world}
    cfg_path = run_dir / "config.json"
    # --logs names a directory that may be shared: a planted link or hard link there is not written through (gsafe42)
    with os.fdopen(_output(cfg_path), "w", encoding="utf-8") as fh:
        fh.write(json.dumps(config))
    base_env = {
        **env,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "WORLD_SIZE": str(world),
        "LOCAL_WORLD_SIZE": str(world),
        "PYTHONUNBUFFERED": "1",
    }
    ranks: list[Rank] = []
    logs: list[TextIO] = []
    t0 = time.monotonic()
    problem: RankProblem | None = None
    leftover: list[int] = []
    try:
        for r in range(world):
            log_path = run_dir / f"rank{r}.log"
            logf = os.fdopen(_output(log_path), "w", encoding="utf-8")
            logs.append(logf)
            proc = subprocess.Popen(
                [sys.executable, "-m", "tpdoctor.verify.worker", "--config", str(cfg_path), "--rank", str(r)],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env={**base_env, "RANK": str(r), "LOCAL_RANK": str(r)},
                start_new_session=True,
            )
            ranks.append(Rank(r, proc, run_dir / f"rank{r}.events.jsonl", log_path))
        problem = _watch(ranks, timeout=timeout, grace=grace, t0=t0, on_event=on_event)
    finally:
        # Every path out (done, failure, hang, Ctrl-C, a bug of ours) ends all ranks.
        leftover = stop_all(ranks, term_wait=1.0 if problem is None else 3.0)
        for f in logs:
            f.close()
    for rk in ranks:
        rk.read_events()
    return LaunchOutcome(
        ranks={r.rank: r.events for r in ranks},
        exit_codes={r.rank: r.exit_code for r in ranks},
        problem=problem,
        wall_s=time.monotonic() - t0,
        leftover=leftover,
        log_paths={r.rank: r.log_path for r in ranks},
    )


def _watch(
    ranks: list[Rank], *, timeout: float, grace: float, t0: float, on_event: EventCallback | None
) -> RankProblem | None:
    last_progress = time.monotonic()
    first_failure: float | None = None
    failed: list[Rank] = []
    while True:
        now = time.monotonic()
        for r in ranks:
            new = r.read_events()
            if new:
                last_progress = now
                for e in new:
                    if on_event:
                        on_event(e)
            if r.exit_code is None:
                r.exit_code = r.proc.poll()
                if r.exit_code is not None and not (r.exit_code == 0 and r.finished):
                    r.read_events()
                    failed.append(r)
                    first_failure = first_failure or now
        if all(r.exit_code is not None for r in ranks):
            break
        if all(r.finished for r in ranks) and now - last_progress > 30.0:
            break  # all done, one is slow to exit (driver teardown): stop_all ends it
        if first_failure is not None and now - first_failure > grace:
            break
        if now - last_progress > timeout and first_failure is None:
            return _hang_problem(ranks, timeout)
        time.sleep(POLL_S)
    if not failed:
        return None
    # A rank that died without a word is the cause; the others' errors are its consequence.
    silent = [r for r in failed if r.error is None]
    culprits = silent or failed[:1]
    kind = "died" if silent else "error"
    detail = "; ".join(
        f"rank {r.rank} exited with {_exit_text(r.exit_code)}" + (f": {r.error}" if r.error else "")
        for r in culprits
    )
    others = [r for r in failed if r not in culprits]
    if others:
        detail += "; then " + ", ".join(
            f"rank {r.rank}: {r.error or _exit_text(r.exit_code)}" for r in others
        )
    return RankProblem(
        kind=kind,
        ranks=[r.rank for r in culprits],
        last_ops={r.rank: r.last_op() for r in ranks},
        detail=detail,
        log_tail={r.rank: log_tail(r.log_path) for r in culprits},
    )


def _hang_problem(ranks: list[Rank], timeout: float) -> RankProblem:
    """Name the ranks that are behind (fewest steps started); if none is, all are stuck together."""
    behind = min(r.steps_started for r in ranks)
    stuck = [r for r in ranks if r.steps_started == behind]
    detail = f"no rank made progress for {timeout:g} s"
    if len(stuck) < len(ranks):
        detail += "; the others wait for " + ", ".join(f"rank {r.rank}" for r in stuck)
    return RankProblem(
        kind="hung",
        ranks=[r.rank for r in stuck],
        last_ops={r.rank: r.last_op() for r in ranks},
        detail=detail,
        log_tail={r.rank: log_tail(r.log_path) for r in stuck},
    )


def _exit_text(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
