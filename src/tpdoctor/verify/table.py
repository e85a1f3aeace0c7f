"""The sweep as a rich table (text output), printed before the findings."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table

from tpdoctor.termsafe import printable
from tpdoctor.verify.results import VerifyResult
from tpdoctor.verify.sizes import human


def _t(value: object) -> str:
    """A value from outside (an environment variable's value, a note quoting a rank's log) as text rich prints as is:
    `NCCL_P2P_DISABLE='[/]'` raised MarkupError after the whole sweep (exit 1) and `[link=…]` styled the table
    (gsafe45)."""
    from rich.markup import escape

    return escape(printable(str(value)))

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
            + (f" [dim]{_t(r.note)}[/dim]" if r.verdict in ("degraded", "failed", "ok") else ""),
        )
    if res.latency:
        console.print(_latency_table(res))
    if res.results:
        console.print(table)
    for t in res.tp_mlps or ([res.tp_mlp] if res.tp_mlp else []):
        mark = "[green]ok[/green]" if t.ok else "[bold red]MISMATCH[/bold red]"
        console.print(
            f"TP MLP vs one device: {mark} max rel err {t.max_rel_err:.2e} (tol {t.tolerance:.3g}) {t.shape}"
        )
    for label, v in ranges.items():
        # padded before it is escaped: the escape's backslash counted in the width and a `[` shifted the column
        console.print(f"{_t(f'{printable(str(label)):>26}')}: [{_STYLE.get(v, '')}]{_t(v)}[/]")
    if res.profile:
        console.print(_profile_table(res))
        console.print(res.profile.summary)
    for c in res.env_causes:
        console.print(
            f"[yellow]{_t(c.name)}={_t(c.value)}[/yellow] forces {_t(c.forces)}: {_t(c.effect)}"
            + (f" [dim]({_t(c.seen)})[/dim]" if c.seen else "")
        )


def _latency_table(res: VerifyResult) -> Table:
    t = Table(
        title=f"small all_reduce x{res.world_size} {res.dtype} (latency; {res.latency[0].timing})",
        title_justify="left",
    )
    vllm = {r.bytes: r for r in res.vllm_latency}
    cols = ["size", "time (us)", "busbw GB/s", "#wrong", "floor (us)", "healthy <= (us)", "verdict"]
    if vllm:
        cols.insert(2, "vLLM custom AR (us)")
    for col in cols:
        t.add_column(col, justify="left" if col == "verdict" else "right")
    for r in res.latency:
        style = _STYLE.get(r.verdict, "")
        v = vllm.get(r.bytes)
        extra = [(f"{v.time_us:.2f}" + (f" [red]{v.wrong} wrong[/red]" if v.wrong else "")) if v else "-"]
        t.add_row(
            human(r.bytes),
            f"{r.time_us:.2f}",
            *(extra if vllm else []),
            f"{r.busbw_gbps:.2f}",
            str(r.wrong),
            f"{r.floor_us:g}" if r.floor_us else "-",
            f"{r.expected_us:g}" if r.expected_us else "-",
            f"[{style}]{r.verdict}[/{style}] [dim]{_t(r.note)}[/dim]",
        )
    return t


def _profile_table(res: VerifyResult) -> Table:
    p = res.profile
    assert p is not None
    t = Table(
        title=f"inference profile: {p.model} (hidden {p.hidden}, {p.layers} layers), TP {p.tp}, {p.dtype}",
        title_justify="left",
    )
    for col in (
        "phase",
        "tokens",
        "all-reduce",
        "count",
        "one (us)",
        "per step (us)",
        "floor (us)",
        "expected <= (us)",
        "verdict",
    ):
        t.add_column(col, justify="left" if col in ("phase", "verdict") else "right")
    with_vllm = any(ph.vllm_comm_us is not None for ph in p.phases)
    if with_vllm:
        t.add_column("vLLM custom AR per step (us)", justify="right")
    for ph in p.phases:
        style = _STYLE.get(ph.verdict, "")
        vcol = [f"{ph.vllm_comm_us:g}" if ph.vllm_comm_us is not None else "-"] if with_vllm else []
        t.add_row(
            ph.phase,
            str(ph.tokens),
            human(ph.allreduce_bytes),
            str(ph.allreduces),
            f"{ph.measured_us:g}" if ph.measured_us is not None else "-",
            f"{ph.comm_us:g}" if ph.comm_us is not None else "-",
            f"{ph.floor_us:g}" if ph.floor_us is not None else "-",
            f"{ph.expected_max_us:g}" if ph.expected_max_us is not None else "-",
            f"[{style}]{ph.verdict}[/{style}]",
            *vcol,
        )
    return t
