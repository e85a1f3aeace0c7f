"""gperf50: the pooled scan of a named regular file reads its blocks from the file by position in the workers
(scanner._scan_file, reader.file_plan) instead of copying every byte into the ring in the parent. The blocks, their
lines, ANSI stripping and giant lines come out as iter_buffers gives them, so the report is the one a single process
gives; pipes, stdin, gzip and rewritten streams keep the ring; a file that shrinks gives a note, never a traceback."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tpdoctor.explain import scanner
from tpdoctor.explain.reader import FileShrank, direct_file, file_plan, iter_buffers, open_log, read_from

# Lines that match, ANSI-coloured lines (a code right at a block's start or end too), and a wrapped message.
PLANTED = (
    "node1:1234:1300 [0] include/shm.h:28 NCCL WARN Error: failed to extend /dev/shm/nccl-abc123 to 9637892 bytes",
    "\x1b[31mERROR 05-01 10:00:00 worker.py:12] torch.distributed.DistBackendError: NCCL error: unhandled system "
    "error\x1b[0m",
    "RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: could not open device "
    "directory",
    "\x1b[33mWARNING\x1b[0m torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB",
    "[rank0]: RuntimeError: CUDA error: an illegal memory access was encountered",
)
NOISE = (
    "node1:1234:1300 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM",
    "\x1b[32mINFO\x1b[0m 05-01 10:00:01 engine.py:12] step 42 took 0.01 s, error rate 0",
    "INFO 05-01 10:00:00 metrics.py:351] Avg prompt throughput: 0.0 tokens/s, Running: 1 reqs",
    "\x1b[1m\x1b[",  # an escape cut short at a line's end
    "",
)
CHUNK, MAX_LINE = 4096, 512  # the driver's block sizes: every line lands near some block boundary


def _log(path: Path, lines: int, seed: int, giant: bool = True, last_newline: bool = True) -> bytes:
    rng = random.Random(seed)
    out: list[bytes] = []
    for i in range(lines):
        r = rng.random()
        if r < 0.04:
            line = rng.choice(PLANTED)
        elif giant and r < 0.05:  # a line longer than MAX_LINE (cut there, the rest skipped), an error in its head
            line = "Error: giant " + "x" * rng.randrange(MAX_LINE, 3 * CHUNK)
        else:
            line = rng.choice(NOISE) + " " * rng.randrange(0, 90)  # lengths that put a newline anywhere
        out.append(f"{line} #{i}".encode())
    data = b"\n".join(out) + (b"\n" if last_newline else b"")
    path.write_bytes(data)
    return data


def _plan_blocks(path: Path, chunk: int, max_line: int) -> list[bytes]:
    data = path.read_bytes()
    fd = os.open(path, os.O_RDONLY)
    try:
        return [
            data[o : o + n] + (b"\n" if nl else b"") for o, n, nl in file_plan(fd, len(data), chunk, max_line)
        ]
    finally:
        os.close(fd)


def _ring_blocks(data: bytes, chunk: int, max_line: int) -> list[bytes]:
    return [bytes(buf[:end]) for buf, end in iter_buffers(io.BytesIO(data), chunk, max_line)]


@pytest.mark.parametrize("seed", range(6))
def test_the_plan_gives_iter_buffers_blocks(seed: int, tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    data = _log(path, 600, seed, last_newline=seed % 2 == 0)
    for chunk, max_line in ((CHUNK, MAX_LINE), (257, 64), (64, 16), (CHUNK, 8)):
        assert _plan_blocks(path, chunk, max_line) == _ring_blocks(data, chunk, max_line), (chunk, max_line)


def test_a_newline_at_every_position_around_a_chunk_end(tmp_path: Path) -> None:
    """A line that ends k bytes before or after each chunk end, for every k near it; and a line longer than
    max_line that starts at each of those places (its head cut, the rest skipped into the next chunk)."""
    chunk, max_line = 256, 64
    path = tmp_path / "b.log"
    for k in range(-70, 71):
        for tail in (b"", b"x" * 100, b"y" * 300):
            head = b"a" * (chunk + k - 1) + b"\n" if chunk + k > 0 else b""
            data = head + tail + b"\nend\n" + b"z" * 5
            path.write_bytes(data)
            assert _plan_blocks(path, chunk, max_line) == _ring_blocks(data, chunk, max_line), (k, len(tail))


def test_the_plan_of_an_empty_and_a_one_line_file(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    for data in (b"", b"\n", b"one", b"one\n", b"x" * 5000):
        path.write_bytes(data)
        assert _plan_blocks(path, 256, 64) == _ring_blocks(data, 256, 64), data[:10]


def test_the_plan_stops_where_the_file_shrank(tmp_path: Path) -> None:
    path = tmp_path / "d.log"
    data = _log(path, 400, 9, giant=False)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.truncate(path, len(data) // 2)
        plan = list(file_plan(fd, len(data), 1024, 256))
        *blocks, last = plan
        assert last[1] == -1 and last[0] <= len(data) // 2  # read on from there as a stream
        assert all(o + n <= len(data) // 2 for o, n, _nl in blocks)
        with pytest.raises(FileShrank):
            from tpdoctor.explain.reader import _pread

            _pread(fd, len(data) // 2 - 10, 20)
        notes: list[str] = []
        with read_from(fd, last[0], len(data), "d.log", notes) as rest:
            assert rest.read() == data[last[0] : len(data) // 2]
        assert notes and "shrank while it was read" in notes[0] and str(len(data)) in notes[0]
    finally:
        os.close(fd)


def test_only_a_named_regular_file_is_read_by_position(tmp_path: Path) -> None:
    path = tmp_path / "e.log"
    _log(path, 50, 1)
    with open_log(str(path)) as stream:
        got = direct_file(stream)
        assert got is not None and got[1] == path.stat().st_size
    gz = tmp_path / "e.log.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with open_log(str(gz)) as stream:
        assert direct_file(stream) is None
    utf16 = tmp_path / "u.log"
    utf16.write_bytes(path.read_text().encode("utf-16"))
    with open_log(str(utf16)) as stream:
        assert direct_file(stream) is None
    assert direct_file(io.BytesIO(b"x\n")) is None  # type: ignore[arg-type]
    with path.open("rb") as fh:
        assert direct_file(fh) is None  # not opened by open_log: its size was never taken


# A fresh interpreter (the pool never forks from a process with other threads), with CHUNK-sized blocks.
_DRIVER = """
import functools, json, os, sys
from tpdoctor.explain import explain, reader, scanner
from tpdoctor.render.json_format import render_json
cfg = json.loads(sys.argv[1])
scanner.CHUNK, scanner.MAX_LINE, scanner.POOL_FROM = cfg["chunk"], cfg["max_line"], 3 * cfg["chunk"]
scanner.iter_buffers = functools.partial(reader.iter_buffers, chunk=cfg["chunk"], max_line=cfg["max_line"])
used = []
for name in ("_scan_file", "_scan_ring"):
    def spy(self, *a, _real=getattr(scanner.Scanner, name), _name=name):
        used.append(_name)
        return _real(self, *a)
    setattr(scanner.Scanner, name, spy)
