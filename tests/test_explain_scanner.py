"""Input of any shape: files, stdin, gzip, CRLF, ANSI, rank prefixes, giant lines, garbage."""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_cli
from tpdoctor.errors import InputError
from tpdoctor.explain import explain
from tpdoctor.explain.engine import AhoCorasickEngine, HyperscanEngine, covers
from tpdoctor.explain.reader import iter_buffers, open_log
from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base

KB = knowledge_base()
ARTICLE = (
    "RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: "
    "could not open device directory"
)
NOISE = "host-1:1234:1290 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read"


def _blocks(stream: io.BytesIO, chunk: int, max_line: int) -> list[bytes]:
    """iter_buffers' blocks, copied (it reuses one buffer)."""
    return [bytes(buf[:end]) for buf, end in iter_buffers(stream, chunk, max_line)]


def scan_bytes(data: bytes, engine: str = "auto") -> Scanner:
    scanner = Scanner(KB, engine=engine)
    scanner.scan_stream(io.BytesIO(data), "t.log")
    return scanner


def first_line(data: bytes, sig: str = "oneccl.opendir-failed", engine: str = "auto") -> int | None:
    rec = scan_bytes(data, engine).result.signatures.get(sig)
    return rec.first_line if rec else None


def test_line_numbers_count_every_line_before_the_hit() -> None:
    n = random.Random(7).randint(1000, 5000)
    data = (NOISE + "\n") * n + ARTICLE + "\n" + (NOISE + "\n") * 10
    assert first_line(data.encode()) == n + 1
    assert scan_bytes(data.encode()).result.lines == n + 11


def test_hits_across_many_blocks_keep_their_line_numbers() -> None:
    lines = [f"{NOISE} {i}" for i in range(200_000)]
    where = [3, 77_777, 199_999]
    for w in where:
        lines[w] = f"[rank{w % 4}]: {ARTICLE}"
    data = ("\n".join(lines) + "\n").encode()
    scanner = Scanner(KB)
    scanner.scan_stream(io.BytesIO(data), "t.log")
    rec = scanner.result.signatures["oneccl.opendir-failed"]
    assert rec.count == 3
    assert [e.line for e in rec.evidence] == [w + 1 for w in where]


@pytest.mark.parametrize(
    "line",
    [
        ARTICLE + "\r",
        "\x1b[31m" + ARTICLE.replace("opendir failed", "opendir \x1b[1mfailed\x1b[0m") + "\x1b[0m",
        "(RayWorkerWrapper pid=1978, ip=10.41.0.8) " + ARTICLE,
        "[rank1]: " + ARTICLE,
        "[1,2]<stdout>: " + ARTICLE,
    ],
    ids=["crlf", "ansi-inside-literal", "ray-prefix", "rank-prefix", "mpirun-prefix"],
)
def test_decorated_lines_are_recognised(line: str) -> None:
    assert first_line(f"a\r\nb\r\n{line}\r\n".encode()) == 3


def test_anchored_pattern_matches_after_a_rank_prefix() -> None:
    data = b"(Worker pid=3) crw-rw----  1 nobody nogroup 226, 128 Apr 26 18:32 renderD128\n"
    assert first_line(data, "ls.device-nogroup") == 1


def test_gzip_is_detected_by_magic_bytes(tmp_path) -> None:
    path = tmp_path / "log.txt"  # no .gz suffix on purpose
    path.write_bytes(gzip.compress(((NOISE + "\n") * 100 + ARTICLE + "\n").encode()))
    report = explain([str(path)])
    assert report.findings[0].cause == "oneccl.bypath-missing"
    assert report.findings[0].evidence[0].line == 101


