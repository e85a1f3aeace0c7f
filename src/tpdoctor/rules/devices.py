"""Device rules: is each GPU node a rank needs present, allowed by the device cgroup, and
readable by the process's groups? Live probes prove it by errno; in --root mode the node's
owner, group and mode, the process's ids and capabilities, and cgroup v1 devices.list decide."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.facts.caps import has_cap
from tpdoctor.model import CheckOptions, Confidence, Evidence, Facts, Finding, make_finding
from tpdoctor.model.facts import DeviceNode
from tpdoctor.rules.context import facts_fix_context
from tpdoctor.rules.gpus import (
    any_gpu_node,
    host_missing_render_nodes,
    infer_backend,
    render_nodes,
    visible_gpu_paths,
)
from tpdoctor.rules.registry import fact_rule


def _gpu_nodes(facts: Facts) -> list[DeviceNode]:
    """Char nodes a rank opens: render nodes, and /dev/kfd."""
    nodes = [n for n in render_nodes(facts) if n.kind == "char"]
    kfd = facts.node("/dev/kfd")
    if kfd is not None and kfd.kind == "char":
        nodes.append(kfd)
    return nodes


@fact_rule("device.no-gpu", "device.render-node-missing")
def gpu_presence(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Are there as many GPUs visible as the job's tensor-parallel size?

    What it checks: the GPU nodes of the backend in this process's /dev (render nodes for
    xpu/rocm, /dev/nvidiaN for cuda). With none at all it says so (notice). With `--tp N`
    above the number visible it is a blocker: device.render-node-missing when sysfs shows the
    host has the missing render nodes (they were not passed into the container); otherwise
    rules/parallel.py reports vllm.tp-exceeds-visible-gpus.

    Why it matters: a rank whose GPU node is absent fails at device enumeration ("tensor
    parallel size N is not allowed", "invalid device ordinal").

    How to fix: pass one `devices:` entry per render node (never rename them), or lower --tp.
    """
    backend = infer_backend(facts, options)
    visible = visible_gpu_paths(facts, backend)
    if not any_gpu_node(facts):
        yield make_finding(
            "device.no-gpu",
            "no GPU is present: no /dev/dri/renderD*, /dev/nvidia* or /dev/kfd node is visible",
            [Evidence(source="/dev", text="no GPU device node")],
            context=facts_fix_context(facts, backend=backend),  # the NVIDIA driver's here: `--gpus all` itself
        )
    if options.tp is None or options.tp <= len(visible):
        return
    host_missing = host_missing_render_nodes(facts, backend, visible)
    evs = [
        Evidence(source="--tp", text=str(options.tp)),
        Evidence(
            source="/dev", text=f"{len(visible)} {backend or 'GPU'} node(s): {' '.join(visible) or 'none'}"
        ),
    ]
    if host_missing:
        nodes = sorted([*visible, *host_missing])[: max(options.tp, len(visible))]
        yield make_finding(
            "device.render-node-missing",
            f"--tp {options.tp} needs {options.tp} GPUs but only {len(visible)} render node(s) are in the "
            f"container; sysfs shows {' '.join(host_missing)} on the host",
            [
                *evs,
                *(Evidence(source="/sys/class/drm", text=f"{m} exists on the host") for m in host_missing),
            ],
            context=facts_fix_context(facts, nodes=nodes, gpu_count=options.tp),
        )


def _cgroup_allows(rules: list[str], node: DeviceNode) -> bool:
    """cgroup v1 devices.list: 'c 226:128 rwm', 'c 226:* rw', 'a *:* rwm'."""
    for rule in rules:
        parts = rule.split()
        if len(parts) != 3:
            continue
        kind, numbers, access = parts
        if kind not in ("a", "c"):
            continue
        major, _, minor = numbers.partition(":")
        if major not in ("*", str(node.major)) or minor not in ("*", str(node.minor)):
            continue
        if kind == "a" or ("r" in access and "w" in access):
            return True
    return False


