"""Audit rules: /dev/shm, IPC namespace, writable /tmp (and a JIT cache in a noexec tmpfs), the pids limit, and files
the runtime will not read as written (broken shell continuations, invalid YAML)."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.deploy.analysis import (
    device_plugin,
    is_gpu,
    one_rank,
    pp_size,
    probe_only,
    ranks_likely,
    requests_gpu,
    tp_size,
    visible_gpus,
    wants_multi_gpu,
)
from tpdoctor.deploy.model import MountSpec, Service
from tpdoctor.model import Evidence, Finding, SeverityName, make_finding
from tpdoctor.model.edits import (
    AddItem,
    Edit,
    EmptyDir,
    Reindent,
    RepairContinuation,
    ReplaceItem,
    SetShmSize,
    Unset,
)
from tpdoctor.rules.deploy_common import SHM_DEFAULT, SHM_MIN, ev, fctx, fixes_service
from tpdoctor.rules.jit_cache import explicit_cache_dirs
from tpdoctor.rules.limits import tasks_per_rank, usable_cpus
from tpdoctor.rules.registry import DeployContext, deploy_rule
from tpdoctor.units import parse_small_int

GIB = 1024**3
SHM_COMFORT = 4 * GIB  # below this a TP deployment is likely to outgrow it

# The /tmp tmpfs tpdoctor writes (generate; audit --fix where a read-only root has no /tmp): Docker mounts a tmpfs
# rw,noexec,nosuid,nodev unless its options say otherwise (moby daemon/oci_linux.go; Podman's docs say so too, its
# v5 code does not: MountSpec.noexec_under), and
# torch.compile, which vLLM runs by default, builds shared objects in /tmp/torchinductor_<user> and dlopens them: on
# noexec, "failed to map segment from shared object" (pytorch/pytorch#91005, #123054; measured in a container:
# docs/generate.md). `exec` lifts only noexec: nosuid and nodev stay. A Kubernetes emptyDir needs nothing: the
# kubelet mounts no noexec (a directory on the node's disk; medium Memory: a tmpfs with size= only).
TMPFS_TMP = "/tmp:exec"
TMPFS_EXEC_WHY = "torch.compile loads the .so files it builds there (a tmpfs is noexec by default)"


def _fmt(n: int) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n // (1024 * 1024)} MiB"


def _shm(svc: Service) -> list[Edit]:
    """/dev/shm of 16 GiB: shm_size, or a memory emptyDir in Kubernetes."""
    if svc.format == "kubernetes":
        if svc.has_mount_target("/dev/shm") is not None:
            return []
        return [EmptyDir("dshm", "/dev/shm", "Memory", "16Gi", why="emptyDir{medium: Memory} at /dev/shm")]
    if (svc.shm_size or 0) >= SHM_MIN:
        return []
    return [SetShmSize(SHM_DEFAULT, why=f"shm_size {SHM_DEFAULT}")]


@deploy_rule("shm.too-small")
def shm_small(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: the /dev/shm a GPU container gets: shm_size / --shm-size /
    emptyDir{medium: Memory} at /dev/shm, or the runtime default (Docker 64 MiB, Podman 62.5 MiB,
    Kubernetes 64 MiB) when none is set and the IPC namespace is private.

    Why it matters: NCCL's SHM transport, vLLM's shm broadcast queue, Ray's object store and torch IPC all
    allocate there; a full tmpfs gives "failed to extend /dev/shm", ncclSystemError or a bus error.

    How to fix: `shm_size: 16g` (compose), `--shm-size=16g`, or an emptyDir{medium: Memory, sizeLimit: 16Gi}
    mounted at /dev/shm in Kubernetes.
    """
    if not is_gpu(svc) or svc.ipc in ("host",) or (svc.ipc or "").startswith(("container:", "service:")):
        return
    multi = wants_multi_gpu(svc)
    size = svc.shm_size
    note = svc.extra.get("shm_size_on_build")
    build = f" ({note})" if note and size is None else ""
    runtime = svc.extra.get("kserve_runtime")
    if size is None and runtime and not svc.extra.get("kserve_runtime_in_file"):
        # the pod's volumes also come from a ServingRuntime these files do not hold: KServe's own
        # kserve-huggingfaceserver mounts an unbounded Memory emptyDir at /dev/shm (config/runtimes, kserve#3910,
        # v0.14+), a custom one may not; audit cannot see which, so it says what to check
        yield make_finding(
            "shm.too-small",
            f"{svc.name} mounts no /dev/shm itself, and its pod's volumes also come from {runtime}, which these "
            "files do not hold: KServe's kserve-huggingfaceserver (v0.14+) mounts an unbounded Memory emptyDir at "
            "/dev/shm, other runtimes may leave the 64 MiB default. Check the runtime (`kubectl get "
            "clusterservingruntime,servingruntime -o yaml`), or mount an emptyDir{medium: Memory} at /dev/shm in "
            "the predictor.",
            [ev(svc, ctx, f"shm: not set in the predictor; runtime: {runtime}")],
            context=fctx(svc, ctx),
            severity="notice",
            confidence="suggests",
        )
        return
    if size is None or size < SHM_MIN:
        have = _fmt(size) if size is not None else "the runtime default 64 MiB"
        sev: SeverityName | None = None if multi else ("degraded" if multi is None else "notice")
        why, probe = "", False
        single = one_rank(svc) if multi is False else None
        if device_plugin(svc):
            # gwild52: a device plugin lists the GPUs for the kubelet; no rank runs in it
            sev, probe = "notice", True
            why = " (a GPU device plugin: it runs no rank)"
        elif single:
            # gwild52: no rank shares memory here (a bare OS image, Ollama, a vLLM server without a TP size)
            sev, probe, why = "notice", True, f" ({single})"
        elif multi is not True and probe_only(svc):
            sev, probe = "notice", True
            why = f" (it only runs {' '.join([*svc.entrypoint, *svc.command])[:60]})"
        elif multi is None and not requests_gpu(svc):
            # still a GPU service for the fix (its image says so, and the nvidia runtime may be the default)
            sev, why = "notice", " (the config requests no GPU; only the image's name suggests one)"
        elif multi is None and not ranks_likely(svc):
            # gwild54: every GPU but nothing says ranks run across them (a terminal, a benchmark, a media server,
            # an unnamed local build): what TP would need, as a notice; --fix still writes the size (harmless, and
            # what a dev container that later runs ranks needs: test_audit_devcontainer pins it)
            sev = "notice"
            why = " (nothing in the file says ranks share its GPUs: no parallel size, launcher or engine image)"
        yield make_finding(
            "shm.too-small",
            f"{svc.name} gets {have} of /dev/shm{build}{why}. TP needs more: set shm_size 16g (no ipc: host needed).",
            [ev(svc, ctx, f"shm: {svc.shm_size_raw or 'not set'}{build}")],
            context=fctx(svc, ctx),
            severity=sev,
            confidence="proves" if multi else "suggests",
            edits=_shm(svc) if fixes_service(svc) and not probe and not (multi is False and size is not None) and (svc.ipc is None or svc.format == "kubernetes") else [],
        )
    elif size < SHM_COMFORT and size < (1 << 40):
        yield make_finding(
            "shm.too-small",
            f"{svc.name} gets {_fmt(size)} of /dev/shm: enough for one GPU, small once the same config is "
            "scaled to tensor parallel (NCCL + vLLM shm broadcast + Ray). Consider 16g.",
            [ev(svc, ctx, f"shm: {svc.shm_size_raw}")],
            context=fctx(svc, ctx),
            severity="notice",
            confidence="suggests",
        )


