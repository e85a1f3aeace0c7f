"""Security posture rules: privileged, seccomp, SELinux, AppArmor, user namespaces.
Sources: research/failures.md §5, #40-#41; moby profiles (seccomp default.json, apparmor template.go)."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.facts.caps import ALL_CAPS_MASK, has_cap
from tpdoctor.facts.container import container_runtime
from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.rules.gpus import in_container, infer_backend, numa_syscalls_refused, required_nodes
from tpdoctor.rules.registry import fact_rule

# A privileged container has every capability its runtime knows: 41 with Docker >= 23 on
# kernels >= 5.9, but only 38 (CHOWN..AUDIT_READ, bits 0-37) with Docker 20.10 (Debian 12's
# docker.io), and hosts that cannot grant one or two (CAP_SYS_RESOURCE on the CI machines) give
# fewer still: measured CapEff 0x3ffeffffff = 37 in the container matrix (privileged scenario).
# A default container has 14, cap_add of a few stays far below.
FULL_CAPS_MIN = 35
CONFINED_SELINUX_TYPES = ("container_t", "svirt_lxc_net_t", "container_init_t", "svirt_sandbox_file_t")
STOCK_APPARMOR = ("docker-default", "cri-containerd.apparmor.d", "containers-default", "crio-default")
# the security.privileged remedy (data/fixes/security.yaml) shown first for each backend
_PRIVILEGED_REMEDY = {"cuda": "least-privilege-cuda", "rocm": "least-privilege-rocm", "xpu": "least-privilege-xpu"}
# remedies that only fit one backend's ranks: the generic one maps render nodes only (Intel's need)
_REMEDY_BACKEND = {
    "drop-privileged": "xpu",
    "least-privilege-xpu": "xpu",
    "pidfd-route-xpu": "xpu",
    "least-privilege-cuda": "cuda",
    "least-privilege-rocm": "rocm",
}


def privileged_for(finding: Finding, backend: str | None) -> Finding:
    """A security.privileged finding with its backend's remedy first and no other vendor's (an
    NVIDIA container is not told to map render nodes); every remedy when the backend is unknown."""
    first = _PRIVILEGED_REMEDY.get(backend or "")
    if first is not None:
        kept = [f for f in finding.fixes if _REMEDY_BACKEND.get(f.id, backend) == backend]
        finding.fixes = sorted(kept, key=lambda f: f.id != first)  # stable: the rest keep their order
    return finding


def full_capabilities(facts: Facts) -> bool:
    eff = facts.process.cap_eff
    if eff is None:
        return False
    return bin(eff & ALL_CAPS_MASK).count("1") >= FULL_CAPS_MIN and bool(has_cap(facts, "SYS_ADMIN"))


@fact_rule("security.privileged")
def privileged(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The container runs privileged.

    **What it checks.** A (nearly) full effective capability set (≥ 35 of the 41 capabilities,
    CAP_SYS_ADMIN included) together with `Seccomp: 0`, which is what `privileged: true` gives;
    host devices such as `/dev/mem` or `/dev/kmsg` in the listing are added as evidence. On a
    known bare host nothing is reported, nor when `/.dockerenv` is the only container evidence
    on a booted root (/ on a disk, /dev a devtmpfs: a VM built from a container image, such as
    the H200 device machine); when container detection is unsure it is a notice.

    **Why it matters.** Privileged "fixes" multi-GPU start-up only by accident (it grants
    CAP_SYS_PTRACE and unconfined seccomp, so pidfd works; it does not create
    `/dev/dri/by-path`, failures.md §1.8, §2) and hands the container the host. Every failure
    family has a least-privilege fix.

    **How to fix.** Drop `privileged`, map only the GPU nodes, and add the one capability the
    chosen IPC route needs (see `tpdoctor check` without privileged, or `tpdoctor generate`).
    """
    if not full_capabilities(facts) or facts.process.seccomp != 0:
        return
    where = in_container(facts)
    if where is False:
        return
    evidence: list[tuple[str, str]] = [
        ("/proc/self/status", f"CapEff: {facts.process.cap_eff or 0:016x}, Seccomp: 0"),
    ]
    evidence += [
        (p, "host device visible") for p in ("/dev/mem", "/dev/kmsg", "/dev/sda", "/dev/vda") if facts.node(p)
    ]
    if container_runtime(facts) not in ("unknown", "none"):
        evidence.append(("container runtime", container_runtime(facts)))
    evidence += _oneccl_route(facts, options)
    be = infer_backend(facts, options)
    finding = make_finding(
        "security.privileged",
        "The process has every capability and no seccomp filter: the container is privileged.",
        evidence,
        severity=None if where else "notice",
        confidence="proves" if where else "suggests",
    )
    yield privileged_for(finding, be)


