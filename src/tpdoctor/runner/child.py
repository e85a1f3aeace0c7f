"""Run the command as a child: pass its output through unchanged, keep a bounded copy of it,
forward signals to its process group, and report its exit status exactly.

- Output: the child's stdout and stderr are pipes read with select(); every chunk is written to
  our own stdout/stderr as soon as it arrives (no buffering on our side, so nothing waits for a
  newline), and whole lines go to a Capture: the first `head` and the last `tail` bytes, so a
  log of any size costs bounded memory. A closed stdout of ours (`| head`) closes the child's
  pipe, as if it were connected directly.
- Signals: the child gets its own process group; SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and
  SIGUSR2 sent to tpdoctor are forwarded to that group. When stdin is our controlling terminal
  and we are in the foreground, the child's group is made the foreground group (as a shell
  does), so it can read the terminal and gets Ctrl-C itself; the terminal is handed back after.
- Exit status: the child's exit code, or 128 + the signal that killed it. As PID 1 (a container
  entrypoint without an init) tpdoctor also reaps orphaned grandchildren.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
LINE_CAP = 64 * 1024  # explain's reader keeps the first 64 KiB of a line, so does the capture
CHUNK = 64 * 1024
DRAIN_S = 2.0  # after the child exits, how long to wait for pipes held open by grandchildren


class Capture:
    """Whole lines of the output, in blocks: about the first `head` and the last `tail` bytes."""

    def __init__(self, head: int = 4 << 20, tail: int = 4 << 20) -> None:
        self.head_limit, self.tail_limit = head, tail
        self.head: list[bytes] = []
        self.head_size = 0
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.omitted = 0  # bytes between head and tail that were dropped
        self.total = 0
        self._pending: dict[int, bytearray] = {}

    def feed(self, stream: int, data: bytes) -> None:
        """Add a chunk of one stream. Complete lines are stored as one block (C-speed slicing,
        no per-line Python work); the unterminated rest waits, cut to LINE_CAP bytes."""
        self.total += len(data)
        buf = self._pending.setdefault(stream, bytearray())  # the line so far, without "\n"
        last = data.rfind(b"\n")
        first = data.find(b"\n") if last >= 0 else len(data)
        room = LINE_CAP - len(buf)
        if room > 0:
            buf += data[: min(first, room)]
        if last < 0:
            return
        block = bytes(buf) + data[first : last + 1]
        buf.clear()
        buf += data[last + 1 : last + 1 + LINE_CAP]
        self._store(block)

    def _store(self, block: bytes) -> None:
        if not self.tail and self.head_size + len(block) <= self.head_limit:
            self.head.append(block)
            self.head_size += len(block)
            return
        self.tail.append(block)
        self.tail_size += len(block)
        while self.tail_size > self.tail_limit and len(self.tail) > 1:
            dropped = self.tail.popleft()
            self.tail_size -= len(dropped)
            self.omitted += len(dropped)

    def finish(self) -> None:
        """Store the unterminated last line of each stream."""
        for buf in self._pending.values():
            if buf:
                self._store(bytes(buf) + b"\n")
                buf.clear()

    def write_to(self, path: Path) -> None:
        with open(path, "wb") as fh:
            fh.writelines(self.head)
            if self.omitted:
                fh.write(f"[tpdoctor: {self.omitted} bytes of output omitted here]\n".encode())
            fh.writelines(self.tail)


@dataclass
class ChildResult:
    exit_code: int
    signal: int | None = None  # the signal that killed the child
    forwarded: list[int] = field(default_factory=list)  # signals tpdoctor passed on
    output_closed: bool = False  # our stdout/stderr went away while the child ran
    # the fds (of stdout_fd, stderr_fd) whose last byte from the child was no newline: a line left open there
    unterminated: set[int] = field(default_factory=set)
    last_fd: int | None = None  # the fd the child's last bytes went to: where stdout and stderr are one file, its end


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:  # a non-blocking terminal shared with someone else
            time.sleep(0.01)
            continue
        view = view[n:]


def _tty_foreground() -> int | None:
    """Our controlling terminal's fd (stdin) when we are its foreground group, else None."""
    try:
        if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
            return 0
    except OSError:
        pass
    return None


PR_SET_PDEATHSIG = 1  # include/uapi/linux/prctl.h


def _prctl() -> Any:
    """libc's prctl, looked up before fork (no import or dlopen between fork and exec)."""
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _child_setup(tty: int | None, parent: int, prctl: Any) -> None:
    """Runs in the child between fork and exec: parent-death signal, own process group, the
    terminal, signals.

    prctl(PR_SET_PDEATHSIG, SIGKILL): the kernel kills the child when tpdoctor dies, even by
    SIGKILL (no handler of ours runs then), so the workload never outlives its supervisor
    unseen. If tpdoctor died before the prctl, the child exits at once."""
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(137)
    os.setpgid(0, 0)
    if tty is not None:
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        with contextlib.suppress(OSError):
            os.tcsetpgrp(tty, os.getpgrp())
        signal.signal(signal.SIGTTOU, old)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)


