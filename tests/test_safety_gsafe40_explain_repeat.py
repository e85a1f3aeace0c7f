"""gsafe40: 1 MiB of one repeated line that looks wrapped ("CUDA error: CUDA error: ...", 40-4000 columns) took
13-20 s in explain: no line of it starts a log record, so every line was joined with its neighbours and every
candidate signature searched the joined text again (the error-code pattern code.prose-number costs ~300 steps per
'CUDA' in it). The joined texts repeat: their searches are remembered (scanner.JOINED_SEARCHES_KEPT), and what
explain says is the same as without the memory. Timing lives in bench/; this counts the searches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke
from tpdoctor.explain import scanner
from tpdoctor.explain import signatures as sigmod


def _log(tmp_path: Path, width: int) -> Path:
    line = ("CUDA error: " * (width // 12 + 1))[:width] + "\n"
    f = tmp_path / f"rep{width}.log"
    f.write_text(line * ((1 << 18) // len(line) + 1))  # 256 KiB: the no-memory run below stays short
    return f


@pytest.mark.parametrize("width", [80, 1000])
def test_repeated_wrapped_line_searches_each_join_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    log = _log(tmp_path, width)
    long_searches = 0
    orig = sigmod.LazyRegex.search

    def counting(self: sigmod.LazyRegex, text: str) -> object:
        nonlocal long_searches
        long_searches += len(text) > width + 1
        return orig(self, text)

    monkeypatch.setattr(sigmod.LazyRegex, "search", counting)
    code, out = invoke("explain", str(log), "--format", "json")
    _check(code, out, "explain")
    lines = (1 << 18) // (width + 1)
    assert long_searches < 200, (long_searches, lines)  # was ~8 per line (103568 for 1 MiB of 80 columns)
    monkeypatch.setattr(sigmod.LazyRegex, "search", orig)
    monkeypatch.setattr(scanner, "JOINED_SEARCHES_KEPT", 0)  # without the memory: the same report
    code2, out2 = invoke("explain", str(log), "--format", "json")
    assert code2 == code
    assert json.loads(out2)["findings"] == json.loads(out)["findings"]