@deploy_rule("audit.ipc-host-unneeded", remedies=("shm.too-small",))
def ipc_host(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: `ipc: host` / `--ipc=host` / hostIPC on a GPU container.

    Why it matters: vLLM's docs suggest it only to get a big /dev/shm. It shares the host's SysV/POSIX IPC
    namespace and escapes the container memory cgroup for /dev/shm; shm_size gives the same
    space for ranks inside one container. (Podman-compose once ignored `ipc:` silently, see
    compose.key-ignored.)

    How to fix: remove it and set `shm_size: 16g`; use `ipc: shareable` + `ipc: service:<name>` only when
    ranks must live in different containers.
    """
    if svc.ipc == "host" and is_gpu(svc) and (svc.pid or "").startswith(("container:", "service:")):
        # gwild50: production-stack's disaggregated-prefill decode container (`--ipc host --pid=container:master`)
        # shares CUDA IPC (LMCache over NIXL/UCX cuda_ipc) with a process of another container: the processes that
        # exchange memory are not all in this one, so shm_size alone would not replace the shared namespace
        yield make_finding(
            "audit.ipc-host-unneeded",
            f"{svc.name} shares the host IPC namespace and the PID namespace of {svc.pid}: processes of two "
            "containers exchange memory, which a private IPC namespace with shm_size would not give. If they "
            "only need each other, `--ipc container:<name>` (compose `ipc: service:<name>`) shares less than host.",
            [ev(svc, ctx, f"ipc: host, pid: {svc.pid}")],
            context=fctx(svc, ctx),
            severity="notice",
            confidence="suggests",
        )
        return
    if svc.ipc == "host" and is_gpu(svc):
        yield make_finding(
            "audit.ipc-host-unneeded",
            f"{svc.name} shares the host IPC namespace. Single-container TP does not need it: replace with "
            "shm_size 16g (hostIPC is also forbidden by Pod Security baseline).",
            [ev(svc, ctx, "ipc: host")],
            context=fctx(svc, ctx),
            edits=[
                Unset(
                    "ipc",
                    why="hostIPC removed"
                    if svc.format == "kubernetes"
                    else "ipc: host removed; shm_size gives single-container TP its /dev/shm",
                ),
                *_shm(svc),
            ],
        )


@deploy_rule("oneccl.tmp-unwritable")
def tmp_unwritable(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: a read-only root filesystem without a writable /tmp (tmpfs or emptyDir).

    Why it matters: oneCCL binds its IPC sockets in /tmp (/tmp/ccl-ipc-fd-sock-*), its pidfd self-test
    mkstemp()s there, and vLLM uses ipc:///tmp/... zmq sockets.

    How to fix: `tmpfs: [/tmp:exec]` (compose), `--tmpfs /tmp:exec`, an emptyDir at /tmp in Kubernetes (`exec`:
    a tmpfs is noexec by default, and torch.compile loads the shared objects it builds in /tmp).
    """
    if svc.read_only and is_gpu(svc) and svc.has_mount_target("/tmp") is None and not device_plugin(svc):
        yield make_finding(
            "oneccl.tmp-unwritable",
            f"{svc.name} has a read-only root and no writable /tmp: oneCCL sockets and the pidfd self-test fail. "
            "Add tmpfs /tmp.",
            [ev(svc, ctx, "read_only: true, no /tmp mount")],
            edits=[
                EmptyDir("tmp", "/tmp", why="emptyDir at /tmp (oneCCL sockets)")
                if svc.format == "kubernetes"
                else AddItem(
                    "tmpfs",
                    TMPFS_TMP,
                    why=f"tmpfs {TMPFS_TMP}: oneCCL sockets and the pidfd self-test; exec: {TMPFS_EXEC_WHY}",
                )
            ],
        )


def _with_exec(m: MountSpec) -> str | None:
    """The tmpfs item as written with `exec` in place of noexec, for a `--tmpfs`/compose `tmpfs:` item (target[:opts]);
    None for the long forms (`--mount type=tmpfs`, a compose volume of type tmpfs), whose exec is not one option."""
    if m.raw.partition(":")[0] != m.target:
        return None
    return f"{m.target}:" + ",".join([o for o in m.options if o not in ("exec", "noexec")] + ["exec"])


@deploy_rule("fs.jit-cache-noexec")
def jit_cache_in_noexec_tmpfs(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: a JIT cache directory the service's environment names (`TRITON_CACHE_DIR`, `TRITON_HOME`,
    `TORCHINDUCTOR_CACHE_DIR`, `TORCH_EXTENSIONS_DIR`) inside a tmpfs the file mounts without `exec` (compose
    `tmpfs: [/tmp]`, `--tmpfs /tmp`, `--mount type=tmpfs`): Docker mounts a tmpfs noexec unless its options
    say `exec` (the last of exec/noexec wins); under Podman only an explicit `noexec` counts (its code, whatever its
    docs say: MountSpec.noexec_under). A default location (Inductor's /tmp/torchinductor_<user>
    when no variable is set) is not judged, as in check: most jobs given a `/tmp` tmpfs for oneCCL's sockets never
    set one, and a framework may move its caches.

    Why it matters: Triton, TorchInductor and torch's extension builder compile shared objects into that directory
    and load them; the loader maps them executable, which a noexec mount refuses: "failed to map segment from shared
    object" at the first compiled kernel, so torch.compile, vLLM and SGLang stop (pytorch/pytorch#91005, #123054;
    measured with a CPU torch.compile in a Docker container: docs/generate.md).

    How to fix: give the tmpfs `exec` (`tmpfs: [/tmp:exec]`, `--tmpfs /tmp:exec`: what `generate` writes and
    `audit --fix` sets on a `tmpfs:`/`--tmpfs` item), or point the variable at an exec-mounted directory.

    Example: `docker run --tmpfs /tmp -e TORCHINDUCTOR_CACHE_DIR=/tmp/inductor ...`.
    """
    hits = [
        (what, directory, m)
        for what, directory in explicit_cache_dirs(svc.env)
        if (m := svc.mount_holding(directory)) is not None and m.noexec_under(svc.format)
    ]
    if not hits:
        return
    edits: list[Edit] = []
    for m in {id(m): m for _, _, m in hits}.values():  # one edit per tmpfs
        new = _with_exec(m)
        if new is not None:
            edits.append(ReplaceItem("tmpfs", m.raw, new, why=f"tmpfs {new}: {TMPFS_EXEC_WHY}"))
    names = ", ".join(f"{directory} ({what})" for what, directory, _ in hits)
    yield make_finding(
        "fs.jit-cache-noexec",
        f"{svc.name} puts the JIT cache {names} in a tmpfs mounted noexec (no `exec` among its options): the "
        "compiled shared objects cannot be loaded ('failed to map segment from shared object'). Mount it with exec.",
        [ev(svc, ctx, f"{what} {directory}: in the tmpfs {m.raw or m.target} (noexec unless its options say exec)")
         for what, directory, m in hits],
        severity="blocker",
        confidence="proves",
        prefer="tmpfs-with-exec",
        edits=edits,
    )


@deploy_rule("audit.shell-continuation-broken")
def continuation(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: `docker run ... \\` commands whose continuation a shell breaks: a comment
    line between continued lines, or whitespace after the final backslash.

    Why it matters: the shell ends the command at that line: the flags below it (-v, --shm-size, the image)
    never reach docker, and the remaining lines run as separate commands.

    How to fix: move comments above the command and delete trailing spaces (`audit --fix` does
    exactly that and touches nothing else).
    """
    breaks = svc.extra.get("continuation_breaks")
    if breaks:
        evs = [
            Evidence(source=ctx.model.source, line=int(b.split(":")[0].split()[1]), text=b)
            for b in breaks.split("; ")
        ]
        yield make_finding(
            "audit.shell-continuation-broken",
            f"{svc.name}: the shell stops this command at line {svc.extra.get('effective_end_line')}; "
            "flags after it (volumes, --shm-size, the image) are lost and a 64 MiB /dev/shm results.",
            evs,
            edits=[
                RepairContinuation(
                    why="continuation repaired: comments moved above the command, blanks after `\\` removed"
                )
            ],
        )


