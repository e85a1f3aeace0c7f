"""Audit rules for Intel's current serving images (deploy/images.py): llm-scaler-vllm and
upstream vLLM's XPU image, whose oneAPI environment only /root/.bashrc loads."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from tpdoctor.deploy.images import missing_oneapi, sourcing_entrypoint
from tpdoctor.deploy.model import Service
from tpdoctor.model import Finding, make_finding
from tpdoctor.model.edits import Edit, Manual, SetEntrypoint
from tpdoctor.redact import clip
from tpdoctor.rules.deploy_common import ev, fctx, fixes_service
from tpdoctor.rules.registry import DeployContext, deploy_rule

WHY = {
    "llm-scaler-vllm": (
        "its ENTRYPOINT is `bash -c 'exec vllm serve \"$@\"'` and only /root/.bashrc sources oneAPI: "
        "started by compose or with an overridden entrypoint the server gets another LD_LIBRARY_PATH, "
        "which llm-scaler's KNOWN_ISSUES.md #03 ties to OOM kills and slowdowns"
    ),
    "vllm-xpu": (
        "its ENTRYPOINT is `vllm serve`; oneCCL 2021.15's env/vars.sh is sourced only by /root/.bashrc and "
        "the image uninstalled pip's oneccl (docker/Dockerfile.xpu), so torch finds libccl.so.1 only "
        "through the LD_LIBRARY_PATH that vars.sh sets"
    ),
}


@deploy_rule("oneccl.setvars-not-sourced")
def intel_image_setvars(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: a service running `intel/llm-scaler-vllm` or vLLM's XPU image
    (`intel/vllm:*-xpu`, a local `vllm-xpu-env` build) whose entrypoint and command never source
    oneAPI's `setvars.sh` or oneCCL's `env/vars.sh` (an interactive `bash` is left alone: it
    reads /root/.bashrc).

    Why it matters: both images load their oneAPI environment only from /root/.bashrc
    (intel/llm-scaler vllm/docker/Dockerfile; vllm-project/vllm docker/Dockerfile.xpu). Compose,
    Kubernetes and `docker run` without an interactive shell skip it; llm-scaler's README asks to
    prepend `source /opt/intel/oneapi/setvars.sh --force &&` and KNOWN_ISSUES.md #03 reports OOM
    kills and slowdowns without it.

    How to fix: `tpdoctor generate --image llm-scaler-vllm` (or `vllm-xpu`) writes an entrypoint
    that sources both scripts (each only if present) and then `exec vllm serve "$@"`; `audit
    --fix` wraps a compose service's own entrypoint the same way (`bash -c '<sources>; exec
    "$@"' -- <entrypoint>`, the command untouched).
    """
    name = missing_oneapi(svc.image, svc.entrypoint, svc.command)
    if name is None:
        return
    shown = " ".join(svc.entrypoint + svc.command) or "(the image's own entrypoint)"
    yield make_finding(
        "oneccl.setvars-not-sourced",
        f"{svc.name} runs {svc.image} without sourcing oneAPI: {WHY[name]}",
        [ev(svc, ctx, f"entrypoint/command: {clip(shown, 200)}")],
        context=fctx(svc, ctx),
        edits=_sourcing(svc, name),
    )


def _sourcing(svc: Service, image: str) -> list[Edit]:
    """Compose: the entrypoint wrapped; a command line is the user's to rewrite (told how)."""
    if not fixes_service(svc) or svc.format == "kubernetes":
        return []
    argv = tuple(sourcing_entrypoint(image, svc.entrypoint))
    if svc.format == "compose":
        why = (
            f"{image}: entrypoint sources oneAPI first (setvars.sh, ccl env/vars.sh), then execs the original"
        )
        return [SetEntrypoint(argv, why=why)]
    return [Manual(why=f"{image}: run the server through bash after sourcing oneAPI: " + shlex.join(argv))]
