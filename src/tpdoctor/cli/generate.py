"""`tpdoctor generate`: write a least-privilege deployment for an intent."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer

from tpdoctor.cli.audit import IpcExchange, Pss, load_facts
from tpdoctor.cli.options import Backend, BackendOpt, Pp, Tp


class TargetChoice(str, Enum):
    compose = "compose"
    docker_run = "docker-run"
    podman = "podman"
    kubernetes = "kubernetes"


class SecurityChoice(str, Enum):
    least = "least"
    privileged = "privileged"


def generate_command(
    image: str = typer.Option(
        "ipex-llm-serving-xpu",
        "--image",
        help="ipex-llm-serving-xpu, vllm-openai, vllm-rocm or an image reference.",
    ),
    model: str = typer.Option(
        "Qwen/Qwen2.5-7B-Instruct", "--model", help="Model id or path in the container."
    ),
    tp: Tp = 2,
    pp: Pp = 1,
    gpus: int = typer.Option(None, "--gpus", min=1, help="GPUs to give the container (default TP x PP)."),
    target: TargetChoice = typer.Option(
        TargetChoice.compose, "--target", help="compose, docker-run, podman, kubernetes."
    ),
    backend: BackendOpt = Backend.auto,
    host_facts: Path = typer.Option(
        None, "--host-facts", help="Facts JSON from `tpdoctor check --snapshot`."
    ),
    ipc_exchange: IpcExchange = typer.Option(
        IpcExchange.drmfd, "--ipc-exchange", help="oneCCL route: drmfd or pidfd."
    ),
    security: SecurityChoice = typer.Option(
        SecurityChoice.least, "--security", help="least (default) or privileged (the unsafe quick fix)."
    ),
    pss: Pss = typer.Option(None, "--pss", help="Kubernetes: stay within Pod Security 'baseline'."),
    gpu_allocation: str = typer.Option(
        "device-plugin",
        "--gpu-allocation",
        help="Kubernetes: device-plugin (extended resource) or dra (a ResourceClaimTemplate for gpu.intel.com / gpu.nvidia.com).",
    ),
    output: Path = typer.Option(
        None, "--output", "-o", help="Write here instead of stdout (never overwrites)."
    ),
) -> None:
    """Write a complete, commented, least-privilege deployment for TP x PP GPUs."""
    from tpdoctor.deploy.generate import Intent, generate
    from tpdoctor.errors import UsageError

    if gpu_allocation not in ("device-plugin", "dra"):
        raise UsageError("--gpu-allocation must be device-plugin or dra")
    if gpu_allocation == "dra" and target.value != "kubernetes":
        raise UsageError("--gpu-allocation dra needs --target kubernetes")
    it = Intent(
        image=image,
        model=model,
        tp=tp or 2,
        pp=pp or 1,
        gpus=gpus,
        target=target.value,
        backend=_stack(backend),  # auto: from the image
        ipc_exchange=ipc_exchange.value,
        security=security.value,
        pss=pss.value if pss else None,
        gpu_allocation=gpu_allocation,
        facts=load_facts(host_facts),
    )
    text = generate(it)
    for n in it.notes:
        print(f"tpdoctor: {n}", file=sys.stderr)
    if output is None:
        sys.stdout.write(text)
        return
    import os

    try:  # O_EXCL|O_NOFOLLOW: never overwrite, never through a planted link
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise UsageError(
            f"{output} exists: refusing to overwrite (audit it with `tpdoctor audit --fix`)"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    from tpdoctor.termsafe import printable

    print(printable(f"tpdoctor: wrote {output}"), file=sys.stderr)


def _stack(backend: Backend | None) -> str | None:
    """The GPU stack the files are written for: None (auto) lets the image decide; xccl and ccl
    are Intel's torch.distributed backends, so xpu."""
    if backend in (None, Backend.auto):
        return None
    return "xpu" if backend in (Backend.xccl, Backend.ccl) else backend.value
