"""Literal scans of a long log in forked worker processes, over shared anonymous memory.

The literal scan is most of explain's time on a long log (~1.1 s/GiB of ~1.9 s). Threads cannot
share it: python-hyperscan 0.9 holds one global lock around every scan (extension.c:
hs_global_lock_acquire in Database_scan), so two threads scan one after the other. Processes can.
The reader fills a ring of MAP_SHARED|MAP_ANONYMOUS buffers (mmap(-1, n): no file, no /dev/shm,
which a container may have at 64 MiB); a worker forked after the engine was built scans the block
in its slot and sends back only the hits (two uint32 per hit) through a pipe. The parent turns the
previous block's hits into lines meanwhile, in log order, so the result is the one a single
process gives, byte for byte (tests/test_explain_scanpool.py).

Anything unusual (fork refused, a worker dies or answers garbage) makes the parent scan that block
itself: the pool speeds explain up, it never changes what explain says.
"""

from __future__ import annotations

import mmap
import os
import signal
import struct
import sys
import threading
from array import array
from collections.abc import Callable, Sequence

from tpdoctor.explain.engine import Buffer
from tpdoctor.safewrite import write_all

# A block's hits sorted by end, the newlines before each hit, and all its newlines (scanner.prescan).
Prescanned = tuple[list[tuple[int, int]], list[int], int]
Prescan = Callable[[Buffer, int], Prescanned]

REQUEST = struct.Struct("<II")  # slot, end
REPLY = struct.Struct("<III")  # status, number of hits, newlines in the block
OK = 0
FAILED = 1
MAX_WORKERS = 4  # 8 measured 1.11x grep on a 16-CPU host but 104 MB, over the 100 MB budget (bench/README.md)


def worker_count() -> int:
    """Worker processes for a long log: one per CPU this process may use, at most MAX_WORKERS, none when the
    machine is already oversubscribed (1-minute load average >= its CPUs; the load is machine-wide, so it is
    compared with all CPUs, not with those this process is pinned to), and more than two only where that many
    CPUs are idle. On this project's 2-CPU machine (bench/README.md) two workers won at a load of 1.5-2 (1.40-1.84x
    grep against 2.02-2.23x) and lost at 3-4 (2.4-2.6x against 2.0-2.2x): when the cores are busy (the serving
    processes of the GPUs we were asked about), more processes only take turns. On an idle 16-CPU H100 host
    (bench/gpu/results/explain-workers-h100x1/) 1 GiB took 1.70x grep with two workers, 1.20x with four (88 MB).
    TPDOCTOR_SCAN_WORKERS=N sets the number (0: one process)."""
    env = os.environ.get("TPDOCTOR_SCAN_WORKERS", "")
    if env.isdigit():
        return min(int(env), 8)
    machine = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = machine
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    if usable < 2 or load >= machine:
        return 0
    workers = min(usable, MAX_WORKERS)
    while workers > 2 and machine - load < workers:
        workers -= 1
    return workers


def shared_buffers(count: int, size: int) -> list[mmap.mmap]:
    """`count` anonymous buffers a forked child sees as the parent writes them."""
    return [mmap.mmap(-1, size, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS) for _ in range(count)]


def _read_exact(fd: int, size: int) -> bytes:
    parts: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


class _Worker:
    def __init__(self, pid: int, requests: int, replies: int) -> None:
        self.pid = pid
        self.requests = requests  # parent writes (slot, end)
        self.replies = replies  # parent reads (status, n) + n pairs
        self.alive = True


class ScanPool:
    """Forked scanners over `buffers`; submit(slot, end) then result(slot) in the same order."""

    def __init__(
        self, scan: Prescan, buffers: Sequence[mmap.mmap], workers: int
    ) -> None:
        self._scan = scan
        self._buffers = buffers
        self._workers: list[_Worker] = []
        self._pending: dict[int, tuple[_Worker | None, int]] = {}  # slot -> (worker, end)
        self._next = 0
        for _ in range(workers):
            worker = self._fork()
            if worker is None:
                break
            self._workers.append(worker)

    def __len__(self) -> int:
        return len(self._workers)

    def _fork(self) -> _Worker | None:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for fd in (req_r, req_w, rep_r, rep_w):
                os.close(fd)
            return None
        if pid == 0:  # the child: never returns
            os.close(req_w)
            os.close(rep_r)
            for other in self._workers:  # the earlier workers' pipes are the parent's, not ours
                os.close(other.requests)
                os.close(other.replies)
            self._serve(req_r, rep_w)
        os.close(req_r)
        os.close(rep_w)
        return _Worker(pid, req_w, rep_r)

    def _serve(self, requests: int, replies: int) -> None:
        """The worker's loop: scan the slot it is told, answer with the hits; exit at EOF."""
        status = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
            while True:
                try:
                    slot, end = REQUEST.unpack(_read_exact(requests, REQUEST.size))
                except EOFError:
                    break
                try:
                    hits, before, total = self._scan(self._buffers[slot], end)
                    flat = array("I", [x for hit in hits for x in hit])
                    flat.extend(before)
                    write_all(replies, REPLY.pack(OK, len(hits), total) + flat.tobytes())
                except Exception:  # reported to the parent, which scans the block itself
                    write_all(replies, REPLY.pack(FAILED, 0, 0))
        except BaseException:  # a worker never unwinds into the parent's code
            status = 1
        finally:
            os._exit(status)

    def submit(self, slot: int, end: int) -> None:
        """Start the scan of buffers[slot][:end] in the next worker (or leave it to result())."""
        live = [w for w in self._workers if w.alive]
        worker = live[self._next % len(live)] if live else None
        self._next += 1
        if worker is not None:
            try:
                write_all(worker.requests, REQUEST.pack(slot, end))
            except OSError:
                worker.alive = False
                worker = None
        self._pending[slot] = (worker, end)

    def result(self, slot: int) -> Prescanned:
        """The block submitted in `slot`, prescanned (here if its worker failed)."""
        worker, end = self._pending.pop(slot)
        if worker is not None and worker.alive:
            try:
                status, n, total = REPLY.unpack(_read_exact(worker.replies, REPLY.size))
                flat = array("I")
                flat.frombytes(_read_exact(worker.replies, 12 * n))
                if status == OK:
                    pairs = flat[: 2 * n]
                    return list(zip(pairs[0::2], pairs[1::2], strict=True)), flat[2 * n :].tolist(), total
            except (OSError, EOFError):
                worker.alive = False
        return self._scan(self._buffers[slot], end)

    def close(self) -> None:
        for worker in self._workers:
            for fd in (worker.requests, worker.replies):
                try:
                    os.close(fd)
                except OSError:
                    pass
        for worker in self._workers:
            try:
                os.waitpid(worker.pid, 0)
            except ChildProcessError:
                pass
        self._workers = []


def can_fork() -> bool:
    """Forking is safe only from a process with no other thread (a thread holding a lock would
    leave it held in the child forever) and on a platform that has fork."""
    return hasattr(os, "fork") and threading.active_count() == 1 and sys.platform.startswith("linux")
