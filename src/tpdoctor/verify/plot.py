"""`--plot FILE`: busbw against message size, with the expected ceiling and floors (matplotlib extra)."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.errors import UsageError
from tpdoctor.verify.expect import FLOORS
from tpdoctor.verify.results import VerifyResult
from tpdoctor.verify.sizes import human


def plot(res: VerifyResult, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'tpdoctor[plot]'") from None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for op in sorted({r.op for r in res.results}):
        pts = [(r.bytes, r.busbw_gbps) for r in res.results if r.op == op]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=op)
    exp = res.expectation
    if exp and exp.ceiling_gbps:
        ax.axhline(
            exp.ceiling_gbps,
            color="k",
            linestyle="--",
            label=f"ceiling {exp.ceiling_gbps:g} GB/s ({exp.link})",
        )
        if exp.raw_gbps:
            ax.axhline(exp.raw_gbps, color="grey", linestyle=":", label=f"raw link {exp.raw_gbps:g} GB/s")
        first = min((r.bytes for r in res.results), default=1)
        last = max((r.bytes for r in res.results), default=1)
        for i, (lo, frac, _) in enumerate(FLOORS):
            end = min(FLOORS[i + 1][0] if i + 1 < len(FLOORS) else last, last)
            if frac is None or max(lo, first) > end:
                continue  # not judged, or no measurement in this range
            ax.hlines(
                exp.ceiling_gbps * frac, max(lo, first), end, colors="tab:red", linestyles="-.", linewidth=1
            )
        ax.plot([], [], color="tab:red", linestyle="-.", label="healthy floor")
    ax.set_xscale("log", base=2)
    ticks = sorted({r.bytes for r in res.results})
    ax.set_xticks(ticks, [human(t) for t in ticks], rotation=30)
    ax.set_xlabel("message size")
    ax.set_ylabel("busbw (GB/s)")
    ax.set_title(f"tpdoctor verify: {res.backend} x{res.world_size} {res.dtype} on {res.device}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