def test_truncated_gzip_explains_what_was_readable(tmp_path) -> None:
    blob = gzip.compress((ARTICLE + "\n" + (NOISE + "\n") * 50_000).encode())
    path = tmp_path / "cut.gz"
    path.write_bytes(blob[: len(blob) // 2])
    report = explain([str(path)])
    assert report.findings and report.findings[0].cause == "oneccl.bypath-missing"
    assert any("damaged" in n for n in report.notes)


def test_several_files_keep_their_own_names_and_line_numbers(tmp_path) -> None:
    a = tmp_path / "rank0.log"
    b = tmp_path / "rank1.log"
    a.write_text("|CCL_WARN| pidfd is not supported, fallbacks to drmfd exchange mode\n")
    b.write_text("x\ny\n" + ARTICLE + "\n")
    report = explain([str(a), str(b)])
    assert [f.cause for f in report.findings][:2] == ["oneccl.bypath-missing", "oneccl.pidfd-unsupported"]
    ev = report.findings[0].evidence[0]
    assert (ev.source, ev.line) == (str(b), 3)
    assert report.facts["lines"] == 4


def test_giant_line_is_cut_but_later_lines_still_count() -> None:
    giant = b"x" * (3 << 20)
    data = giant + b"\n" + ARTICLE.encode() + b" " + giant + b"\n" + ARTICLE.encode() + b"\n"
    scanner = Scanner(KB)
    scanner.scan_stream(io.BytesIO(data), "t.log")
    rec = scanner.result.signatures["oneccl.opendir-failed"]
    assert [e.line for e in rec.evidence] == [2, 3]
    assert all(len(e.text) < 1000 for e in rec.evidence)


def test_blocks_hold_whole_lines_and_cap_long_ones() -> None:
    data = b"a\n" + b"b" * 100 + b"\nc"
    blocks = _blocks(io.BytesIO(data), chunk=7, max_line=10)
    assert all(b.endswith(b"\n") for b in blocks)
    assert b"".join(blocks) == b"a\n" + b"b" * 10 + b"\nc\n"


def test_missing_file_and_directory_are_input_errors(tmp_path) -> None:
    with pytest.raises(InputError, match="no such file"), open_log(str(tmp_path / "nope.log")):
        pass
    with pytest.raises(InputError, match="directory"), open_log(str(tmp_path)):
        pass


def test_fallback_engine_finds_the_same_hits() -> None:
    lines = [NOISE] * 3000
    lines[5] = ARTICLE
    lines[2500] = "NCCL WARN Error while creating shared memory segment /dev/shm/nccl-x (size 9637888)"
    data = ("\n".join(lines) + "\n").encode()
    fast = scan_bytes(data, "auto").result
    slow = scan_bytes(data, "pyahocorasick").result
    assert slow.engine == "pyahocorasick"
    assert {k: v.first_line for k, v in fast.signatures.items()} == {
        k: v.first_line for k, v in slow.signatures.items()
    }
    assert fast.facts.values == slow.facts.values


def test_single_match_literals_report_once_per_block() -> None:
    lits = [b"via SHM", b"oops"]
    block = b"via SHM\n" * 5 + b"oops oops\n"
    for engine in (AhoCorasickEngine(lits, [True, False]), HyperscanEngine(lits, [True, False])):
        hits = engine.scan(block)
        assert sum(1 for lit, _ in hits if lit == 0) == 1
        assert sum(1 for lit, _ in hits if lit == 1) == 2


def test_literals_covered_by_a_prefix_or_suffix_key_are_confirmed_in_place() -> None:
    lits = [b"open libibverbs", b"open libibverbs.so failed", b"Cuda failure", b"NCCL WARN Cuda failure", b"x open lib"]
    single = [False, False, False, False, False]
    cov = covers(lits, single)
    # the long ones are left to their keys: a prefix key (its end moves by 10 bytes) and a suffix key
    assert cov == {0: [(1, 10)], 2: [(3, 0)]}
    block = (
        b"open libibverbs.so failed\n"  # key and covered literal
        b"open libibverbs.so.1 missing\n"  # key only: the covered one must not be reported
        b"misc NCCL WARN Cuda failure 'x'\n"  # suffix-covered
        b"Cuda failure alone\n"
        b"cut open libibverbs"  # key at the very end, the covered literal would run past it
    )
    hits = sorted(HyperscanEngine(lits, single).scan(block))
    assert hits == sorted(AhoCorasickEngine(lits, single).scan(block))
    assert (1, block.index(b"failed") + 6) in hits and sum(1 for lit, _ in hits if lit == 1) == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"abcdefghijkl", b"abcdefghijklmn", b"zzabcdefghijkl", b"\n", b"x", b"abc"]), max_size=60))
