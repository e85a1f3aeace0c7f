"""gperf43: every regex of signatures.yaml stays linear on hostile lines built from its own literals.

bench/pattern_hostile.py builds, for each pattern, lines of its literal pieces repeated, its first literal followed by
a run of what its quantified classes accept, and pairs of literals alternated. A linear pattern searches a 16 KiB
such line in milliseconds; a quadratic one (`\\b(?:docker|podman) run\\b[^\\n]*?X` tried from each of thousands of
`docker run`, a prose lookahead without a line anchor, a `[^\\n]*?A[^\\n]*?B` chain) takes seconds, and a log line of
64 KiB (read whole) sixteen times that. Each line is tried at 4 KiB first, so a cubic pattern fails fast too."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import pattern_hostile as ph

LIMIT_S = 0.5
SIZE = 16384
# Four times the line takes four times as long on a linear pattern and sixteen on a quadratic one: a pattern whose
# 16 KiB time is past GROWTH_FLOOR_S and past GROWTH_LIMIT times its 4 KiB time is quadratic even when its constant is
# small (review46: glearn46d's `^(?!…)[^\n]*?\b(?:docker|podman)\s+run\b[^\n]*?X` took 0.02 s at 4 KiB, 0.3 s at 16 KiB
# under LIMIT_S, and 20 s on a 64 KiB line).
GROWTH_FLOOR_S = 0.05
GROWTH_LIMIT = 10


def _timed(rx: re.Pattern[str], lines: list[str]) -> list[tuple[float, int]]:
    out = []
    for i, line in enumerate(lines):
        start = time.perf_counter()
        rx.search(line)
        out.append((time.perf_counter() - start, i))
    return sorted(out, reverse=True)


def _slowest(rx: re.Pattern[str], lines: list[str]) -> tuple[float, str]:
    took, i = _timed(rx, lines)[0]
    return took, lines[i][:60]


def test_every_pattern_is_linear_on_its_hostile_lines() -> None:
    """Every hostile line at 4 KiB, then the three slowest of them again at 16 KiB (a line that is quadratic at 16 KiB
    is already the slowest at 4 KiB): ~1,660 regexes in well under a minute on a quiet 2-core machine."""
    slow: list[str] = []
    count = 0
    for eid, field, pattern, literals in ph.entries():
        count += 1
        rx = re.compile(pattern)
        small = _timed(rx, ph.hostile_lines(pattern, literals, 4096))
        if small[0][0] > LIMIT_S / 4:  # (a quadratic pattern that takes 0.13 s at 4 KiB takes 2 s at 16 KiB)
            picked = [i for _, i in small[:1]]
        else:
            picked = [i for _, i in small[:3]]
        big = ph.hostile_lines(pattern, literals, SIZE)
        picked = [i for i in picked if i < len(big)]
        took, i = _timed(rx, [big[i] for i in picked])[0]
        at_4k = dict((j, t) for t, j in small)[picked[i]]
        if took > LIMIT_S or (took > GROWTH_FLOOR_S and took > GROWTH_LIMIT * at_4k):
            # once more, so a pause of this loaded machine is not read as a slow pattern
            again, _ = _timed(rx, [big[picked[i]]])[0]
            again_4k, _ = _timed(rx, [ph.hostile_lines(pattern, literals, 4096)[picked[i]]])[0]
            if again > LIMIT_S or (again > GROWTH_FLOOR_S and again > GROWTH_LIMIT * again_4k):
                slow.append(f"{eid} ({field}): {again:.2f} s on {big[picked[i]][:60]!r}… ({again_4k:.3f} s at 4 KiB)")
    assert count > 1500, count  # every section that holds regexes was read
    assert not slow, "quadratic on a 16 KiB hostile line:\n" + "\n".join(slow)


def test_the_sweep_builds_lines_from_the_pattern_itself() -> None:
    pat = r"\b(?:docker|podman) run\b[^\n]*?--gpus[= ](?P<gpus>\S+)"
    lits, fills = ph.pieces(pat)
    assert "docker run" in lits and "podman" in lits and any(x.startswith("--gpus") for x in lits), lits
    assert "a" in fills
    lines = ph.hostile_lines(pat, ["docker run"], 4096)
    assert all(len(line) == 4096 for line in lines)
    assert lines[0].startswith("docker run") and any(line.startswith("docker run docker run") for line in lines)
    # the shape review42 found by hand: 0.5-9 s per line before (test_review42.py)
    slow = r"\b(?:docker|podman) run\b[^\n]*?--gpus[= ](?P<gpus>\S+)"
    took, _ = _slowest(re.compile(slow), ph.hostile_lines(slow, ["docker run"], 4096))
    assert took > 0.001  # quadratic: measurable already at 4 KiB, and 16x that at 16 KiB