@fact_rule("device.cgroup-denied", "device.no-driver")
def device_cgroup(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Does the device cgroup let this process open each GPU node?

    What it checks: live, open(O_RDWR) of every GPU node: EPERM means the node is visible
    (bind-mounted) but not in the cgroup's allow list; ENXIO means the open was allowed but
    no driver answers (device.no-driver). EACCES hides the cgroup's answer (the kernel checks
    DAC first: fs/namei.c inode_permission before devcgroup_inode_permission), so then, and
    with --root, cgroup v1's devices.list decides when readable, else a /dev/dri bind mount
    from the host's devtmpfs (suggests).

    Why it matters: oneCCL's drmfd open fails with "open failed: fd: -1, errno: Operation not
    permitted" (ze_fd_manager.cpp:227-229); Level Zero sees no device.

    How to fix: map each node as a device (`devices:`, `--device`), not as a volume.
    """
    nodes = _gpu_nodes(facts)
    if not nodes:
        return
    probes = facts.probes
    denied: list[Evidence] = []
    no_driver: list[Evidence] = []
    confidence: Confidence = "proves"
    for n in nodes:
        result = probes.opens.get(n.path) if probes is not None else None
        if result == "EPERM":
            denied.append(Evidence(source=n.path, text="open(O_RDWR): EPERM (device cgroup)"))
        elif result == "ENXIO":
            no_driver.append(Evidence(source=n.path, text=f"open(O_RDWR): ENXIO ({n.major}:{n.minor})"))
        elif (
            result in (None, "EACCES")  # EACCES: the kernel checks DAC before the device cgroup
            and facts.container.device_rules is not None
            and not _cgroup_allows(facts.container.device_rules, n)
        ):
            denied.append(
                Evidence(
                    source="/sys/fs/cgroup/devices/devices.list",
                    text=f"no rw rule for c {n.major}:{n.minor} ({n.path})"
                    + (": hidden behind EACCES, it answers once the group is fixed" if result else ""),
                )
            )
    if not denied and probes is None:
        for m in facts.mounts:
            bind_dev = m.fstype == "devtmpfs" and m.target.startswith("/dev/dri")
            if bind_dev:
                denied.append(
                    Evidence(
                        source="/proc/self/mounts",
                        text=f"{m.source} on {m.target} ({m.fstype}): a bind mount, not a device mapping",
                    )
                )
                confidence = "suggests"
    ctx = facts_fix_context(facts)
    if denied:
        yield make_finding(
            "device.cgroup-denied",
            "GPU nodes are visible but the device cgroup refuses to open them",
            denied,
            context=ctx,
            confidence=confidence,
        )
    if no_driver:
        yield make_finding(
            "device.no-driver",
            "the device cgroup allows the GPU nodes but no kernel driver answers (ENXIO)",
            no_driver,
            context=ctx,
        )


def _dac_allows(facts: Facts, n: DeviceNode) -> bool | None:
    """May the process open n read-write by mode bits? (root needs CAP_DAC_OVERRIDE to bypass)."""
    uid, mode = facts.process.uid, n.mode
    if uid is None or mode is None:
        return None
    if uid == 0 and has_cap(facts, "DAC_OVERRIDE") is not False:
        return True
    groups = {*facts.process.groups, *([facts.process.gid] if facts.process.gid is not None else [])}
    if uid == n.uid:
        bits = mode >> 6 & 0o7
    elif n.gid in groups:
        bits = mode >> 3 & 0o7
    else:
        bits = mode & 0o7
    return bits & 0o6 == 0o6


def _refused_by_mode_bits(facts: Facts) -> list[DeviceNode]:
    """GPU nodes the process cannot open read-write: a live open(O_RDWR) that got EACCES, else the mode bits."""
    denied: list[DeviceNode] = []
    probes = facts.probes
    for n in _gpu_nodes(facts):
        if probes is not None and n.path in probes.opens:
            if probes.opens[n.path] == "EACCES":
                denied.append(n)
        elif _dac_allows(facts, n) is False:
            denied.append(n)
    return denied


def _group_lacks_rw(facts: Facts, n: DeviceNode) -> bool:
    """The process (not root, not the owner) is in the node's group, and the mode gives that group no read+write."""
    uid, mode = facts.process.uid, n.mode
    if uid is None or mode is None or uid == 0 or uid == n.uid:
        return False
    groups = {*facts.process.groups, *([facts.process.gid] if facts.process.gid is not None else [])}
    return n.gid in groups and mode >> 3 & 0o6 != 0o6


