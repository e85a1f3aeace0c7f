"""The sweep as a rich table (text output), printed before the findings."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table

from tpdoctor.verify.results import VerifyResult
from tpdoctor.verify.sizes import human

_STYLE = {"ok": "green", "degraded": "yellow", "failed": "bold red", "not judged": "dim"}


def render_table(res: VerifyResult, ranges: dict[str, str], out: TextIO) -> None:
    # Pipes and CI logs get a fixed width wide enough for one row per measurement.
    console = Console(file=out, highlight=False, width=None if out.isatty() else 130)
    table = Table(
        title=f"{res.backend} x{res.world_size} {res.dtype} (busbw as nccl-tests)", title_justify="left"
    )
    for col, just in (
        ("collective", "left"),
        ("size", "right"),
        ("time (us)", "right"),
        ("algbw GB/s", "right"),
        ("busbw GB/s", "right"),
        ("#wrong", "right"),
        ("healthy >=", "right"),
        ("verdict", "left"),
    ):
        table.add_column(col, justify="right" if just == "right" else "left")
    for r in res.results:
        style = _STYLE.get(r.verdict, "")
        table.add_row(
            r.op,
            human(r.bytes),
            f"{r.time_us:.1f}",
            f"{r.algbw_gbps:.2f}",
            f"{r.busbw_gbps:.2f}",
            str(r.wrong),
            f"{r.expected_gbps:g}" if r.expected_gbps else "-",
            f"[{style}]{r.verdict}[/{style}]"
            + (f" [dim]{r.note}[/dim]" if r.verdict in ("degraded", "failed", "ok") else ""),
        )
    if res.results:
        console.print(table)
    if res.tp_mlp:
        t = res.tp_mlp
        mark = "[green]ok[/green]" if t.ok else "[bold red]MISMATCH[/bold red]"
        console.print(
            f"TP MLP vs one device: {mark} max rel err {t.max_rel_err:.2e} (tol {t.tolerance:g}) {t.shape}"
        )
    for label, v in ranges.items():
        console.print(f"{label:>26}: [{_STYLE.get(v, '')}]{v}[/]")
