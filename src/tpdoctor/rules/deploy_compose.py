"""Audit rules: keys that the compose implementation which runs the file ignores or refuses.

Which implementation runs a file is not in the Compose spec. tpdoctor takes it from
`audit --compose-impl` or, failing that, from the file itself (an `x-podman` extension, which
only podman-compose reads, or a comment naming podman-compose); without either it says nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.deploy.analysis import is_gpu, wants_multi_gpu
from tpdoctor.deploy.model import Service
from tpdoctor.model import Confidence, Evidence, Finding, make_finding
from tpdoctor.model.edits import CountGpuReservation
from tpdoctor.rules.deploy_common import SHM_MIN, ev, fctx
from tpdoctor.rules.registry import DeployContext, deploy_rule

IMPL_LABEL = {
    "podman-compose": "podman-compose (releases up to 1.6.0)",
    "docker-compose-v1": "docker-compose 1.29 (Compose v1)",
    "compose-v2": "Compose v2 (docker compose)",
}


def compose_impl(ctx: DeployContext) -> tuple[str | None, Evidence | None, Confidence]:
    """(implementation, evidence, confidence): the --compose-impl option, else the file's hint."""
    opt = ctx.extra.get("compose_impl")
    if opt and opt != "auto":
        return str(opt), Evidence(text=f"--compose-impl {opt}"), "proves"
    m = ctx.model
    if m.compose_impl is None:
        return None, None, "suggests"
    conf: Confidence = "suggests" if m.compose_impl_evidence.startswith("comment") else "proves"
    return (
        m.compose_impl,
        Evidence(source=m.source, line=m.compose_impl_line, text=m.compose_impl_evidence),
        conf,
    )


