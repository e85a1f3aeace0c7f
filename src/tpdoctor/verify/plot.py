"""`--plot FILE`: busbw against message size, with the expected ceiling and floors (matplotlib extra)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from tpdoctor.errors import UsageError
from tpdoctor.verify.expect import FLOORS
from tpdoctor.verify.results import VerifyResult
from tpdoctor.verify.sizes import human

FORMATS = ("png", "svg", "pdf")


def check_target(path: Path) -> str:
    """Judge `--plot FILE` before the run (its format, matplotlib, the path): every such error came only after the
    whole sweep had run, and took the run's report with it (a traceback for `.gif`, gsafe45). The format to write."""
    import importlib.util
    import os
    import stat

    from tpdoctor.errors import InputError

    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"--plot {path}: the name must end in .png, .svg or .pdf")
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--plot needs matplotlib: pip install 'tpdoctor[plot]'")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise InputError(f"--plot {path}: {path.parent} is no directory") from None
    except OSError as exc:
        raise InputError(f"--plot {path}: {exc.strerror or exc}") from None
    else:
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            raise InputError(f"--plot {path}: not a regular file of one name (a link, a FIFO, a device): not written")
    return fmt


def write_plot(data: bytes, path: Path) -> None:
    """The drawing, written as tpdoctor's other outputs are: O_NOFOLLOW, a regular file, not a hard link (matplotlib's
    savefig(path) wrote through a planted link and blocked on a FIFO). OSError on failure."""
    from tpdoctor.safewrite import open_output, write_all

    fd = open_output(path, 0o644)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def plot(res: VerifyResult, path: Path) -> None:
    fmt = check_target(path)
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
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    plt.close(fig)
    write_plot(buf.getvalue(), path)