@contextlib.contextmanager
def _blocked(signals: Sequence[int]) -> Iterator[None]:
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def run_child(
    argv: Sequence[str],
    env: Mapping[str, str],
    capture: Capture,
    *,
    stdout_fd: int = 1,
    stderr_fd: int = 2,
) -> ChildResult:
    """Run argv to the end; raises OSError (FileNotFoundError, PermissionError) if it cannot start."""
    tty = _tty_foreground()
    parent = os.getpid()
    prctl = _prctl()
    forwarded: list[int] = []
    pgid: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        forwarded.append(signum)
        if pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid[0], signum)

    previous: dict[int, Any] = {}
    old_ttou = signal.getsignal(signal.SIGTTOU)
    # Block the forwarded signals until the handlers are in place: a SIGTERM between fork and
    # the handlers would otherwise end tpdoctor and orphan the child. The child unblocks them.
    with _blocked(FORWARDED):
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: _child_setup(tty, parent, prctl),  # tpdoctor is single-threaded here
            # Keep descriptors the caller passed on purpose (`3>file`, socket activation): ours
            # are all close-on-exec (PEP 446), so only inherited, inheritable ones reach the child.
            close_fds=False,
        )
        pgid.append(proc.pid)
        for s in FORWARDED:
            previous[s] = signal.signal(s, forward)
        if tty is not None:
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # write to the terminal from the background
    try:
        status, output_closed, unterminated, last_fd = _pump(proc, capture, stdout_fd, stderr_fd)
    finally:
        for signum, h in previous.items():
            signal.signal(signum, h)
        if tty is not None:
            with contextlib.suppress(OSError):
                os.tcsetpgrp(tty, os.getpgrp())
            signal.signal(signal.SIGTTOU, old_ttou)
    capture.finish()
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code < 0:
        return ChildResult(128 - code, -code, forwarded, output_closed, unterminated, last_fd)
    return ChildResult(code, None, forwarded, output_closed, unterminated, last_fd)


def _reap(pid: int) -> int | None:
    """The child's wait status once it has ended; as PID 1 also reap any orphan."""
    if os.getpid() == 1:
        status_of_child: int | None = None
        while True:
            try:
                got, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return status_of_child
            if got == 0:
                return status_of_child
            if got == pid:
                status_of_child = status
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # pragma: no cover - reaped elsewhere
        return 0
    return status if got == pid else None


def _pump(
    proc: subprocess.Popen[bytes], capture: Capture, stdout_fd: int, stderr_fd: int
) -> tuple[int, bool, set[int], int | None]:
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    streams = {
        proc.stdout.fileno(): (1, stdout_fd, proc.stdout),
        proc.stderr.fileno(): (2, stderr_fd, proc.stderr),
    }
    for fd in streams:
        sel.register(fd, selectors.EVENT_READ)
    pidfd: int | None = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(proc.pid)  # type: ignore[attr-defined,unused-ignore]
        sel.register(pidfd, selectors.EVENT_READ)
    status: int | None = None
    deadline = 0.0
    output_closed = False
    unterminated: set[int] = set()
    last_fd: int | None = None
    try:
        while True:
            if status is None:
                status = _reap(proc.pid)
                if status is not None:
                    deadline = time.monotonic() + DRAIN_S
                    if pidfd is not None:
                        sel.unregister(pidfd)
                        os.close(pidfd)
                        pidfd = None
            open_streams = [fd for fd in streams if fd in sel.get_map()]
            if status is not None and (not open_streams or time.monotonic() >= deadline):
                break
            timeout = 0.5 if status is None else max(0.0, deadline - time.monotonic())
            for key, _ in sel.select(timeout):
                if key.fd == pidfd:
                    continue  # readable once the child has ended: _reap picks it up
                stream, dest, pipe = streams[key.fd]
                data = os.read(key.fd, CHUNK)
                if not data:
                    sel.unregister(key.fd)
                    pipe.close()
                    continue
                capture.feed(stream, data)
                try:
                    _write_all(dest, data)
                    if data.endswith(b"\n"):
                        unterminated.discard(dest)
                    else:
                        unterminated.add(dest)
                    last_fd = dest
                except (BrokenPipeError, OSError):
                    # our side went away: let the child see a closed pipe, as it would directly
                    output_closed = True
                    sel.unregister(key.fd)
                    pipe.close()
    finally:
        for fd, (_s, _d, pipe) in streams.items():
            if fd in sel.get_map():
                sel.unregister(fd)
            pipe.close()
        if pidfd is not None:
            os.close(pidfd)
        sel.close()
    if status is None:  # pragma: no cover - the loop only ends once the child has ended
        _, status = os.waitpid(proc.pid, 0)
    return status, output_closed, unterminated, last_fd