def _oneccl_route(facts: Facts, options: CheckOptions) -> list[tuple[str, str]]:
    """Why an Intel multi-rank job works here: which oneCCL route privileged opened.

    Measured with the real oneCCL 2021.14-2021.15 (docs/oneccl-real.md, scenarios privileged and
    privileged-drmfd): privileged passes by pidfd, and with CCL_ZE_IPC_EXCHANGE=drmfd it still fails."""
    from tpdoctor.oneccl.model import predict_mode
    from tpdoctor.rules.oneccl import applies

    if not applies(facts, options):
        return []
    p = predict_mode(facts, options)
    same = "cap_add: [SYS_PTRACE] alone does the same"
    if p.mode == "pidfd":
        why = (
            "oneCCL will use pidfd: its self-test passes only because privileged grants CAP_SYS_PTRACE "
            f"and turns seccomp off; /dev/dri/by-path is never needed. {same}"
        )
    elif p.mode == "sockets" and p.version.modern:
        why = (
            f"oneCCL will use sockets ({p.requested_source}): honoured only because privileged makes the "
            "pidfd self-test pass (CAP_SYS_PTRACE, seccomp off); without it oneCCL >= 2021.14 falls back "
            f"to drmfd. {same}"
        )
    else:
        why = f"oneCCL will use {p.mode} ({p.requested_source}): privileged does not help that route" + (
            ": drmfd needs /dev/dri/by-path" if p.mode == "drmfd" else ""
        )
    return [("oneCCL IPC exchange", why)]


