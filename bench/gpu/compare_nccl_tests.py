"""Compare `tpdoctor verify --format json` with nccl-tests' all_reduce_perf text output.

    python3 bench/gpu/compare_nccl_tests.py all_reduce_perf.txt verify.json > compare.md

torch's all_reduce is in-place, so verify is compared with nccl-tests' in-place busbw; the
out-of-place column is shown too. Target (issue 7): within 3% at >= 256 MiB.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGET_FROM = 256 << 20
TOLERANCE = 0.03


def parse_nccl_tests(text: str) -> dict[int, tuple[float, float, int]]:
    """size -> (out-of-place busbw, in-place busbw, #wrong in-place) from all_reduce_perf's table."""
    rows: dict[int, tuple[float, float, int]] = {}
    for line in text.splitlines():
        f = line.split()
        # size count type redop root | time algbw busbw #wrong | time algbw busbw #wrong
        if len(f) >= 13 and f[0].isdigit() and f[1].isdigit():
            try:
                wrong = int(f[12]) if f[12].isdigit() else -1
                rows[int(f[0])] = (float(f[7]), float(f[11]), wrong)
            except ValueError:
                continue
    return rows


def parse_verify(doc: dict) -> tuple[dict[int, float], str]:  # type: ignore[type-arg]
    v = doc["facts"]["verify"]
    return {int(r["bytes"]): float(r["busbw_gbps"]) for r in v["results"] if r["op"] == "all_reduce"}, v[
        "dtype"
    ]


def human(n: int) -> str:
    for unit, s in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= s:
            return f"{n / s:g} {unit}"
    return f"{n} B"


def table(nccl: dict[int, tuple[float, float, int]], ver: dict[int, float], dtype: str) -> tuple[str, bool]:
    lines = [
        f"verify dtype: {dtype} (all_reduce_perf: float)"
        + ("" if dtype == "fp32" else "  ** not the same dtype **"),
        "",
        "| size | verify busbw (GB/s) | nccl-tests in-place | nccl-tests out-of-place | verify / in-place | target |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    ok = True
    for size in sorted(set(nccl) | set(ver)):
        v = ver.get(size)
        n = nccl.get(size)
        ratio = v / n[1] if v is not None and n and n[1] > 0 else None
        target = ""
        if size >= TARGET_FROM and ratio is not None:
            hit = ratio >= 1 - TOLERANCE
            ok &= hit
            target = "within 3%" if hit else "**MISSED**"
        lines.append(
            f"| {human(size)} | {v if v is not None else '-'} | {n[1] if n else '-'} | {n[0] if n else '-'} | "
            f"{f'{ratio:.3f}' if ratio is not None else '-'} | {target} |"
        )
    return "\n".join(lines), ok


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    nccl = parse_nccl_tests(Path(argv[1]).read_text(errors="replace"))
    ver, dtype = parse_verify(json.loads(Path(argv[2]).read_text()))
    if not nccl or not ver:
        print(f"nothing to compare: {len(nccl)} nccl-tests rows, {len(ver)} verify rows", file=sys.stderr)
        return 1
    text, ok = table(nccl, ver, dtype)
    print(text)
    print("\nresult:", "all sizes >= 256 MiB within 3% of nccl-tests" if ok else "target missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