@fact_rule("device.node-mode-denied")
def device_node_mode(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Does the GPU node's mode give its group read+write?

    What it checks: a GPU node the process cannot open read-write (live EACCES, or the mode bits with
    --root) although the process is in the node's group: the group bits lack rw (0600, 0640).

    Why it matters: a NAS or appliance host (QNAP, Synology) or a udev rule leaves the nodes 0600/0640;
    no group_add opens them, and the frameworks only say "Permission denied".

    How to fix: on the host, a udev rule in /etc/udev/rules.d/ with MODE="0660" and the render/video
    GROUP (NVIDIA: NVreg_DeviceFileMode=0660), then the group in the container. Not chmod 666.
    """
    denied = [n for n in _refused_by_mode_bits(facts) if _group_lacks_rw(facts, n)]
    if not denied:
        return
    evs = [Evidence(source=n.path, text=f"mode {oct(n.mode or 0)} owner {n.uid} group {n.gid}") for n in denied]
    groups = " ".join(str(g) for g in facts.process.groups) or "none"
    evs.append(
        Evidence(source="/proc/self/status", text=f"Uid {facts.process.uid} Gid {facts.process.gid} Groups {groups}")
    )
    yield make_finding(
        "device.node-mode-denied",
        f"the process is in group {denied[0].gid} of {denied[0].path}, but its mode {oct(denied[0].mode or 0)} gives "
        "the group no read+write",
        evs,
        context=facts_fix_context(facts),
    )


@fact_rule("device.group-denied")
def device_group(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Is the process in the GPU node's group (render/video)?

    What it checks: live, open(O_RDWR) failing with EACCES; with --root, the node's owner,
    group and mode against the process's uid, gid, supplementary groups and CAP_DAC_OVERRIDE.

    Why it matters: a non-root user (or root after `cap_drop: [ALL]`) without the render
    group gets "Permission denied" from Level Zero and from oneCCL's drmfd open.

    How to fix: `group_add` with the node's *numeric* GID (the image's /etc/group may not know
    "render"); Podman rootless: `--group-add keep-groups`. Never chmod 666 the nodes.
    """
    denied = [n for n in _refused_by_mode_bits(facts) if not _group_lacks_rw(facts, n)]
    if not denied:
        return
    names = {gid: name for name, gid in facts.groups.items()}
    evs = [
        Evidence(
            source=n.path,
            text=f"mode {oct(n.mode or 0)} owner {n.uid} group {n.gid}"
            + (f" ({names[n.gid]})" if n.gid in names else ""),
        )
        for n in denied
    ]
    groups = " ".join(str(g) for g in facts.process.groups) or "none"
    evs.append(
        Evidence(
            source="/proc/self/status",
            text=f"Uid {facts.process.uid} Gid {facts.process.gid} Groups {groups}",
        )
    )
    yield make_finding(
        "device.group-denied",
        f"the process (uid {facts.process.uid}) is not in group {denied[0].gid} of {denied[0].path} and gets EACCES",
        evs,
        context=facts_fix_context(facts),
    )


@fact_rule("device.bypath-not-symlinks")
def bypath_not_symlinks(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """by-path entries that are device files instead of symlinks.

    What it checks: /dev/dri/by-path/*-render entries that are char nodes (the Intel
    Kubernetes device plugin's default -bypath=single mounts them that way).

    Why it matters: oneCCL opens them fine, but the Level Zero driver reads the symlinks to
    find hardware properties; some PyTorch workloads then fail ("doesn't support querying the
    available free memory", intel-device-plugins-for-kubernetes#2158).

    How to fix: deploy the plugin with -bypath=all, or bind-mount the host's by-path directory.
    """
    plain = [n for n in facts.nodes_under("/dev/dri/by-path/") if n.kind == "char"]
    if plain and infer_backend(facts, options) == "xpu":
        yield make_finding(
            "device.bypath-not-symlinks",
            f"{len(plain)} by-path entries are device files, not symlinks",
            [Evidence(source=n.path, text=f"char {n.major}:{n.minor}") for n in plain],
            context=facts_fix_context(facts),
        )


def wsl2_kernel(release: str | None) -> bool:
    """A WSL2 kernel ("5.15.153.1-microsoft-standard-WSL2", older "4.19.128-microsoft-standard"); WSL1's
    "4.4.0-19041-Microsoft" has no GPU at all."""
    return bool(release) and "microsoft-standard" in str(release).lower()


@fact_rule("device.dxg-missing")
def wsl_dxg(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Under WSL2, is the paravirtual GPU /dev/dxg in the container?

    What it checks: the kernel release (/proc/sys/kernel/osrelease) is a WSL2 kernel
    ("-microsoft-standard") and /dev/dxg is absent.

    Why it matters: WSL2 has no /dev/dri render node, /dev/kfd or /dev/nvidiaN for compute: every
    GPU reaches Linux as /dev/dxg, driven by the Windows driver's libraries in /usr/lib/wsl/lib
    (NVIDIA CUDA on WSL User Guide; intel/llvm sycl/doc/GetStartedGuide.md, Docker on WSL). A
    container without it sees no GPU (sycl-ls lists only the CPU, torch finds no device).

    How to fix: `--device /dev/dxg -v /usr/lib/wsl:/usr/lib/wsl:ro` with /usr/lib/wsl/lib on
    LD_LIBRARY_PATH (NVIDIA: `--gpus all`, which the container toolkit turns into the same).
    """
    release = facts.kernel.release
    if not wsl2_kernel(release) or facts.node("/dev/dxg") is not None:
        return
    yield make_finding(
        "device.dxg-missing",
        "this is a WSL2 kernel and /dev/dxg is not in the container: no GPU can be reached",
        [
            Evidence(source="/proc/sys/kernel/osrelease", text=str(release)),
            Evidence(source="/dev", text="no /dev/dxg"),
        ],
        context=facts_fix_context(facts),
    )