def test_covered_literals_give_the_same_hits_as_the_full_set(parts: list[bytes]) -> None:
    lits = [b"abcdefghijkl", b"abcdefghijklmn", b"zzabcdefghijkl", b"qabcdefghijklmnq"]
    single = [False] * len(lits)
    block = b"".join(parts)
    assert sorted(HyperscanEngine(lits, single).scan(block)) == sorted(AhoCorasickEngine(lits, single).scan(block))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash(data: bytes) -> None:
    scanner = scan_bytes(data)
    assert scanner.result.lines == data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.binary(max_size=64))
def test_truncated_and_corrupted_logs_never_crash(cut: int, junk: bytes) -> None:
    text = (
        NOISE + "\n" + ARTICLE + "\n|CCL_WARN| pidfd is not supported, fallbacks to drmfd exchange mode\n"
    ).encode()
    data = text[:cut] + junk
    plain = scan_bytes(data).result
    # every line is counted, and the article's line is found whenever the cut kept it whole
    assert plain.lines == data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    article_end = text.index(ARTICLE.encode()) + len(ARTICLE) + 1
    if cut >= article_end:
        assert "oneccl.opendir-failed" in plain.signatures
    # a gzip cut short is read as far as it goes (what decompressed, else its raw bytes), never raises
    scanner = Scanner(KB)
    cut_gz = gzip.compress(data)[: max(cut // 4, 2)]
    scanner.scan_stream(io.BytesIO(cut_gz), "t.gz")
    assert scanner.result.bytes <= max(len(data), len(cut_gz)) + 1  # + the closing newline


def test_single_literals_after_the_prefix_are_still_found_once_per_block() -> None:
    from tpdoctor.explain import engine as engine_mod

    lits = [b"via P2P/", b"via NET/", b"oops"]
    filler = b"x via P2P/CUMEM\n" * ((3 * engine_mod.PREFIX) // 16)
    block = filler + b"a via NET/Socket\n" + filler + b"b via NET/IB\noops\n"
    eng = HyperscanEngine(lits, [True, True, False])
    for _ in range(2):  # the second block reuses the cached subset database
        hits = eng.scan(block)
        assert [lit for lit, _ in hits if lit != 2] == [0, 1]
        net = next(e for lit, e in hits if lit == 1)
        assert block[net - 8 : net] == b"via NET/" and net < len(filler) + 20
    # with no room for more databases the full one is used and repeats are dropped
    eng2 = HyperscanEngine(lits, [True, True, False])
    eng2._dbs = {frozenset(range(i)): eng2._db for i in range(engine_mod.MAX_DATABASES)}
    eng2._dbs[eng2._singles] = eng2._db
    assert sorted(lit for lit, _ in eng2.scan(block)) == [0, 1, 2]


@pytest.mark.parametrize("vector_min", [1, 1 << 40])
def test_numpy_and_bytes_count_give_the_same_line_numbers(monkeypatch, vector_min: int) -> None:
    from tpdoctor.explain import scanner as scanner_mod

    monkeypatch.setattr(scanner_mod, "VECTOR_MIN", vector_min)
    lines = [f"{NOISE} {i}" for i in range(30_000)]
    for w in (0, 1, 12_345, 29_999):
        lines[w] = ARTICLE
    data = ("\n".join(lines) + "\n").encode()
    res = scan_bytes(data).result
    assert [e.line for e in res.signatures["oneccl.opendir-failed"].evidence] == [1, 2, 12_346]
    assert res.signatures["oneccl.opendir-failed"].count == 4
    assert res.lines == 30_000


def test_a_file_under_the_numpy_size_counts_with_bytes_and_numbers_lines_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regular file under VECTOR_FILE_MIN never asks for numpy (its import costs more than bytes.count over the
    file); a stream of unknown size does, for blocks of VECTOR_MIN or more. The line numbers are the same."""
    from tpdoctor.explain import scanner as scanner_mod

    asked: list[bool] = []
    real = scanner_mod._newline_counter

    def recording(block: object, end: int, vector: bool = True) -> object:
        asked.append(vector)
        return real(block, end, vector)  # type: ignore[arg-type]

    monkeypatch.setattr(scanner_mod, "_newline_counter", recording)
    lines = [f"{NOISE} {i}" for i in range(30_000)]
    for w in (0, 1, 12_345, 29_999):
        lines[w] = ARTICLE
    data = ("\n".join(lines) + "\n").encode()
    assert scanner_mod.VECTOR_MIN <= len(data) < scanner_mod.VECTOR_FILE_MIN
    log = tmp_path / "ranks.log"
    log.write_bytes(data)
    from_file = Scanner(knowledge_base())
    with open(log, "rb") as f:
        from_file.scan_stream(f, "ranks.log")
    assert asked and not any(asked)
    asked.clear()
    from_pipe = scan_bytes(data)
    assert asked and all(asked)
    for res in (from_file.result, from_pipe.result):
        assert [e.line for e in res.signatures["oneccl.opendir-failed"].evidence] == [1, 2, 12_346]
        assert res.signatures["oneccl.opendir-failed"].count == 4 and res.lines == 30_000


def test_buffers_equal_the_simple_reader_on_random_input() -> None:
    rng = random.Random(3)

    def reference(data: bytes, chunk: int, max_line: int) -> bytes:
        out, carry, skipping = [], b"", False
        for i in range(0, len(data), chunk):
            d = data[i : i + chunk]
            if skipping:
                nl = d.find(b"\n")
                if nl < 0:
                    continue
                d, skipping = d[nl + 1 :], False
            cut = d.rfind(b"\n")
            if cut < 0:
                carry += d
            else:
                out.append(carry + d[: cut + 1])
                carry = d[cut + 1 :]
            if len(carry) > max_line:
                out.append(carry[:max_line] + b"\n")
                carry, skipping = b"", True
        if carry:
            out.append(carry + b"\n")
        return b"".join(out)

    for _ in range(2000):
        data = b"".join(
            bytes(rng.choice(b"ab\n") for _ in range(rng.choice([0, 1, 3, 10, 40])))
            for _ in range(rng.randint(0, 30))
        )
        chunk, max_line = rng.randint(1, 20), rng.randint(1, 15)
        blocks = _blocks(io.BytesIO(data), chunk=chunk, max_line=max_line)
        assert all(b.endswith(b"\n") for b in blocks)
        assert b"".join(blocks) == reference(data, chunk, max_line)


def test_binary_input_shows_no_garbage_lines(tmp_path: Path) -> None:
    """A binary file that happens to contain 'error' bytes: nothing unreadable is shown."""
    blob = tmp_path / "core.bin"
    blob.write_bytes(
        b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4 + b"\x00\x01write error\x02\x03" * 50 + b"\n"
    )
    r = run_cli("explain", str(blob), "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["causes"] == [] and out["facts"].get("error_lines", []) == []


def _reference_error_lines(lines: list[str], kept: int = 10) -> list[tuple[int, str]]:
    """The documented rule, written plainly: score every error line (exception 3, ERROR/WARN 2,
    other 1), keep each distinct text at its latest line, then the `kept` best by (score, line)."""
    from tpdoctor.explain.scanner import _EXCEPTION_LINE, _STRONG

    latest: dict[str, tuple[int, int]] = {}
    for no, text in enumerate(lines, 1):
        score = 3 if _EXCEPTION_LINE.match(text) else 2 if _STRONG.search(text) else 1
        latest[text.strip()] = (score, no)  # shown without surrounding blanks
    best = sorted(((s, no, t) for t, (s, no) in latest.items()), reverse=True)[:kept]
    return sorted((no, t) for _s, no, t in best)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_error_lines_skipped_without_decoding_are_exactly_the_ones_that_cannot_win(seed: int) -> None:
    """Error-only lines are scored latest-first and most are skipped undecoded once the heap is full;
    the kept lines must equal the plain rule over every line, across blocks (~9 MiB, 3 blocks)."""
    rng = random.Random(seed)
    words = [
        "NCCL WARN Failed to open libibverbs.so[.1] pid {n}",
        "WARNING error_on_missing_weights is deprecated",
        "ERROR worker {n} stopped",
        "RuntimeError: step {n} failed",
        "KeyError: 'x{n}'",
        "retry failed, again",
        "padding line without any of the words {n}",
    ]
    lines = []
    for _ in range(150_000):
        w = rng.choice(words)
        lines.append(w.format(n=rng.randrange(40)) + " " + "x" * rng.randrange(40))
    data = ("\n".join(lines) + "\n").encode()
    got = [(line, text) for _src, line, text in scan_bytes(data).result.top_error_lines()]
    ref = [(no, t) for no, t in _reference_error_lines(lines) if "padding" not in t]
    assert got == ref


def test_a_short_line_before_a_token_that_did_not_fit_is_a_wrap() -> None:
    # A soft wrap moves a long path to the next line whole and leaves the line before it short.
    from tpdoctor.explain.scanner import _cut_by_wrap

    path = b"/opt/rocm-6.4.0/lib/rocblas/library/TensileLibrary.dat: No such file or"
    assert _cut_by_wrap(b"rocBLAS error: Cannot read", path)
    assert not _cut_by_wrap(b"rocBLAS error: Cannot read", b"done")  # "done" would have fitted
    assert not _cut_by_wrap(b"", path)
    assert _cut_by_wrap(b"x" * 60, b"done")  # a full line is cut whatever follows


def test_two_counted_records_are_not_a_line_and_its_wrap() -> None:
    """A loop's lines ("step 41 CUDA failed ...", "step 42 ...") start with the same word and a number: the second is
    not the first one's wrap, so no signature is searched over them joined (1 MiB of such lines: ~10 s, now ~2 s)."""
    from tpdoctor.explain.scanner import _cut_by_wrap

    step = b"step 3188 CUDA failed with unknown CUDA error in module 785779"
    assert not _cut_by_wrap(step, b"step 3189 CUDA failed with unknown CUDA error in module 12")
    assert not _cut_by_wrap(b"Epoch 2: loss went up after the optimizer step and the run", b"Epoch 3: loss nan")
    assert not _cut_by_wrap(b"iter=40 the collective timed out while waiting for rank 3 to", b"iter=41 retry")
    # a wrap whose next piece starts another way, or a counted line followed by prose, is still a wrap
    assert _cut_by_wrap(step, b"while loading the fused kernel")
    assert _cut_by_wrap(b"rank 0 NCCL WARN Call to ibv_modify_qp failed with error No such", b"device")
    assert _cut_by_wrap(b"step 3188 " + b"x" * 50, b"stepping 4 more")


def test_counted_records_give_the_same_report() -> None:
    lines = [f"step {i} CUDA failed with unknown CUDA error in module {i * 7919 % 100003}" for i in range(2000)]
    data = ("\n".join(lines) + "\n").encode()
    got = [(line, text) for _src, line, text in scan_bytes(data).result.top_error_lines()]
    assert got and all(text.startswith("step ") for _line, text in got)
    assert got[-1][0] == 2000  # the latest line, as read alone


def test_no_wrap_fragment_hits_the_lines_a_run_repeats() -> None:
    # A 12-byte wrap fragment that also begins a line NCCL, torch or vLLM repeats (NCCL WARN "Failed to open
    # libibverbs.so[.1]" once per rank and communicator, "Could not find: libnccl-net.so") costs a Python
    # check per occurrence: 16 k per GiB of the benchmark's log each time it happened. The benchmark's own
    # noise lines (bench/gen_log.py) are the guard: no literal that is only a fragment may hit one of them.
    import importlib.util
    import random

    from tpdoctor.explain.scanner import Scanner as _Scanner
    from tpdoctor.explain.signatures import knowledge_base as _kb

    spec = importlib.util.spec_from_file_location("gen_log", Path(__file__).parent.parent / "bench" / "gen_log.py")
    assert spec and spec.loader
    gen_log = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_log)
    noise = b"".join(gen_log.noise_pool(random.Random(1), 20000, 0.0))
    scanner = _Scanner(_kb())
    engine = scanner.engine
    hot = sorted({engine._literals[lit] for lit, _ in engine.scan(noise) if scanner._frag_only[lit]})
    assert hot == [], f"wrap fragments on the benchmark's repeated lines: {hot}"


def _scan_fields(data: bytes) -> dict[str, object]:
    res = scan_bytes(data).result
    return {
        "signatures": {k: (r.first_line, r.count, r.last, r.evidence) for k, r in res.signatures.items()},
        "facts": (res.facts.first, res.facts.values, res.facts.last),
        "codes": res.codes,
        "code_lines": res.code_lines,
        "terminal": res.terminal,
        "errors": res.top_error_lines(),
        "deaths": res.deaths,
    }


def test_a_repeated_line_is_matched_once_and_recorded_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # scanner._seen_lines reuses what matched on a line every rank repeats; what it records (counts, the
    # latest line, evidence with each rank's own prefix, facts, codes, the terminal line) must be exactly what
    # matching every line afresh records, also where a wrap or a `near` context makes the same text differ.
    from tpdoctor.explain import scanner as scanner_mod

    dev = Path(__file__).parent / "data" / "explain-real" / "dev"
    logs = sorted(dev.glob("*.log"))
    assert len(logs) > 500
    rng = random.Random(5)
    parts = []
    for p in rng.sample(logs, 300):
        body = p.read_bytes()[:20000]
        lines = body.split(b"\n")
        rng.shuffle(lines)
        parts.append(body)
        parts.append(b"\n".join(lines))  # every line again, among other neighbours: same text, other context
    parts.append(b"node1:1:2 [0] NCCL WARN Failed to open libibverbs.so[.1]\n" * 3)
    # the same text alone (no match), then continued by a wrap (a match only through the join)
    cut = b"RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: could not"
    parts.append(cut + b"\n\n" + cut + b"\nopen device directory\n")
    data = b"\n".join(parts)
    with_memo = _scan_fields(data)
    monkeypatch.setattr(scanner_mod, "SEEN_LINES_KEPT", 0)
    without = _scan_fields(data)
    assert with_memo["signatures"], "the sample matched nothing: the comparison would prove nothing"
    assert with_memo == without
    rec = scan_bytes(b"a:1:2 [0] NCCL WARN Failed to open libibverbs.so[.1]\n" * 4).result.signatures
    assert rec["nccl.libibverbs-open-failed"].count == 4
    assert rec["nccl.libibverbs-open-failed"].last[1] == 4


def test_repeated_lines_read_once_give_what_reading_each_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    # gspeed36: a hit line's decoded text is reused by its bytes (scanner._texts), and an error-line candidate
    # already read later in its block is skipped (_error_candidates); both must record exactly what reading every
    # line gives: the latest exception line, the error lines (ties keep the later line), counts and evidence.
    from tpdoctor.explain import scanner as scanner_mod

    def every_candidate(self: Scanner, block: bytes, pending: list[tuple[int, int, int]], source: str) -> None:
        heap = self.result.error_lines
        for start, line_no, order in reversed(pending):  # the loop before gspeed36
            stop = block.find(b"\n", start)
            raw = block[start : min(stop, start + scanner_mod.MAX_LINE)]
            if len(heap) >= scanner_mod.ERROR_LINES_KEPT:
                best = (
                    3
                    if scanner_mod._MAYBE_EXCEPTION.search(raw)
                    else 2
                    if scanner_mod._MAYBE_STRONG.search(raw)
                    else 1
                )
                if (best, line_no, order) < heap[0][:3]:
                    continue
            original = scanner_mod.decode_line(raw)
            text = scanner_mod.strip_prefixes(original)
            self._exception_seen(text, original, line_no, source, order)
            self._salient(text, original, line_no, source, order)

    rng = random.Random(11)
    dev = Path(__file__).parent / "data" / "explain-real" / "dev"
    lines: list[bytes] = []
    for p in rng.sample(sorted(dev.glob("*.log")), 120):
        lines.extend(p.read_bytes()[:8000].split(b"\n"))
    repeated = [
        b"WARNING 03-01 12:00:00 [utils.py:12] error_on_missing_weights is deprecated",
        b"ValueError: the batch was empty",
        b"[rank1]: worker 3 failed to report",
        b"ERROR something else went wrong",
        *(f"step {i}: an error in shard {i}".encode() for i in range(14)),
    ]
    out: list[bytes] = []
    size = i = 0
    while size < 13 << 20:  # over three blocks of the reader
        line = rng.choice(repeated) if rng.random() < 0.9 else lines[i % len(lines)]
        i += line not in repeated
        out.append(line)
        size += len(line) + 1
    data = b"\n".join(out) + b"\n"
    assert len(data) > 3 * (4 << 20), "a few blocks, so that the per-block skipping is exercised"
    fast = _scan_fields(data)
    monkeypatch.setattr(scanner_mod, "TEXTS_KEPT", 0)
    monkeypatch.setattr(Scanner, "_error_candidates", every_candidate)
    slow = _scan_fields(data)
    assert fast["errors"] and fast["terminal"] is not None
    assert fast == slow
