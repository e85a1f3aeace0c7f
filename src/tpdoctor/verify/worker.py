"""One rank of `tpdoctor verify`: `python -m tpdoctor.verify.worker --config RUN/config.json --rank R`.

It reports every step to RUN/rank<R>.events.jsonl (one JSON object a line, flushed at once) so
the launcher can draw progress and name the last operation of a rank that hangs or dies. Its
stdout/stderr (NCCL's INFO log included) go to RUN/rank<R>.log.

TPDOCTOR_VERIFY_FAULT injects faults for tests (comma list): `hang:RANK[:OP]` and `die:RANK[:OP]`
(before OP starts, default: the first step after init), `corrupt:RANK` (one wrong input element
in each all_reduce), `tp-skip` (the TP MLP leaves out its all-reduce on every rank).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

FAULT_ENV = "TPDOCTOR_VERIFY_FAULT"
# Step name of the small-message all-reduce (graph-captured on CUDA/ROCm); results report "all_reduce".
SMALL_OP = "all_reduce_small"
# Step name of vLLM's custom all-reduce (opt-in, --vllm-custom-ar).
VLLM_OP = "vllm_custom_ar"


@dataclass
class Faults:
    hang: dict[int, str | None] = field(default_factory=dict)
    die: dict[int, str | None] = field(default_factory=dict)
    corrupt: set[int] = field(default_factory=set)
    tp_skip: bool = False

    def trigger(self, rank: int, op: str, step: int) -> None:
        """Called before a step starts: hang or die here if asked."""
        for table, action in ((self.hang, "hang"), (self.die, "die")):
            if rank in table and step >= 1 and table[rank] in (None, op):
                if action == "die":
                    os._exit(17)
                while True:  # a rank stuck outside any collective; only a signal ends it
                    time.sleep(1)


def parse_faults(spec: str) -> Faults:
    f = Faults()
    for item in filter(None, (s.strip() for s in spec.split(","))):
        parts = item.split(":")
        kind = parts[0]
        if kind == "tp-skip":
            f.tp_skip = True
        elif kind in ("hang", "die", "corrupt") and len(parts) >= 2 and parts[1].isdigit():
            rank = int(parts[1])
            op = parts[2] if len(parts) > 2 else None
            if kind == "corrupt":
                f.corrupt.add(rank)
            else:
                getattr(f, kind)[rank] = op
        else:
            raise ValueError(f"bad {FAULT_ENV} item {item!r}")
    return f


class EventLog:
    def __init__(self, path: Path, rank: int) -> None:
        self.rank = rank
        from tpdoctor.safewrite import open_output

        # in a --logs directory: never through a planted link (gsafe42)
        self._f: TextIO = os.fdopen(open_output(path, 0o644, append=True), "a", encoding="utf-8", buffering=1)

    def emit(self, ev: str, **data: Any) -> None:
        data.update(ev=ev, rank=self.rank, t=time.time())
        self._f.write(json.dumps(data) + "\n")
        self._f.flush()


def _die_with_parent(parent_pid: int) -> None:
    """If the launcher is killed (even SIGKILL), take this rank down too (Linux PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="tpdoctor.verify.worker")
    ap.add_argument("--config", required=True)
    ap.add_argument("--rank", type=int, required=True)
    args = ap.parse_args(argv)
    cfg = json.loads(Path(args.config).read_text(encoding="utf-8"))
    rank = args.rank
    _die_with_parent(int(cfg["parent_pid"]))
    log = EventLog(Path(cfg["run_dir"]) / f"rank{rank}.events.jsonl", rank)
    step, op = 0, "init"
    try:
        faults = parse_faults(os.environ.get(FAULT_ENV, ""))
        log.emit("start", step=0, op="init")
        from tpdoctor.verify import workloads

        ctx, info = workloads.setup(cfg, rank)
        log.emit("done", step=0, op="init", **info)
        for step, (op, arg) in enumerate(cfg["steps"], start=1):
            faults.trigger(rank, op, step)
            if op == "tp_mlp":  # arg: the decode batch
                log.emit("start", step=step, op=op, batch=arg)
                res = workloads.tp_mlp(
                    ctx, arg, int(cfg["mlp_hidden"]), int(cfg["mlp_ffn"]), skip_allreduce=faults.tp_skip
                )
            elif op == VLLM_OP:  # arg: the message size in bytes
                log.emit("start", step=step, op=op, bytes=arg)
                res = workloads.vllm_custom_ar(ctx, arg)
            else:  # arg: the message size in bytes
                log.emit("start", step=step, op=op, bytes=arg)
                small = op == SMALL_OP
                coll = "all_reduce" if small else op
                res = workloads.run_collective(
                    ctx, coll, arg, corrupt=rank in faults.corrupt and coll == "all_reduce", latency=small
                )
            log.emit("result", step=step, op=op, **res)
        log.emit("finished", step=step)
        workloads.shutdown()
        return 0
    except BaseException as exc:  # report, then leave at once: a broken communicator may hang in cleanup
        log.emit("error", step=step, op=op, error=f"{type(exc).__name__}: {exc}"[:2000])
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


if __name__ == "__main__":
    sys.exit(main())