@deploy_rule("compose.key-ignored", "compose.key-unsupported")
def compose_keys(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: GPU services of a compose file that will be run by an implementation
    which drops or refuses a key tensor parallel depends on. The implementation comes from
    `audit --compose-impl podman-compose|docker-compose-v1|compose-v2`, else from the file
    itself: a top-level `x-podman:` (or a service's `x-podman.*` key), which only podman-compose
    reads, or a comment naming `podman-compose`. Without either nothing is reported.

    - podman-compose, every release up to 1.6.0, has no `ipc:` support: the key is dropped
      without a word (containers/podman-compose issue #218; support landed in commit 99d8393,
      after 1.6.0). A service that relies on `ipc: host` for /dev/shm gets podman's 64 MB
      instead (failures.md #38); `ipc: service:x` / `shareable` do not join namespaces either.
      Newer podman-compose passes `--ipc host`, and podman then refuses `--shm-size` next to
      it ("cannot set shmsize when running in the host IPC Namespace", podman #14609, #16632).
    - podman-compose turns only `deploy.resources.reservations.devices` entries with
      `driver: nvidia` and `capabilities: [gpu]` into `--device nvidia.com/gpu=N` (CDI) and
      skips every other entry; the service-level `gpus:` key is not read at all
      (podman_compose.py `container_to_gpu_res_args`, 1.2.0-1.6.0).
    - docker-compose 1.29 (Debian's `docker-compose`) validates against its own compose_spec.json:
      a service-level `gpus:` stops it with "Unsupported config option for services.s: 'gpus'",
      and long-syntax `devices:` entries with "services.s.devices contains an invalid type, it
      should be a string" (checked with `docker-compose config`, 1.29.2). GPU reservations
      under `deploy.resources.reservations.devices` are honoured from 1.28.0 on (its
      CHANGELOG: "Support for Nvidia GPUs via device requests"; compose/project.py
      `get_device_requests` in 1.29.2), whatever the file's `version:`; Compose v2 requires
      `capabilities` in each entry (docs.docker.com/compose/gpu-support).

    Why it matters: the file looks right and the container starts, but without the /dev/shm
    or the GPUs it was written for; TP then fails with shm errors (failures.md #23-#26) or
    vllm.tp-exceeds-visible-gpus. A refused key stops the whole file.

    How to fix: give /dev/shm its size with `shm_size: 16g` (passed by every implementation)
    instead of `ipc: host`; reserve NVIDIA GPUs with `driver: nvidia` + `capabilities: [gpu]`
    (podman-compose needs the CDI spec: `nvidia-ctk cdi generate`); map Intel/AMD GPUs as
    `devices:` strings; or run the file with Compose v2.
    """
    if svc.format != "compose" or not is_gpu(svc):
        return
    impl, impl_ev, conf = compose_impl(ctx)
    if impl is None or impl == "compose-v2":
        return
    label = IMPL_LABEL[impl]
    evs = [impl_ev] if impl_ev is not None else []
    multi = wants_multi_gpu(svc)
    if impl == "podman-compose":
        yield from _podman_compose(svc, ctx, label, evs, conf, multi)
    elif impl == "docker-compose-v1":
        yield from _compose_v1(svc, ctx, label, evs, conf)


def _podman_compose(
    svc: Service, ctx: DeployContext, label: str, evs: list[Evidence], conf: Confidence, multi: bool | None
) -> Iterator[Finding]:
    if svc.ipc is not None and "compose_ipc_line" in svc.extra:
        line = int(svc.extra["compose_ipc_line"] or 0) or None
        here = [ev(svc, ctx, f"ipc: {svc.ipc}", line), *evs]
        size = svc.shm_size
        if svc.ipc == "host" and (size is None or size < SHM_MIN):
            have = svc.shm_size_raw or "not set"
            yield make_finding(
                "compose.key-ignored",
                f"{svc.name} relies on `ipc: host` for /dev/shm, but {label} drops `ipc:` silently: the "
                f"container gets podman's 64 MB /dev/shm (shm_size {have}) and TP fails on shm "
                "(failed to extend /dev/shm, bus error). Set shm_size: 16g and remove ipc: host.",
                here,
                context=fctx(svc, ctx),
                severity="blocker" if multi else "degraded",
                confidence=conf,
            )
        elif svc.ipc == "host":
            yield make_finding(
                "compose.key-ignored",
                f"{svc.name}: {label} drops `ipc: host` (shm_size {svc.shm_size_raw} gives /dev/shm, so this "
                "works), but once podman-compose passes --ipc host, podman refuses --shm-size next to it. "
                "Remove ipc: host.",
                here,
                context=fctx(svc, ctx),
                severity="notice",
                confidence=conf,
            )
        else:
            yield make_finding(
                "compose.key-ignored",
                f"{svc.name}: {label} drops `ipc: {svc.ipc}` silently, so no IPC namespace is shared "
                "between these containers: ranks split across them cannot use /dev/shm or fd passing.",
                here,
                context=fctx(svc, ctx),
                confidence=conf,
            )
    gpus_key = svc.extra.get("compose_gpus_key")
    if gpus_key:
        yield make_finding(
            "compose.key-ignored",
            f"{svc.name}: {label} does not read the service-level `{gpus_key}`: the container starts "
            "without GPUs. Use a deploy.resources.reservations.devices entry with driver: nvidia.",
            [ev(svc, ctx, gpus_key), *evs],
            context=fctx(svc, ctx),
            severity="blocker",
            confidence=conf,
        )
    skips = svc.extra.get("podman_compose_gpu_skips")
    if skips:
        yield make_finding(
            "compose.key-ignored",
            f"{svc.name}: {label} maps only reservations with driver: nvidia and capabilities: [gpu] "
            f"(to CDI nvidia.com/gpu=N) and skips the others silently: {skips}.",
            [ev(svc, ctx, f"deploy.resources.reservations.devices: {skips}"), *evs],
            context=fctx(svc, ctx),
            severity="blocker",
            confidence=conf,
        )


def _compose_v1(
    svc: Service, ctx: DeployContext, label: str, evs: list[Evidence], conf: Confidence
) -> Iterator[Finding]:
    gpus_key = svc.extra.get("compose_gpus_key")
    if gpus_key:
        yield make_finding(
            "compose.key-unsupported",
            f'{svc.name}: {label} refuses the service-level `{gpus_key}` ("Unsupported config option for '
            f"services.{svc.name}: 'gpus'\"). Use deploy.resources.reservations.devices (read since 1.28).",
            [ev(svc, ctx, gpus_key), *evs],
            context=fctx(svc, ctx),
            confidence=conf,
        )
    long_devs = svc.extra.get("compose_long_devices")
    if long_devs:
        yield make_finding(
            "compose.key-unsupported",
            f'{svc.name}: {label} accepts `devices:` only as strings ("services.{svc.name}.devices contains an '
            'invalid type, it should be a string"); write HOST:CONTAINER[:PERMS].',
            [ev(svc, ctx, f"devices: {long_devs}"), *evs],
            context=fctx(svc, ctx),
            confidence=conf,
        )


@deploy_rule("compose.gpu-reservation-incomplete")
def gpu_reservation_incomplete(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: a compose service whose `deploy.resources.reservations.devices` entry asks for
    NVIDIA GPUs (`driver: nvidia`, or `capabilities: [gpu]` without a driver) but gives neither `count`
    nor `device_ids`.

    Why it matters: Compose sends such an entry as a DeviceRequest with Count 0 (docker/compose
    pkg/compose/create.go copies `count`, unset = 0), and Docker Engine >= 27.3 turns Count 0 into
    NVIDIA_VISIBLE_DEVICES=void (moby daemon/nvidia_linux.go setNvidiaGPUs, `case req.Count == 0`, moby#48482 and
    its 27.x backport #48483, September 2024), so the
    container gets no GPU; older engines left the variable alone and the CUDA image's
    NVIDIA_VISIBLE_DEVICES=all gave every GPU, which is why the same file worked before (docker/docs#21026,
    nv-morpheus/Morpheus#2104). The container then prints "Found no NVIDIA driver" or "No CUDA GPUs are
    available".

    How to fix: write `count: all` (or a number, or `device_ids`).
    """
    if svc.format != "compose":
        return
    entry = svc.extra.get("compose_gpu_reservation_incomplete")
    if not entry:
        return
    yield make_finding(
        "compose.gpu-reservation-incomplete",
        f"{svc.name}: the GPU reservation `{entry}` gives neither count nor device_ids; Docker Engine >= 27.3 "
        "reads that as zero GPUs (NVIDIA_VISIBLE_DEVICES=void). Add `count: all` (or a number, or device_ids).",
        [ev(svc, ctx, f"deploy.resources.reservations.devices: {{{entry}}}")],
        context=fctx(svc, ctx),
        confidence="suggests",
        edits=[CountGpuReservation(why="count: all in the GPU reservation")],
    )