real_plan = scanner.file_plan
def plan(fd, size, *a):
    for n, item in enumerate(real_plan(fd, size, *a)):
        if n == cfg.get("truncate_after", -1):  # truncate_to < 0: that far before this block, in flight in a worker
            to = cfg["truncate_to"]
            os.truncate(cfg["path"], to if to >= 0 else item[0] + to)
        yield item
scanner.file_plan = plan
real_result = scanner.scanpool.ScanPool.result
def result(self, slot):
    try:
        return real_result(self, slot)
    except reader.FileShrank:
        used.append("shrank in flight")
        raise
scanner.scanpool.ScanPool.result = result
real_scan = scanner.Scanner.scan_stream
def scan_stream(self, stream, source):
    if cfg.get("truncate_after") == "open":
        os.truncate(cfg["path"], cfg["truncate_to"])
    return real_scan(self, stream, source)
scanner.Scanner.scan_stream = scan_stream
out = {}
for workers in cfg["workers"]:
    os.environ["TPDOCTOR_SCAN_WORKERS"] = workers
    if cfg.get("restore"):
        with open(cfg["restore"], "rb") as f, open(cfg["path"], "wb") as g:
            g.write(f.read())
    if cfg["input"] == "-":
        sys.stdin = open(cfg["path"])
    report = json.loads(render_json(explain([cfg["input"]])))
    out[workers] = {"report": report, "used": list(used)}
    used.clear()
