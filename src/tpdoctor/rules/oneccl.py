"""oneCCL rules: the IPC exchange mode oneCCL will really use, and what that mode needs.

The model lives in oneccl/model.py (research/failures.md §1). These rules run for the Intel
backend when at least two local ranks exchange IPC handles (tp × pp ≥ 2).
"""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.model import CheckOptions, Confidence, Evidence, Facts, Finding, SeverityName, make_finding
from tpdoctor.oneccl.model import ModePrediction, cross_rank_ptrace, drmfd_walk, predict_mode
from tpdoctor.rules.context import facts_fix_context
from tpdoctor.rules.gpus import infer_backend, multi_rank, rank_count, sysfs_gpu, visible_gpu_paths
from tpdoctor.rules.registry import fact_rule


def applies(facts: Facts, options: CheckOptions) -> bool:
    backend = infer_backend(facts, options)
    return backend == "xpu" and multi_rank(facts, options, backend)


def _mode_evidence(p: ModePrediction) -> list[Evidence]:
    evs = [
        Evidence(source="oneCCL version", text=p.version.label),
        Evidence(source=p.requested_source, text=f"requested IPC exchange: {p.requested}"),
    ]
    evs += [Evidence(source=s, text=t) for s, t in p.pidfd.reasons]
    evs.append(Evidence(source="prediction", text=f"oneCCL will use: {p.mode}"))
    return evs


def _pidfd_remedy(reasons: list[tuple[str, str]]) -> str | None:
    """The remedy (data/fixes/oneccl.yaml) for the reason the self-test fails here: seccomp
    without CAP_SYS_PTRACE -> pidfd-sys-ptrace; an unwritable /tmp -> writable-tmp; else none."""
    text = " ".join(f"{src} {why}" for src, why in reasons)
    if "CAP_SYS_PTRACE" in text or "pidfd_getfd" in text or "EPERM" in text:
        return "pidfd-sys-ptrace"
    if "/tmp" in text or "mkstemp" in text:
        return "writable-tmp"
    return None


def _confidence(certain: bool) -> Confidence:
    return "proves" if certain else "suggests"