@fact_rule("security.seccomp-unconfined")
def seccomp_unconfined(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Seccomp is off in a container that is not privileged.

    **What it checks.** `Seccomp: 0` in a known container without the full capability set
    (privileged is reported by `security.privileged`).

    **Why it matters.** `seccomp=unconfined` is usually added to let `pidfd_getfd`,
    `process_vm_readv` or `get_mempolicy` through. Docker and containerd already open those
    syscalls in their default profile when the matching capability is added (CAP_SYS_PTRACE,
    CAP_SYS_NICE), so unconfined only widens the attack surface (failures.md §5).

    **How to fix.** Remove `seccomp=unconfined` (`security_opt`), keep the default profile and
    `cap_add` the capability the syscall needs.
    """
    if facts.process.seccomp != 0 or full_capabilities(facts) or in_container(facts) is not True:
        return
    yield make_finding(
        "security.seccomp-unconfined",
        "Seccomp is disabled although the container is not privileged.",
        [("/proc/self/status", "Seccomp: 0")],
    )


def _selinux_type(label: str | None) -> str | None:
    parts = (label or "").split(":")
    return parts[2] if len(parts) >= 3 else None


def _probe_denied(facts: Facts, paths: list[str], errno: str) -> list[str]:
    opens = facts.probes.opens if facts.probes else {}
    return [p for p in paths if opens.get(p) == errno]


@fact_rule("lsm.selinux-device-denied")
def selinux_devices(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """SELinux lets the container type use the GPU nodes.

    **What it checks.** SELinux enforcing (`/sys/fs/selinux/enforce` = 1) with a confined
    container label (`container_t`, from `/proc/self/attr/current`). A live open probe that got
    EACCES on a GPU node although DAC allows it proves the denial; otherwise, for NVIDIA and
    AMD nodes (not covered by the `container_use_dri_devices` tunable) it is a suggestion.

    **Why it matters.** AVC denials on `chr_file` make the GPU open fail with EACCES even as
    root (failures.md #40).

    **How to fix.** On the host: `setsebool -P container_use_devices 1` (or a custom type with
    `--security-opt label=type:…`); `label=disable` only as a last resort.
    """
    if facts.lsm.selinux_enforce != 1 or _selinux_type(facts.lsm.selinux_label) not in CONFINED_SELINUX_TYPES:
        return
    backend = infer_backend(facts, options)
    nodes = [n.path for n in required_nodes(facts, backend)]
    denied = _probe_denied(facts, nodes, "EACCES")
    ev: list[tuple[str, str]] = [
        ("/sys/fs/selinux/enforce", "1"),
        ("/proc/self/attr/current", facts.lsm.selinux_label or ""),
    ]
    if denied:
        yield make_finding(
            "lsm.selinux-device-denied",
            f"SELinux ({_selinux_type(facts.lsm.selinux_label)}) denies {', '.join(denied)}.",
            ev + [(p, "open: EACCES") for p in denied],
        )
    elif backend in ("cuda", "rocm") and nodes:
        yield make_finding(
            "lsm.selinux-device-denied",
            f"SELinux is enforcing with {_selinux_type(facts.lsm.selinux_label)}: {backend} device nodes need "
            "container_use_devices on the host.",
            ev,
            severity="degraded",
            confidence="suggests",
        )


def _pidfd_route(facts: Facts, options: CheckOptions) -> str | None:
    backend = infer_backend(facts, options)
    if backend == "xpu" and facts.env.get("CCL_ZE_IPC_EXCHANGE", "pidfd") == "pidfd":
        return "oneCCL pidfd exchange"
    conf = (facts.env.get("PYTORCH_CUDA_ALLOC_CONF", "") + facts.env.get("PYTORCH_ALLOC_CONF", "")).lower()
    if backend == "cuda" and "expandable_segments:true" in conf.replace(" ", ""):
        return "PyTorch expandable segments"
    return None


@fact_rule("lsm.apparmor-ptrace-denied")
def apparmor_ptrace(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The AppArmor profile allows ptrace between peer ranks when pidfd is used.

    **What it checks.** When a pidfd route is in use (oneCCL `pidfd` exchange, PyTorch
    expandable segments): a live sibling pidfd probe that failed with EPERM although
    CAP_SYS_PTRACE is held and Yama allows it proves an AppArmor denial; a profile that is not a
    stock container profile (`docker-default`, containerd's, CRI-O's) is a suggestion.

    **Why it matters.** `pidfd_getfd` runs the ptrace access check, which AppArmor mediates.
    Docker's template emits `ptrace (trace,read,tracedby,readby) peer=docker-default` only with
    AppArmor parser ≥ 2.8.95 (moby `profiles/apparmor/template.go`); custom profiles often lack
    it (failures.md §5).

    **How to fix.** Add `ptrace (trace, read, tracedby, readby) peer=<profile>,` to the profile,
    or use the drmfd route (Intel) / disable expandable segments (CUDA);
    `apparmor=unconfined` only as a last resort.
    """
    profile = facts.lsm.apparmor_profile
    route = _pidfd_route(facts, options)
    if not profile or profile.startswith("unconfined") or route is None:
        return
    probe = facts.probes.pidfd_sibling_test if facts.probes else None
    ev: list[tuple[str, str]] = [("/proc/self/attr/current", profile)]
    if probe is not None and not probe.ok:
        if probe.errno == "EPERM" and has_cap(facts, "SYS_PTRACE") and (facts.kernel.ptrace_scope or 0) < 3:
            yield make_finding(
                "lsm.apparmor-ptrace-denied",
                f"{route}: the sibling pidfd_getfd probe got EPERM with CAP_SYS_PTRACE; AppArmor ({profile}) refuses it.",
                [*ev, ("probe pidfd_sibling_test", f"{probe.step}: {probe.errno}")],
            )
        return
    if probe is None and not profile.split(" ")[0].startswith(STOCK_APPARMOR):
        yield make_finding(
            "lsm.apparmor-ptrace-denied",
            f"{route} needs ptrace between ranks; the custom AppArmor profile {profile} may not allow it.",
            ev,
            severity="degraded",
            confidence="suggests",
        )


@fact_rule("userns.gid-unmapped")
def userns_gid(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """GPU device groups are mapped in the user namespace.

    **What it checks.** In a user namespace (`/proc/self/uid_map` is not the identity map), the
    GPU nodes of the backend whose group shows as the overflow gid (65534, `nogroup`) and whose
    mode does not let "other" read and write them.

    **Why it matters.** Device nodes keep host ownership; under rootless Podman or Docker
    `userns-remap` the host render/video gid is outside the map, `group_add` cannot grant it, and
    the open fails with EACCES (failures.md #41).

    **How to fix.** Podman rootless: `--group-add keep-groups` (crun). Docker userns-remap:
    `--userns=host` for this container, or run rootful with a numeric `group_add`. Avoid
    `chmod 666` on the host nodes.
    """
    if facts.userns.is_initial is not False:
        return
    overflow = facts.userns.overflow_gid if facts.userns.overflow_gid is not None else 65534
    backend = infer_backend(facts, options)
    bad = [
        n
        for n in required_nodes(facts, backend)
        if n.gid == overflow
        and n.mode is not None
        and (n.mode & 0o006) != 0o006
        and n.uid != facts.process.uid
    ]
    if not bad:
        return
    yield make_finding(
        "userns.gid-unmapped",
        f"In a user namespace the group of {', '.join(n.path for n in bad)} is unmapped (gid {overflow}).",
        [("/proc/self/gid_map", "; ".join(facts.userns.gid_map))]
        + [(n.path, f"gid {n.gid} mode {oct(n.mode or 0)}") for n in bad],
    )


@fact_rule("seccomp.numa-syscalls-denied")
def numa_syscalls(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The seccomp profile lets NUMA-aware code bind memory (CAP_SYS_NICE).

    **What it checks.** `Seccomp: 2` (filter) without CAP_SYS_NICE in a Docker or containerd
    (Kubernetes) container. Reported as a notice: most GPU serving works without NUMA binding.

    **Why it matters.** Docker's and containerd's default profile allows `get_mempolicy`,
    `mbind` and `set_mempolicy` only with CAP_SYS_NICE (moby `profiles/seccomp/default.json`).
    vLLM's CPU NUMA binding (`VLLM_CPU_OMP_THREADS_BIND`) then fails with `numa_migrate_pages
    failed. errno: 1` (vllm#10556), oneCCL logs `no membind support for NUMA node`
    (failures.md #15), and NCCL's cuMem host probe falls back to /dev/shm (failures.md #32,
    reported for CUDA as `nccl.cumem-host-fallback`). Measured on Docker 20.10.24 (the CI
    engine): get_mempolicy and set_mempolicy get EPERM by default and succeed with
    `--cap-add SYS_NICE`; migrate_pages is refused even then and succeeds only with
    `seccomp=unconfined`.

    **How to fix.** `cap_add: [SYS_NICE]` keeping the default seccomp profile; if a workload
    still needs `migrate_pages`, a custom profile that allows it, or drop the explicit NUMA
    binding. `seccomp=unconfined` only as a last resort.
    """
    if numa_syscalls_refused(facts) is not True:
        return
    cuda = infer_backend(facts, options) == "cuda"
    yield make_finding(
        "seccomp.numa-syscalls-denied",
        f"Seccomp filtering without CAP_SYS_NICE in a {container_runtime(facts)} container: get_mempolicy, "
        "mbind and set_mempolicy are refused, so NUMA binding (vLLM CPU binding, oneCCL membind"
        + (", NCCL's cuMem host probe" if cuda else "")
        + ") will not happen.",
        [
            ("/proc/self/status", f"Seccomp: 2, CapEff {facts.process.cap_eff or 0:016x} (SYS_NICE absent)"),
            ("container runtime", container_runtime(facts)),
        ],
        related=["nccl.cumem-host-fallback"] if cuda else [],
        severity="notice",
        confidence="suggests",
    )