print(json.dumps(out))
"""


def _run(cfg: dict[str, object]) -> dict[str, dict[str, object]]:
    cfg = {"chunk": CHUNK, "max_line": MAX_LINE, "workers": ["0", "2"], **cfg}
    env = dict(os.environ, PYTHONPATH=str(Path(scanner.__file__).resolve().parents[2]))
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(cfg)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _lines(report: object) -> set[tuple[str, int]]:
    assert isinstance(report, dict)
    return {(f["cause"], ev["line"]) for f in report["findings"] for ev in f["evidence"]}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_file_read_by_the_workers_gives_the_one_process_report(seed: int, tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    _log(path, 9000, seed, last_newline=seed != 1)
    runs = _run({"path": str(path), "input": str(path)})
    assert runs["0"]["used"] == []
    assert runs["2"]["used"] == ["_scan_file"], "the file was not read by position"
    assert runs["2"]["report"] == runs["0"]["report"]
    assert _lines(runs["0"]["report"]), "nothing planted was found"


def test_the_blocks_stay_those_of_the_ring_with_default_sizes(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    _log(path, 130_000, 5)  # ~ 4 MiB blocks: more than POOL_FROM
    assert path.stat().st_size >= scanner.POOL_FROM
    cfg = {"chunk": scanner.CHUNK, "max_line": scanner.MAX_LINE, "path": str(path), "input": str(path)}
    runs = _run(cfg)
    assert runs["2"]["used"] == ["_scan_file"]
    assert runs["2"]["report"] == runs["0"]["report"]


@pytest.mark.parametrize("kind", ["stdin", "gzip", "utf16"])
def test_stdin_gzip_and_rewritten_streams_keep_the_ring(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    data = _log(path, 9000, 4)
    if kind == "stdin":  # stdin redirected from a regular file: pooled, read into the ring
        cfg = {"path": str(path), "input": "-"}
    elif kind == "gzip":  # pooled by its compressed size (random lines: it hardly compresses)
        gz = tmp_path / "long.log.gz"
        gz.write_bytes(gzip.compress(data, compresslevel=1))
        assert gz.stat().st_size >= 3 * CHUNK
        cfg = {"path": str(gz), "input": str(gz)}
    else:
        u = tmp_path / "u.log"
        u.write_bytes(data.decode().encode("utf-16"))
        cfg = {"path": str(u), "input": str(u)}
    runs = _run(cfg)
    assert "_scan_file" not in runs["2"]["used"]
    if kind != "utf16":  # a transcoded stream's size is unknown: one process
        assert runs["2"]["used"] == ["_scan_ring"]
    assert runs["2"]["report"] == runs["0"]["report"]


def test_a_fifo_is_read_as_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    _log(path, 9000, 6)
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    runs = {}
    for workers in ("0", "2"):
        writer = subprocess.Popen(["sh", "-c", f"cat '{path}' > '{fifo}'"])
        try:
            runs[workers] = _run({"path": str(path), "input": str(fifo), "workers": [workers]})[workers]
        finally:
            writer.wait(timeout=60)
    assert runs["2"]["used"] == []
    assert runs["2"]["report"] == runs["0"]["report"]


@pytest.mark.parametrize(("when", "behind"), [("open", 0), (0, 0), (2, 0), (5, 0), (40, 3000)])
def test_a_file_that_shrinks_while_read_gives_a_note(when: object, behind: int, tmp_path: Path) -> None:
    """Truncated between open_log's stat and the first read, or after the plan gave `when` blocks: at half its
    size (the plan meets the end first), or `behind` bytes before the block the plan just gave (a worker's read of
    a block in flight meets it): what it still held is explained, with a note; never a traceback."""
    path = tmp_path / "long.log"
    data = _log(path, 9000, 7, giant=False)
    half = len(data) // 2
    whole = tmp_path / "whole.log"
    whole.write_bytes(data)
    cfg = {
        "path": str(path),
        "input": str(path),
        "truncate_after": when,
        "truncate_to": -behind if behind else half,
        "restore": str(whole),
    }
    runs = _run(cfg)
    for workers in ("0", "2"):
        report = runs[workers]["report"]
        assert isinstance(report, dict)
        notes = [n for n in report["notes"] if "shrank while it was read" in n]
        if workers == "2" or when == "open":  # (one process reads the file whole before the plan would cut it)
            assert len(notes) == 1, report["notes"]
            assert str(len(data)) in notes[0]
            assert report["facts"]["lines"] <= data[:half].count(b"\n") + 1 or behind
    assert runs["2"]["used"] == ["_scan_file"] + (["shrank in flight"] if behind else [])
    planted_before = {
        (c, line) for c, line in _lines(runs["0"]["report"]) if line < data[: half // 2].count(b"\n")
    }
    if when == "open":
        assert planted_before <= _lines(runs["2"]["report"])
