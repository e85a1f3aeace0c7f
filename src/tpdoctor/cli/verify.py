"""`tpdoctor verify`: launch one rank per GPU and prove tensor parallel works, with numbers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from tpdoctor.cli.options import Format, OutputFormat, Tp


def verify_command(
    gpus: int = typer.Option(
        None, "--gpus", min=1, help="Ranks to launch (default: all visible GPUs; 2 on CPU)."
    ),
    backend: str = typer.Option(
        "auto", "--backend", help="auto, nccl (CUDA/ROCm), xccl, ccl (Intel) or gloo (CPU)."
    ),
    sizes: str = typer.Option(
        None, "--sizes", help="Message sizes: 1M..4G (x4 steps), 1M..4G:2, or 1M,64M,256M."
    ),
    dtype: str = typer.Option("bf16", "--dtype", help="bf16 or fp32 (nccl-tests' default is fp32)."),
    quick: bool = typer.Option(False, "--quick", help="A few sizes only: a verdict in seconds."),
    timeout: float = typer.Option(
        120.0, "--timeout", min=1.0, help="Seconds without progress before the group is ended as hung."
    ),
    iters: int = typer.Option(None, "--iters", min=1, help="Timed iterations per size (default 20 on GPU)."),
    warmup: int = typer.Option(
        None, "--warmup", min=0, help="Warm-up iterations per size (default 5 on GPU)."
    ),
    expect_busbw: float = typer.Option(
        None, "--expect-busbw", help="Judge against this busbw ceiling (GB/s) instead of the topology model."
    ),
    no_nvls: bool = typer.Option(
        False, "--no-nvls", help="Keep NVLink SHARP off in the ranks (NCCL_NVLS_ENABLE=0 ...)."
    ),
    logs: Path = typer.Option(None, "--logs", help="Keep the ranks' logs and events in this directory."),
    plot: Path = typer.Option(
        None, "--plot", help="Write busbw vs size with the expected ceiling (PNG/SVG/PDF)."
    ),
    small_sizes: str = typer.Option(
        None,
        "--small-sizes",
        help="Small all-reduce sizes, timed by CUDA/HIP graph replay (default 8K..16M:2 on GPU; 'none' skips).",
    ),
    profile: str = typer.Option(
        None, "--profile", help="inference: judge the all-reduce sizes a TP decode step issues."
    ),
    model: str = typer.Option(
        None,
        "--model",
        help="Preset for --profile inference: llama-3-8b, llama-3-70b, llama-3.1-405b, qwen2.5-7b, qwen2.5-72b.",
    ),
    model_hidden: int = typer.Option(None, "--model-hidden", min=1, help="Hidden size (instead of --model)."),
    model_layers: int = typer.Option(
        None, "--model-layers", min=1, help="Layers (with --model-hidden; default 32)."
    ),
    tp: Tp = None,
    vllm_custom_ar: bool = typer.Option(
        False, "--vllm-custom-ar", help="Also time vLLM's custom all-reduce at the small sizes (needs vllm)."
    ),
    fmt: Format = OutputFormat.text,
) -> None:
    """Run a real all-reduce/all-gather/reduce-scatter sweep and a TP MLP on N ranks; judge them."""
    from tpdoctor.cli.common import emit
    from tpdoctor.verify.run import VerifyOptions, build_report, run_verify

    opts = VerifyOptions(
        gpus=gpus,
        backend=backend,
        sizes=sizes,
        dtype=dtype,
        quick=quick,
        timeout=timeout,
        iters=iters,
        warmup=warmup,
        expect_busbw=expect_busbw,
        no_nvls=no_nvls,
        logs_dir=logs,
        small_sizes=small_sizes,
        profile=profile,
        model=model,
        model_hidden=model_hidden,
        model_layers=model_layers,
        tp=tp,
        vllm_custom_ar=vllm_custom_ar,
    )
    if plot is not None:
        from tpdoctor.verify.plot import check_target

        check_target(plot)  # before the sweep: an error after it lost the run's report
    try:
        with _Progress() as progress:
            result = run_verify(opts, on_event=progress.event, on_plan=progress.plan)
    except KeyboardInterrupt:
        # The launcher has already ended every rank when this arrives.
        typer.echo("tpdoctor: interrupted: all ranks ended", err=True)
        raise typer.Exit(130) from None
    report = build_report(result)
    if plot is not None and result.results:
        from tpdoctor.errors import InputError
        from tpdoctor.verify.plot import plot as draw

        try:
            draw(result, plot)
        except (OSError, InputError) as exc:  # replaced since the check (a link, a FIFO): the report is still printed
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            report.notes.append(f"plot not written to {plot}: {why}")
        else:
            report.notes.append(f"plot written to {plot}")
    if fmt is OutputFormat.text:
        from tpdoctor.verify.table import render_table

        render_table(result, report.facts.get("ranges", {}), sys.stdout)
    emit(report, fmt)


class _Progress:
    """A rich progress bar on stderr (stdout stays clean for --format json), fed by rank 0's events."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        self._bar = Progress(
            TextColumn("[bold]verify[/bold] {task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task = self._bar.add_task("starting ranks", total=None)

    def __enter__(self) -> _Progress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    def plan(self, total: int) -> None:
        self._bar.update(self._task, total=total)

    def event(self, e: dict[str, Any]) -> None:
        if e.get("rank") != 0:
            return
        from tpdoctor.verify.sizes import human

        what = str(e.get("op", ""))
        if e.get("bytes"):
            what += f" {human(int(e['bytes']))}"
        if e["ev"] == "start":
            self._bar.update(self._task, description=what)
        elif e["ev"] in ("done", "result"):
            self._bar.advance(self._task)
