"""Audit rule: argument lists that a wrapper hands the container CLI verbatim."""

from __future__ import annotations

import json
from collections.abc import Iterator

from tpdoctor.deploy.model import Service
from tpdoctor.model import Finding, make_finding
from tpdoctor.model.edits import SplitArgument
from tpdoctor.rules.deploy_common import ev
from tpdoctor.rules.registry import DeployContext, deploy_rule


@deploy_rule("runtime.flag-value-one-argument")
def flag_value_one_argument(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: items of an argument list that reaches docker/podman without a shell
    (devcontainer.json's `runArgs`) holding a long flag and its value as ONE string:
    `"--gpus all"`, `"--shm-size 16g"`, `"--device /dev/dri"`, `"--privileged --ipc=host"`.

    Why it matters: no shell splits the item, so the CLI gets it as one argv word; its flag
    parser (spf13/pflag, docker's and podman's) reads everything before a `=` as the flag's
    name and refuses it: `unknown flag: --gpus all` (microsoft/vscode-remote-release#6989).
    The dev container never starts. `"--label=a b"` is fine: the value after `=` may hold
    blanks.

    How to fix: `"--gpus=all"`, or two items `"--gpus", "all"`; for NVIDIA GPUs in a dev
    container, `"hostRequirements": {"gpu": true}` (or `"optional"`) adds `--gpus all` by
    itself (devcontainers/cli src/spec-node/singleContainer.ts `extraRunArgs`). `--fix`
    replaces the item with the `=` form (several flags: one item each).

    Example: `"runArgs": ["--gpus all", "--shm-size 16g"]` -> `["--gpus=all", "--shm-size=16g"]`.
    """
    for item, fixed in svc.glued_args.items():
        shown = ", ".join(json.dumps(x) for x in fixed)
        yield make_finding(
            "runtime.flag-value-one-argument",
            f"{svc.name}: runArgs item {json.dumps(item)} reaches the CLI as one argument: docker "
            f"refuses it (unknown flag: {item.split('=')[0]}) and the container does not start. "
            f"Write {shown}.",
            [ev(svc, ctx, f"runArgs {json.dumps(item)}", svc.lines.get(f"runArgs {item}"))],
            edits=[SplitArgument(item, tuple(fixed), why=f"runArgs {json.dumps(item)} -> {shown}")],
        )