@fact_rule("oneccl.pidfd-unsupported", "oneccl.sockets-overridden")
def ipc_exchange_mode(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Predict the IPC exchange mode oneCCL will actually use.

    What it checks: runs oneCCL's mode choice on the facts. oneCCL ≥2021.14 defaults to pidfd
    (env.cpp:306) and, in `ccl_comm::init_ipc_exchange_mode` (comm.cpp:273-308 @3afa1bb7),
    uses pidfd only when requested *and* its self-test passes; otherwise it forces drmfd, even
    over CCL_ZE_IPC_EXCHANGE=sockets (oneCCL issue #213). The self-test
    (`is_pidfd_supported`, ze_fd_manager.cpp:65-96) does mkstemp in /tmp, pidfd_open(getpid())
    and pidfd_getfd on its own fd; it fails with kernel < 5.6, a read-only /tmp, or a seccomp
    filter that refuses pidfd_getfd (Docker's and containerd's default profiles do unless the
    container has CAP_SYS_PTRACE; Podman's allows it). ≤2021.13 (comm.cpp:272-294 @2021.13)
    defaults to drmfd and honours sockets.

    Why it matters: the mode decides what must be in the container: drmfd needs
    /dev/dri/by-path, pidfd needs ptrace permission between ranks. A silent fallback is why
    `privileged: true` "fixes" the article's error: it makes the self-test pass.

    How to fix: either give drmfd what it needs (read-only by-path mount, see
    oneccl.bypath-missing) or let pidfd work with `cap_add: [SYS_PTRACE]` on the default
    seccomp profile.
    """
    if not applies(facts, options):
        return
    p = predict_mode(facts, options)
    ctx = facts_fix_context(facts)
    conf = _confidence(p.pidfd.proven or p.pidfd.ok is not None)
    if p.pidfd.ok is not True and (p.version.modern or p.requested == "pidfd"):
        if p.version.modern:
            msg = (
                f"oneCCL's pidfd self-test will fail here, so oneCCL {p.version.label} "
                f"falls back to drmfd (log: 'pidfd is not supported, fallbacks to drmfd exchange mode')"
            )
            severity: SeverityName | None = None
        else:
            msg = "pidfd was requested but its self-test fails; oneCCL ≤2021.13 has no fallback"
            severity = "blocker"
        if p.pidfd.ok is None:
            msg += "; the pidfd verdict is inferred (seccomp profile or kernel unknown)"
        yield make_finding(
            "oneccl.pidfd-unsupported",
            msg,
            _mode_evidence(p),
            context=ctx,
            related=["oneccl.bypath-missing"] if p.mode == "drmfd" else [],
            confidence=conf,
            severity=severity,
            prefer=_pidfd_remedy(p.pidfd.reasons),
        )
    if p.version.modern and p.requested == "sockets" and p.fallback:
        yield make_finding(
            "oneccl.sockets-overridden",
            "CCL_ZE_IPC_EXCHANGE=sockets will be ignored: with pidfd unsupported oneCCL "
            "≥2021.14 forces drmfd (comm.cpp:284-289)",
            _mode_evidence(p),
            context=ctx,
            related=["oneccl.pidfd-unsupported"],
            confidence=conf,
        )


@fact_rule(
    "oneccl.bypath-missing",
    "oneccl.bypath-no-render-entries",
    "oneccl.bypath-dangling",
    "oneccl.bypath-stale",
    "oneccl.drmfd-dir-no-slash",
)
def drmfd_device_walk(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Walk the drmfd device directory exactly as oneCCL's ze_fd_manager does.

    What it checks (when the predicted mode is drmfd):
    - the directory: CCL_DRMFD_DEV_RENDER_DIR_PATH (oneCCL ≥2021.13.1, env.cpp:698-699) or
      /dev/dri/by-path/ (env.cpp:315) must open: `opendir` + "could not open device directory"
      (ze_fd_manager.cpp:158-159 @3afa1bb7, again at :187-188);
    - the path is built as "%s%s" (:168), so an override must end in "/";
    - entries must contain the suffix "-render" (:164), else "device names are empty" (:218);
    - every listed entry is opened O_RDWR (:227-229): a link to a node absent from the
      container fails with ENOENT;
    - the BDF is parsed from the 12 characters before "-render" (find_bdf, :273-297) and every
      visible GPU's PCI address must be among them, else "invalid physical_idx" (:108-146).

    Why it matters: Docker `devices:` and `privileged` copy only device nodes, never the
    by-path symlinks, so drmfd fails at start-up with `opendir failed`.

    How to fix: bind-mount the host's /dev/dri/by-path read-only and pass every render node
    it lists; or generate a directory of pci-<BDF>-render links and point
    CCL_DRMFD_DEV_RENDER_DIR_PATH at it (trailing slash); or make pidfd work (SYS_PTRACE).
    """
    if not applies(facts, options):
        return
    p = predict_mode(facts, options)
    if p.mode != "drmfd":
        return
    conf = _confidence(p.certain)
    walk = drmfd_walk(facts, p.version)
    why = "oneCCL will use drmfd" + (" (forced fallback: pidfd unsupported)" if p.fallback else "")
    head = [
        Evidence(source="prediction", text=why),
        Evidence(source=walk.source, text=f"drmfd directory: {walk.directory}"),
    ]
    visible = visible_gpu_paths(facts, "xpu")
    ctx = facts_fix_context(facts)
    related = ["oneccl.pidfd-unsupported"] if p.fallback else []
    if not walk.exists:
        yield make_finding(
            "oneccl.bypath-missing",
            f"{walk.directory} does not exist in this container; oneCCL will stop with "
            "'opendir failed: could not open device directory' (ze_fd_manager.cpp:158-159)",
            [*head, Evidence(source=walk.directory, text="absent")],
            context=ctx,
            related=related,
            confidence=conf,
        )
        return
    if not walk.slash_ok:
        yield make_finding(
            "oneccl.drmfd-dir-no-slash",
            f"CCL_DRMFD_DEV_RENDER_DIR_PATH={walk.directory} lacks the trailing '/': oneCCL opens "
            f"'{walk.directory}<name>' (ze_fd_manager.cpp:168), which does not exist",
            head,
            context={**ctx, "drmfd_dir": walk.directory.rstrip("/") + "/"},
            confidence=conf,
        )
        return
    if not walk.entries:
        seen = ", ".join(walk.ignored[:8]) or "nothing"
        yield make_finding(
            "oneccl.bypath-no-render-entries",
            f"{walk.directory} holds no entry containing '{walk.suffix}' ({seen}); oneCCL will "
            "stop with 'device names are empty' (ze_fd_manager.cpp:218)",
            head,
            context=ctx,
            confidence=conf,
        )
        return
    dangling = [e for e in walk.entries if e.target is None]
    if dangling:
        evs = [
            Evidence(source=e.entry.path, text=f"-> {e.entry.target or '?'}: not present (open gives ENOENT)")
            for e in dangling
        ]
        targets = sorted({e.entry.resolved for e in walk.entries if e.entry.resolved})
        yield make_finding(
            "oneccl.bypath-dangling",
            f"{len(dangling)} of {len(walk.entries)} entries in {walk.directory} point at render nodes "
            "this container does not have; oneCCL opens every entry (ze_fd_manager.cpp:227-229)",
            [*head, *evs],
            context=facts_fix_context(facts, nodes=targets or None),
            confidence=conf,
        )
    listed = {e.bdf for e in walk.entries if e.bdf}
    stale: list[Evidence] = []
    for path in visible:
        gpu = sysfs_gpu(facts, path)
        if gpu is not None and gpu.bdf and gpu.bdf not in listed:
            stale.append(Evidence(source=f"/sys/class/drm/{gpu.render}/device", text=f"{path} is {gpu.bdf}"))
    for e in walk.entries:
        if e.bdf is None:
            stale.append(Evidence(source=e.entry.path, text="no BDF in the 12 characters before '-render'"))
        elif e.target is not None:
            gpu = sysfs_gpu(facts, e.target.path)
            if gpu is not None and gpu.bdf and gpu.bdf != e.bdf:
                stale.append(
                    Evidence(source=e.entry.path, text=f"named {e.bdf} but {e.target.path} is {gpu.bdf}")
                )
    if stale:
        yield make_finding(
            "oneccl.bypath-stale",
            f"the names in {walk.directory} do not match the PCI addresses of the visible GPUs; "
            "oneCCL will stop with 'invalid physical_idx' (ze_fd_manager.cpp:108-146)",
            [
                *head,
                Evidence(source=walk.directory, text="lists " + (", ".join(sorted(listed)) or "no BDF")),
                *stale,
            ],
            context=ctx,
            confidence=conf,
        )


@fact_rule("oneccl.pidfd-ptrace-denied")
def pidfd_cross_rank(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """On the pidfd route, check that one rank may pidfd_getfd another (Yama, CAP_SYS_PTRACE).

    What it checks (when the predicted mode is pidfd): the real exchange does
    pidfd_open(remote_pid) + pidfd_getfd (ze_fd_manager.cpp:330-341, 388-409), which the
    kernel checks with PTRACE_MODE_ATTACH_REALCREDS. The self-test targets its own process and
    never meets Yama. Ranks are siblings: ptrace_scope 1 and 2 need CAP_SYS_PTRACE, 3 refuses
    always. Live, a sibling fork test proves it. Ranks must also share one PID namespace (the
    remote PID comes from an allgather), i.e. run in one container.

    Why it matters: start-up fails with "pidfd_getfd failed … errno: Operation not permitted"
    after the warning "Check permissions and /proc/sys/kernel/yama/ptrace_scope".

    How to fix: `cap_add: [SYS_PTRACE]` (scope 1-2); with scope 3, or where capabilities are not
    allowed, CCL_ZE_IPC_EXCHANGE=drmfd plus the read-only by-path mount.
    """
    if not applies(facts, options):
        return
    p = predict_mode(facts, options)
    if p.mode != "pidfd":
        return
    verdict = cross_rank_ptrace(facts)
    if verdict.ok is False:
        yield make_finding(
            "oneccl.pidfd-ptrace-denied",
            "oneCCL will pick pidfd (its self-test passes), but a rank may not pidfd_getfd a sibling "
            "rank: start-up fails with 'pidfd_getfd failed … Operation not permitted'",
            [*_mode_evidence(p), *(Evidence(source=s, text=t) for s, t in verdict.reasons)],
            context=facts_fix_context(facts),
            related=["oneccl.bypath-missing"] if facts.kernel.ptrace_scope == 3 else [],
            confidence="proves" if verdict.proven or p.certain else "suggests",
        )


@fact_rule("oneccl.sockets-pt2pt")
def sockets_pipeline(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Pipeline parallel with the sockets exchange mode.

    What it checks: the predicted mode is sockets and `--pp` is above 1. sockets cannot do
    send/recv: "sockets ipc_exchange_mode is not supported for pt2pt operations, use drmfd or
    pidfd" (ze_handle_exchange_entry.cpp:544-548 @b382bf7).

    Why it matters: ipex-llm's pipeline-parallel script sets CCL_ZE_IPC_EXCHANGE=sockets.

    How to fix: use drmfd (by-path mount) or pidfd (SYS_PTRACE) for pipeline parallel.
    """
    if options.pp <= 1 or not applies(facts, options):
        return
    p = predict_mode(facts, options)
    if p.mode == "sockets":
        yield make_finding(
            "oneccl.sockets-pt2pt",
            f"pipeline parallel (--pp {options.pp}) needs send/recv, which the sockets exchange mode "
            "refuses (ze_handle_exchange_entry.cpp:547)",
            [*_mode_evidence(p), Evidence(source="--pp", text=str(options.pp))],
            context=facts_fix_context(facts),
            confidence=_confidence(p.certain),
        )


@fact_rule("oneccl.tmp-unwritable")
def tmp_writable(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """oneCCL needs a writable /tmp, whatever the mode.

    What it checks: /tmp exists and is writable (live: a real mkstemp; --root: the /tmp mount's
    ro flag and its mode). The pidfd self-test mkstemp()s there (ze_fd_manager.cpp:65-96);
    drmfd binds /tmp/ccl-ipc-fd-sock-* (:497-502); sockets binds /tmp/ccl-handle-*
    (ze_handle_exchange_entry.cpp:50-61).

    Why it matters: with `read_only: true` and no tmpfs on /tmp, pidfd silently falls back to
    drmfd, and drmfd then fails with "bind failed … Read-only file system".

    How to fix: `tmpfs: [/tmp:exec]` (exec: a tmpfs is noexec by default and torch.compile loads the shared objects it
    builds in /tmp; Kubernetes: an emptyDir at /tmp).
    """
    if facts.tmp_writable is not False or not applies(facts, options):
        return
    evs = [Evidence(source="/tmp", text="not writable")]
    holders = [m for m in facts.mounts if m.target in ("/tmp", "/")]
    m = max(holders, key=lambda m: len(m.target), default=None)  # /tmp's own mount, else /
    if m is not None:
        evs.append(Evidence(source="/proc/self/mounts", text=f"{m.target} {m.fstype} {','.join(m.options)}"))
    yield make_finding(
        "oneccl.tmp-unwritable",
        "/tmp is not writable: oneCCL's pidfd self-test and its IPC sockets need it",
        evs,
        context=facts_fix_context(facts),
        related=["oneccl.pidfd-unsupported"],
    )


def _atl_shm_enabled(value: str | None) -> bool:
    """CCL_ATL_SHM as oneCCL reads it: an integer, non-zero is on (env.cpp env_2_type)."""
    v = (value or "").strip()
    return v.lstrip("-").isdigit() and int(v) != 0


@fact_rule("oneccl.shm-provider-not-enabled")
def shm_provider_without_atl_shm(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """FI_PROVIDER=shm needs CCL_ATL_SHM=1.

    What it checks: FI_PROVIDER is exactly `shm`, oneCCL's transport is OFI (CCL_ATL_TRANSPORT=ofi,
    or unset: oneCCL switches to ofi without an MPI launcher), and CCL_ATL_SHM is not on.
    `atl_ofi::open_providers` (oneapi-src/oneCCL src/atl/ofi/atl_ofi.cpp; the shipped 2021.14.0
    reports line 968) refuses that: "shm provider is requested through FI_PROVIDER but not
    requested from CCL level", and the communicator fails with "failed to initialize ATL" before
    any IPC exchange step. Measured with the real oneCCL 2021.14-2021.16 from PyPI in Docker
    (tests/oneccl_real, docs/oneccl-real.md).

    Why it matters: the article's five variables set FI_PROVIDER=shm but not CCL_ATL_SHM; the
    ipex-llm image's start script adds CCL_ATL_SHM=1, so a custom entrypoint that copies only the
    five fails here.

    How to fix: set CCL_ATL_SHM=1 next to FI_PROVIDER=shm, or use FI_PROVIDER=tcp.
    """
    env = facts.env
    if env.get("FI_PROVIDER", "").strip() != "shm" or not applies(facts, options):
        return
    transport = env.get("CCL_ATL_TRANSPORT", "").strip().lower()
    if transport not in ("", "ofi") or _atl_shm_enabled(env.get("CCL_ATL_SHM")):
        return
    yield make_finding(
        "oneccl.shm-provider-not-enabled",
        "FI_PROVIDER=shm without CCL_ATL_SHM=1: oneCCL's OFI transport refuses it ('shm provider is "
        "requested through FI_PROVIDER but not requested from CCL level') and the communicator fails "
        "with 'failed to initialize ATL'",
        [
            Evidence(source="FI_PROVIDER", text="shm"),
            Evidence(source="CCL_ATL_SHM", text=env.get("CCL_ATL_SHM", "unset")),
            Evidence(source="CCL_ATL_TRANSPORT", text=transport or "unset (ofi without an MPI launcher)"),
        ],
        context=facts_fix_context(facts),
        confidence="proves" if transport == "ofi" else "suggests",
    )


def auto_worker_cpus(online: int, ranks: int, workers: int) -> list[int]:
    """env_2_worker_affinity's 'auto' without I_MPI_AVAILABLE_CORES: the last N online CPUs."""
    # i % online repeats after `online` steps: the first min(size, online) give every core there is,
    # so a CCL_WORKER_COUNT of 1e11 costs `online` steps, not 1e11
    size = min(ranks * workers, online)
    return sorted({online - (i % online) - 1 for i in range(size)}) if online > 0 else []


@fact_rule("oneccl.worker-affinity")
def worker_affinity(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """oneCCL's automatic worker pinning against the container's cpuset.

    What it checks: with CCL_WORKER_AFFINITY unset or "auto" (and no I_MPI_AVAILABLE_CORES),
    `env_2_worker_affinity` (src/common/env/env.cpp @b382bf7) pins local_ranks ×
    CCL_WORKER_COUNT workers to the *last* cores of sysconf(_SC_NPROCESSORS_ONLN), the host's
    count, not the cpuset's. Those cores must be in this process's affinity mask.

    Why it matters: a worker pinned outside the cpuset fails to start: "failed to start worker
    # 0" (exec.cpp:128-137, base_thread.cpp:20-39).

    How to fix: set CCL_WORKER_AFFINITY to CPUs inside the cpuset, or drop the cpuset.
    """
    if not applies(facts, options):
        return
    env = facts.env
    if env.get("CCL_WORKER_AFFINITY", "auto") not in ("", "auto") or env.get("I_MPI_AVAILABLE_CORES"):
        return
    online, allowed = facts.cpu.online, facts.cpu.allowed
    if not online or not allowed:
        return
    try:
        workers = max(int(env.get("CCL_WORKER_COUNT", "1")[:18]), 1)
    except ValueError:
        workers = 1
    ranks = rank_count(options, len(visible_gpu_paths(facts, "xpu")))
    wanted = auto_worker_cpus(online, ranks, workers)
    outside = [c for c in wanted if c not in set(allowed)]
    if not outside:
        return
    usable = sorted(allowed)[-len(wanted) :] if len(allowed) >= len(wanted) else sorted(allowed)
    yield make_finding(
        "oneccl.worker-affinity",
        f"oneCCL will pin {ranks}×{workers} workers to CPUs {_cpus(wanted)}, but this process may only "
        f"use {_cpus(allowed)}; CPUs {_cpus(outside)} are outside the cpuset",
        [
            Evidence(source="sysconf(_SC_NPROCESSORS_ONLN)", text=str(online)),
            Evidence(source=facts.cpu.cpuset_source or "cpuset", text=_cpus(allowed)),
            Evidence(source="CCL_WORKER_COUNT", text=str(workers)),
        ],
        context=facts_fix_context(facts, extra={"worker_affinity": ",".join(str(c) for c in usable)}),
    )


def _cpus(cpus: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    runs: list[list[int]] = []
    for c in sorted(set(cpus)):
        if runs and runs[-1][-1] == c - 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