@deploy_rule("compose.yaml-invalid")
def yaml_invalid(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: a compose file that is not valid YAML only because one key is indented one
    column too far (tpdoctor re-indents it to analyse the rest; other YAML errors stop the audit).

    Why it matters: `docker compose` refuses the file, or, worse, a lenient tool reads the key under the wrong
    parent (a GPU reservation that silently does not apply).

    How to fix: align the key with its siblings (`audit --fix` does).
    """
    if svc is not ctx.model.services[0]:
        return
    for n in ctx.model.notes:
        if "YAML rejects" in n:
            line = int(n.split(":")[0].split()[1])
            yield make_finding(
                "compose.yaml-invalid",
                n,
                [Evidence(source=ctx.model.source, line=line, text=n)],
                edits=[Reindent()],
            )


PODMAN_DEFAULT_PIDS_LIMIT = 2048  # containers.conf pids_limit (containers/common pkg/config/default.go)
ASSUMED_POOL = 8  # CPUs assumed (a small GPU host) for a rank's pools when neither OMP_NUM_THREADS nor host facts say


@deploy_rule("limits.pids-exhausted")
def pids_limit(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: the pids limit of a GPU container (compose `pids_limit` / `deploy.resources.limits.pids`,
    `docker run` / `podman run --pids-limit`; Podman's default 2048 when a podman command sets none) and, for a
    non-root `user`, `ulimits: nproc`, against what its ranks start: ranks x (9 + 2 x (pool - 1)) tasks, the pool
    being the service's OMP_NUM_THREADS, else the host's CPUs from the host facts, else 8 assumed (one rank was
    measured at 39 threads with 16 CPUs and 9 with OMP_NUM_THREADS=1: `bench/gpu/results/threads-h100x1/`).

    Why it matters: every thread counts against the limit; below it pthread_create fails with EAGAIN (NCCL's
    `Call to pthread_create failed: Resource temporarily unavailable`, libgomp's `Thread creation failed`, OpenBLAS's
    `blas_thread_init`), and the job dies at start or when a DataLoader or Ray pool grows.

    How to fix: `pids_limit: -1` (or a number above the need), `--pids-limit -1` (Podman: `--pids-limit 0`), or
    OMP_NUM_THREADS / OPENBLAS_NUM_THREADS set to a few threads per rank.
    """
    if not is_gpu(svc):
        return
    limit, what = None, ""
    if svc.pids_limit is not None and svc.pids_limit > 0:
        limit, what = svc.pids_limit, f"pids limit {svc.pids_limit}"
    elif svc.pids_limit is None and svc.format == "podman":
        limit, what = PODMAN_DEFAULT_PIDS_LIMIT, f"Podman's default pids limit ({PODMAN_DEFAULT_PIDS_LIMIT})"
    user = (svc.user or "").split(":", 1)[0]
    nproc = parse_small_int(svc.ulimits.get("nproc", ""))
    if user not in ("", "0", "root") and nproc is not None and (limit is None or nproc < limit):
        limit, what = nproc, f"ulimits nproc {nproc} for user {user}"
    if limit is None:
        return
    cpus = usable_cpus(ctx.facts) if ctx.facts is not None else None
    per_rank, why = tasks_per_rank(
        svc.env.get("OMP_NUM_THREADS", ""), cpus, "host CPUs", (ASSUMED_POOL, f"at least {ASSUMED_POOL} CPUs assumed")
    )
    ranks = (tp_size(svc) or visible_gpus(svc) or 1) * (pp_size(svc) or 1)
    need = ranks * per_rank
    if limit >= 2 * need:
        return
    sev: SeverityName = "blocker" if limit < need else "degraded"
    yield make_finding(
        "limits.pids-exhausted",
        f"{svc.name} runs under {what}: its {ranks} rank(s) start about {need} tasks ({per_rank} each with {why}: "
        f"measured 39 per rank with 16 CPUs, 9 with OMP_NUM_THREADS=1), "
        + ("more than the limit allows" if limit < need else "within a factor of two of the limit")
        + "; pthread_create fails with EAGAIN once it is reached. Raise it (pids_limit: -1, --pids-limit -1) or "
        "set OMP_NUM_THREADS per rank.",
        [ev(svc, ctx, f"{what}; need {need} = {ranks} x {per_rank}")],
        context=fctx(svc, ctx),
        severity=sev,
    )
