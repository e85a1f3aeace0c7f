"""The container engines' daemon configuration on the host (facts/engine_config.py): Docker's daemon.json,
containerd's config.toml, the kubelet's cgroup driver. Settings that stop the engine, leave a GPU container without
its GPUs, or give every container a default too small for multi-GPU work, said before a container is created.

Each rule speaks only for a file it read, on a host or an unsure root (inside a container the host's files are not
there and do not describe this container), and only for what the file and the root prove; where the outcome
depends on the engine's version or on how containers are started, the finding says so and is "suggests". Sources:
moby/moby at the tags named beside each check, containerd/containerd v1.7.34 and v2.0.0.
"""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.model.facts import EngineConfigFacts, EngineRuntime
from tpdoctor.model.fixes import fix_context
from tpdoctor.rules.dockerd_options import KEYS, TAGS
from tpdoctor.rules.gpus import in_container, nvidia_nodes
from tpdoctor.rules.rdma import MEMLOCK_MIN, ib_nodes
from tpdoctor.rules.registry import fact_rule
from tpdoctor.rules.shm_ipc import recommended_shm

DAEMON_JSON = "/etc/docker/daemon.json"
# the CRI's gRPC service, by the id a version 1 file uses and the URI of versions 2 and 3 (v1.7.34
# services/server/config/config.go V1DisabledFilter / V2DisabledFilter; v2.0.0 v1MigratePluginName "cri")
CRI_IDS = {1: ("cri", "io.containerd.grpc.v1.cri"), 2: ("io.containerd.grpc.v1.cri",), 3: ("io.containerd.grpc.v1.cri",)}
# the GPU DRA drivers whose kubelet plugins register as <name>-reg.sock (dra-driver-nvidia-gpu
# cmd/gpu-kubelet-plugin/main.go and cmd/compute-domain-kubelet-plugin/main.go DriverName @95932046)
GPU_DRA_DRIVERS = ("gpu.nvidia.com", "compute-domain.nvidia.com")
MiB = 1 << 20


def _host(facts: Facts) -> EngineConfigFacts | None:
    """The engine facts on a host (or a root not known to be a container)."""
    return None if in_container(facts) is True else facts.engines


def _docker(facts: Facts) -> EngineConfigFacts | None:
    """daemon.json read on a host and loadable by dockerd."""
    eng = _host(facts)
    if eng is None or eng.docker_state != "read" or eng.docker_refused:
        return None
    return eng


def _containerd(facts: Facts) -> EngineConfigFacts | None:
    """containerd's config read on a host and loadable by containerd."""
    eng = _host(facts)
    if eng is None or eng.containerd_state != "read" or eng.containerd_refused:
        return None
    return eng


def _cri_disabled(eng: EngineConfigFacts) -> str | None:
    ids = CRI_IDS.get(eng.containerd_version or 1, CRI_IDS[3])
    return next((p for p in eng.containerd_disabled_plugins if p in ids), None)


def _human(n: int) -> str:
    return f"{n / (1 << 30):g} GiB" if n >= 1 << 30 else f"{n / MiB:g} MiB"


@fact_rule("runtime.docker-daemon-config-invalid")
def docker_daemon_config(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The host's /etc/docker/daemon.json is one dockerd starts with.

    **What it checks.** On a host, /etc/docker/daemon.json: that it is a JSON object (an empty file is the
    defaults; UTF-8, or UTF-16 LE with its byte-order mark), that the values check reads have the types dockerd
    unmarshals them into, that `default-runtime` names runc or a key of `runtimes`, and that every key (a nested
    object's keys flattened, as dockerd does) is a dockerd option: the list is harvested from moby's flag
    definitions at every release from v20.10.0 to docker-v29.7.2 (rules/dockerd_options.py). A file too large or
    out of reach for check is not judged. Flags given to dockerd (a systemd override's `--add-runtime`) are not
    visible, so a directive given both ways is not.

    **Why it matters.** dockerd reads the file at start and refuses it whole: "invalid JSON" (moby
    daemon/config/config.go getConflictFreeConfiguration), "the following directives don't match any
    configuration option" (findConfigurationConflicts), "specified default runtime 'nvidia' does not exist"
    (daemon/runtime_unix.go setupRuntimes). The daemon does not start, so no container runs, GPU or not, from
    the next restart on (an installer's or `nvidia-ctk runtime configure`'s restart included).

    **How to fix.** Correct the line, or write the object back from a known-good copy; check it with
    `dockerd --validate --config-file /etc/docker/daemon.json` (Docker 23+) before restarting docker. A key
    only newer releases know: upgrade Docker or remove it; one only older releases knew: remove it.
    """
    eng = _host(facts)
    if eng is None or eng.docker_state != "read":
        return
    if eng.docker_refused:
        proven = eng.docker_refused.startswith(("not valid JSON", "not a JSON object"))
        yield make_finding(
            "runtime.docker-daemon-config-invalid",
            f"dockerd cannot load {DAEMON_JSON} ({eng.docker_refused}): the Docker daemon does not start with it, so "
            "no container runs on this host from its next restart.",
            [(DAEMON_JSON, eng.docker_refused)],
            # JSON syntax is Go's encoding/json's too; a wrong type fails its unmarshal into the typed Config,
            # read here, not run
            confidence="proves" if proven else "suggests",
        )
        return
    default = eng.docker_default_runtime
    names = {r.name for r in eng.docker_runtimes}
    # setupRuntimes @docker-v29.7.2: runc (stockRuntimes) or a `runtimes` key; since v25 also a containerd runtime
    # name with a '.' and no '/' (isPermissibleC8dRuntimeName), which is left alone here
    if default and default != "runc" and default not in names and ("." not in default or "/" in default):
        yield make_finding(
            "runtime.docker-daemon-config-invalid",
            f"{DAEMON_JSON} makes {default!r} the default runtime but registers no runtime of that name: dockerd "
            f"stops at start ('specified default runtime '{default}' does not exist'), so no container runs.",
            [(DAEMON_JSON, f'"default-runtime": "{default}"'),
             (DAEMON_JSON, f"runtimes: {', '.join(sorted(names)) or 'none'}")],
        )
    newest = TAGS[-1]
    unknown = [k for k in eng.docker_keys if k not in KEYS]
    retired = [k for k in eng.docker_keys if k in KEYS and newest not in KEYS[k]]
    if unknown or retired:
        # the key name last: a name like "api-key" before a ':' reads as a secret to the output redactor
        evidence = [(DAEMON_JSON, f'no dockerd option from {TAGS[0]} to {newest}: "{k}"') for k in unknown]
        evidence += [(DAEMON_JSON, f'a dockerd option up to {KEYS[k][-1]}, gone at {newest}: "{k}"') for k in retired]
        what = ", ".join(unknown + retired)
        which = (f"no dockerd release from {TAGS[0]} to {newest} accepts" if unknown else
                 f"dockerd releases after {KEYS[retired[0]][-1]} no longer accept")
        yield make_finding(
            "runtime.docker-daemon-config-invalid",
            f"{DAEMON_JSON} sets {what}, which {which}: dockerd refuses the whole file ('the following directives "
            "don't match any configuration option') and does not start. Depends on the installed Docker release.",
            evidence,
            confidence="suggests",  # the key list is per release, and the release is not read here
        )


def _cdi_setup(facts: Facts) -> list[tuple[str, str]]:
    """Evidence that this host hands GPUs out as CDI devices: specs in the default directories, the toolkit in
    a CDI mode."""
    ev = [(s.path, f"CDI spec {s.kind}" if s.kind else "CDI spec") for s in facts.cdi_specs[:3]]
    tk = facts.nvidia_toolkit
    if tk.config_state == "read" and tk.mode in ("cdi", "jit-cdi"):
        ev.append((tk.config or "config.toml", f'[nvidia-container-runtime] mode = "{tk.mode}"'))
    return ev


@fact_rule("runtime.cdi-feature-disabled")
def docker_cdi_feature(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Docker's CDI support is on where the host is set up for CDI devices.

    **What it checks.** On a host that has CDI specs in /etc/cdi or /var/run/cdi, or the NVIDIA toolkit in
    `cdi`/`jit-cdi` mode: /etc/docker/daemon.json's `features.cdi`. Set to false: CDI is off on every Docker
    release (blocker, suggests: it matters to containers that ask for a CDI device). Not set: Docker 25.0-28.1
    leave it off, 28.2 and later turn it on; the release is not read, so this is a notice. Without a CDI setup,
    without the file or inside a container, nothing is said.

    **Why it matters.** dockerd registers its "cdi" device driver only with the feature on (moby
    cmd/dockerd/daemon.go `Features["cdi"]` @v25.0.0-v28.1.0; `cdiEnabled`, on unless set false, @v28.2.0 and
    daemon/command/daemon.go @docker-v29.7.2): `--device nvidia.com/gpu=all`, compose's `driver: cdi` and the
    nvidia runtime in CDI mode fail with 'could not select device driver "cdi" with capabilities: []'.

    **How to fix.** `"features": {"cdi": true}` in daemon.json (or remove `"cdi": false` on 28.2+) and restart
    docker; or upgrade to Docker 28.2+.
    """
    eng = _docker(facts)
    if eng is None or eng.docker_features_cdi is True:
        return
    setup = _cdi_setup(facts)
    if not setup:
        return
    if eng.docker_features_cdi is False:
        yield make_finding(
            "runtime.cdi-feature-disabled",
            f"{DAEMON_JSON} turns Docker's CDI feature off on a host set up for CDI devices: every container that asks "
            "for a GPU as a CDI device (--device nvidia.com/gpu=all, compose driver: cdi) fails with 'could not "
            "select device driver \"cdi\"'. --gpus is not affected.",
            [(DAEMON_JSON, '"features": {"cdi": false}'), *setup],
            confidence="suggests",  # whether containers ask for CDI devices is not known here
            prefer="enable-docker-cdi",
        )
        return
    yield make_finding(
        "runtime.cdi-feature-disabled",
        f"{DAEMON_JSON} does not set features.cdi on a host set up for CDI devices: Docker 25.0-28.1 leave CDI off "
        "(a CDI device request fails), 28.2 and later turn it on.",
        [(DAEMON_JSON, "features.cdi not set"), *setup],
        severity="notice",
        confidence="suggests",
        prefer="enable-docker-cdi",
    )


def _nvidia(rt: EngineRuntime) -> bool:
    return "nvidia" in rt.name.lower() or "nvidia" in (rt.path or "").lower()


@fact_rule("runtime.nvidia-toolkit-missing")
def engine_nvidia_runtime_binary(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The NVIDIA runtime an engine registers exists on the host.

    **What it checks.** On a host, each NVIDIA runtime entry (its name or binary says nvidia) of
    /etc/docker/daemon.json's `runtimes` (its `path`) and, on a node with a kubelet, of containerd's CRI runtimes
    (`options.BinaryName`; Docker does not use them): that the binary is a file in the root. A name without '/' is looked up on the PATH the engines run with
    (systemd's /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin), as Go's exec.LookPath does; a
    relative path is not judged.

    **Why it matters.** dockerd hands the path to containerd's runc shim as the runtime binary (moby
    daemon/runtime_unix.go setupRuntimes, BinaryName @docker-v29.7.2), and containerd's CRI does the same with
    BinaryName: a toolkit uninstalled (or never installed) under a registration makes every container of that
    runtime fail at create ('exec: "nvidia-container-runtime": executable file not found in $PATH'). As the
    default runtime (daemon.json default-runtime, containerd default_runtime_name) that is every container (pod).

    **How to fix.** Install the NVIDIA Container Toolkit (`nvidia-container-toolkit`), or remove the stale
    registration (`nvidia-ctk runtime configure` writes it back when the toolkit is installed) and restart the
    engine.
    """
    eng = _host(facts)
    if eng is None:
        return
    found: list[tuple[str, EngineRuntime, bool]] = []
    if _docker(facts) is not None:
        found += [(DAEMON_JSON, rt, rt.name == eng.docker_default_runtime)
                  for rt in eng.docker_runtimes if _nvidia(rt) and rt.exists is False]
    # containerd's CRI runtimes serve the kubelet (and crictl); Docker keeps its own: judged on a kubelet node only
    if _containerd(facts) is not None and not _cri_disabled(eng) and (eng.kubelet or eng.kubelet_config):
        found += [(eng.containerd_config or "config.toml", rt, rt.name == eng.containerd_default_runtime)
                  for rt in eng.containerd_runtimes if _nvidia(rt) and rt.exists is False]
    for where, rt, default in found:
        binary = rt.path or "?"
        docker = where == DAEMON_JSON
        key = "path" if docker else "options.BinaryName"
        if default:
            scope = f"It is the default runtime: every {'container' if docker else 'pod'} fails to start."
        else:
            scope = ("Containers started with --runtime=nvidia fail to start." if docker else
                     "Pods of its RuntimeClass (runtimeClassName: nvidia) fail to start.")
        yield make_finding(
            "runtime.nvidia-toolkit-missing",
            f"{where} registers the runtime {rt.name!r} with {binary}, which this host does not have. {scope}",
            [(where, f'runtime "{rt.name}" {key} = "{binary}"'),
             (rt.resolved or binary, "absent" if rt.resolved else "not on the engines' PATH")],
            confidence="proves" if default else "suggests",
        )


@fact_rule("runtime.nvidia-toolkit-missing")
def docker_snap_nvidia_runtime(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Docker installed as a snap registers the NVIDIA runtime in the snap's own daemon.json.

    **What it checks.** On a host where Docker is the snap (/snap/docker or /var/snap/docker) and NVIDIA GPU work
    is meant (NVIDIA device nodes here, or an `nvidia` runtime in /etc/docker/daemon.json): that the snap's
    /var/snap/docker/current/config/daemon.json registers a runtime named nvidia. A snap file check cannot read is
    not judged.

    **Why it matters.** The snap's dockerd runs with `--config-file=$SNAP_DATA/config/daemon.json`
    (docker-snap/docker-snap bin/dockerd-wrapper @3489233), so the `nvidia` runtime that `nvidia-ctk runtime
    configure` writes into /etc/docker/daemon.json never reaches it: `--runtime nvidia` fails with 'unknown or
    invalid runtime name: nvidia' and `--gpus` with 'could not select device driver "" with capabilities: [[gpu]]'
    (NVIDIA/nvidia-docker#1637; elezar in #1642: "due to docker being installed as a snap"; #1311, #1243, #1591).
    Snap revisions since 2023 set the runtime up themselves when they see the driver (nvidia/lib
    docker_runtime_configure, CDI mode, used with --runtime nvidia), unless that setup failed or was disabled
    (`snap set docker nvidia-support.disabled=true`); whether the snap's own hook serves `--gpus` depends on its
    revision, hence "suggests".

    **How to fix.** Install Docker from apt (docker.io, or docker-ce from Docker's repository) instead of the
    snap and configure the toolkit as usual, or let the snap's NVIDIA support register its runtime and start GPU
    containers with `--runtime nvidia`.
    """
    eng = _host(facts)
    if eng is None or not eng.docker_snap or eng.docker_snap_state == "invalid":
        return
    if any("nvidia" in n.lower() for n in eng.docker_snap_runtimes):
        return
    etc_nvidia = [rt.name for rt in eng.docker_runtimes if _nvidia(rt)] if _docker(facts) is not None else []
    if not etc_nvidia and not nvidia_nodes(facts):
        return
    state = "does not exist" if eng.docker_snap_state == "absent" else "registers no nvidia runtime"
    evidence = [(eng.docker_snap_dir or "/snap/docker", "Docker is installed as a snap: its dockerd reads " + eng.docker_snap),
                (eng.docker_snap, state)]
    if etc_nvidia:
        evidence.append((DAEMON_JSON, f'registers "{etc_nvidia[0]}", which the snap\'s dockerd does not read'))
    also = (" (a dockerd from a package is here too: which engine the docker CLI reaches decides)"
            if eng.dockerd else "")
    yield make_finding(
        "runtime.nvidia-toolkit-missing",
        f"Docker here is the snap, whose dockerd reads {eng.docker_snap}, and that file {state}"
        + (f"; the nvidia runtime in {DAEMON_JSON} is for a dockerd that does not read it" if etc_nvidia else "")
        + f"{also}. GPU containers fail: --runtime nvidia with 'unknown or invalid runtime name: nvidia', --gpus "
        "with 'could not select device driver \"\" with capabilities: [[gpu]]'.",
        evidence,
        confidence="suggests",
        prefer="docker-snap-config",
    )


@fact_rule("shm.too-small")
def docker_default_shm(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Docker's default /dev/shm size is one multi-GPU work fits in.

    **What it checks.** On a host, /etc/docker/daemon.json's `default-shm-size` (go-units sizes, binary:
    "64M" = 64 MiB), when it is set below 1 GiB (NCCL's `--shm-size=1g`; the size shm.too-small asks of two
    ranks). It is the /dev/shm of every container that does not give its own (`--shm-size`, compose
    `shm_size`); not set, Docker gives 64 MiB (daemon/config/config.go DefaultShmSize @docker-v29.7.2), which is
    not said here. A notice: containers that set their own size are not affected, and inside one check measures
    /dev/shm itself.

    **Why it matters.** vLLM's shared-memory broadcast ring, NCCL's SHM transport and Ray's object store live in
    /dev/shm: below 256 MiB serving dies with a bus error or 'failed to extend /dev/shm'.

    **How to fix.** Give the serving containers their own `--shm-size=16g` (compose `shm_size: 16g`), or raise
    `"default-shm-size"` in daemon.json and restart docker (containers created before keep theirs).
    """
    eng = _docker(facts)
    size = eng.docker_default_shm_size if eng else None
    if size is None or size >= recommended_shm(2):
        return
    yield make_finding(
        "shm.too-small",
        f"Docker gives every container that does not set --shm-size a {_human(size)} /dev/shm ({DAEMON_JSON}); "
        f"multi-GPU serving needs at least 1 GiB. Containers that set their own size are not affected.",
        [(DAEMON_JSON, f'"default-shm-size" = {size} bytes ({_human(size)})')],
        context=fix_context(shm_size="16g"),
        severity="notice",
        confidence="suggests",
    )


@fact_rule("rdma.memlock-too-low")
def docker_default_memlock(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Docker's default memlock limit lets RDMA register memory.

    **What it checks.** On a host with RDMA devices (/dev/infiniband/uverbs*), /etc/docker/daemon.json's
    `default-ulimits.memlock`, when its soft limit is set and below 1 GiB (rdma.memlock-too-low's bound). It is
    the RLIMIT_MEMLOCK of every container that does not give its own `--ulimit memlock` (moby daemon/oci_linux.go
    mergeUlimits @docker-v29.7.2); not set, containers inherit the engine's own limit, which is not read here. A
    notice: a container that sets its own limit is not affected, and inside one check reads the limit itself.

    **Why it matters.** NCCL's InfiniBand/RoCE transport pins its buffers with ibv_reg_mr, which fails under a
    small memlock limit ('ibv_reg_mr failed', 'Cannot allocate memory').

    **How to fix.** `--ulimit memlock=-1` (compose `ulimits: {memlock: -1}`) for the RDMA containers, or
    `"default-ulimits": {"memlock": {"Name": "memlock", "Soft": -1, "Hard": -1}}` and a docker restart.
    """
    eng = _docker(facts)
    soft = eng.docker_memlock_soft if eng else None
    if soft is None or soft == -1 or soft >= MEMLOCK_MIN or not ib_nodes(facts):
        return
    yield make_finding(
        "rdma.memlock-too-low",
        f"Docker gives every container that does not set --ulimit memlock a locked-memory limit of {soft} bytes "
        f"({DAEMON_JSON}), and this host has RDMA devices: NCCL's IB/RoCE memory registration fails under it.",
        [(DAEMON_JSON, f"default-ulimits.memlock Soft={soft} Hard={eng.docker_memlock_hard if eng else None}"),
         ("/dev/infiniband", ", ".join(ib_nodes(facts)[:4]))],
        severity="notice",
        confidence="suggests",
    )


@fact_rule("runtime.containerd-cri-disabled")
def containerd_cri(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """containerd serves the CRI on a node that runs a kubelet.

    **What it checks.** On a host with a kubelet (its binary, or /var/lib/kubelet/config.yaml), containerd's
    /etc/containerd/config.toml and its imports: `disabled_plugins` holding the CRI, by the id a file without
    `version` (version 1) uses, "cri", or the URI "io.containerd.grpc.v1.cri" of versions 2 and 3. containerd
    1.7 matches version 1 entries by plugin id and others by URI (services/server/config/config.go
    V1DisabledFilter / V2DisabledFilter @v1.7.34); 2.x migrates "cri" to the URI (v1MigratePluginName @v2.0.0).
    A version 2 file with the bare "cri" fails to load at all: recorded, not this finding.

    **Why it matters.** Docker's containerd.io package installs a config.toml with `disabled_plugins = ["cri"]`;
    adding the NVIDIA runtime to it leaves the CRI off, and the kubelet finds no CRI service on the socket
    ('unknown service runtime.v1.RuntimeService'): the node never runs a pod, GPU or not.

    **How to fix.** Remove "cri" from disabled_plugins (or start from `containerd config default`), restart
    containerd, then let `nvidia-ctk runtime configure --runtime=containerd` add the nvidia runtime.
    """
    eng = _containerd(facts)
    if eng is None or not (eng.kubelet or eng.kubelet_config):
        return
    entry = _cri_disabled(eng)
    if entry is None:
        return
    kubelet = eng.kubelet[0] if eng.kubelet else eng.kubelet_config or "kubelet"
    # a version 1 file's URI entry: containerd 1.7 matches its entries by plugin id (the CRI stays on), 2.x keeps a
    # dotted name as the URI (v1MigratePluginName) and disables it
    by_uri_in_v1 = (eng.containerd_version or 1) == 1 and entry != "cri"
    yield make_finding(
        "runtime.containerd-cri-disabled",
        f"containerd's config disables its CRI plugin ({entry!r} in disabled_plugins) on a node with a kubelet: the "
        "kubelet finds no CRI service on containerd's socket and no pod runs on this node.",
        [(eng.containerd_config or "config.toml",
          f'disabled_plugins = ["{entry}"] (config version {eng.containerd_version})'), (kubelet, "present")],
        confidence="suggests" if by_uri_in_v1 else "proves",
    )


def _runc_like(rt: EngineRuntime) -> bool:
    return rt.runtime_type in (None, "io.containerd.runc.v2", "io.containerd.runc.v1")


@fact_rule("runtime.cgroup-driver-mismatch")
def containerd_cgroup_driver(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """containerd's runc runtime entries use the kubelet's cgroup driver.

    **What it checks.** On a host, when /var/lib/kubelet/config.yaml sets `cgroupDriver` (systemd or cgroupfs)
    and containerd's CRI is on: each runc runtime entry of containerd's config (and imports), the nvidia entry
    that `nvidia-ctk runtime configure` or the GPU Operator adds included, with `options.SystemdCgroup`
    (false when the entry leaves it out, runc's shim default) against that driver. Without an explicit
    cgroupDriver nothing is said.

    **Why it matters.** The kubelet writes cgroup paths in its driver's form; runc on the systemd driver refuses
    a cgroupfs path ('expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups'), and runc
    on cgroupfs under a systemd kubelet puts the container outside the pod's slice (k3s-io/k3s#7130). Pods of
    that runtime (a RuntimeClass nvidia, or the default runtime) fail or are killed. A kubelet 1.31+ that takes
    its driver from containerd 2.x follows the default runtime only, so a mismatched nvidia entry still fails.

    **How to fix.** Make every runtime entry's SystemdCgroup match the kubelet (true with `cgroupDriver:
    systemd`), then restart containerd and the kubelet.
    """
    eng = _containerd(facts)
    if eng is None or eng.kubelet_cgroup_driver not in ("systemd", "cgroupfs") or _cri_disabled(eng):
        return
    want = eng.kubelet_cgroup_driver == "systemd"
    wrong = [rt for rt in eng.containerd_runtimes if _runc_like(rt) and bool(rt.systemd_cgroup) != want]
    if not wrong:
        return
    where = eng.containerd_config or "config.toml"
    default = eng.containerd_default_runtime or "runc"
    names = ", ".join(rt.name for rt in wrong)
    yield make_finding(
        "runtime.cgroup-driver-mismatch",
        f"The kubelet uses the {eng.kubelet_cgroup_driver} cgroup driver, and containerd's runtime {names} "
        f"{'uses' if len(wrong) == 1 else 'use'} the other one: pods of "
        f"{'that runtime' if len(wrong) == 1 else 'those runtimes'} fail to start or run outside their pod's cgroup."
        + (" It is containerd's default runtime: every pod." if any(rt.name == default for rt in wrong) else ""),
        [(eng.kubelet_config or "/var/lib/kubelet/config.yaml", f"cgroupDriver: {eng.kubelet_cgroup_driver}"),
         *((where, f"runtime {rt.name}: SystemdCgroup = "
                   f"{'true' if rt.systemd_cgroup else 'false' if rt.systemd_cgroup is False else 'not set (false)'}")
           for rt in wrong)],
        confidence="suggests",  # which pods use which runtime, and the kubelet's release, are not read here
    )


@fact_rule("runtime.containerd-cdi-disabled")
def containerd_cdi(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """containerd applies CDI devices where GPUs are handed out as CDI devices.

    **What it checks.** On a host where GPUs are allocated as CDI devices (the NVIDIA DRA driver's kubelet
    plugin registered, gpu.nvidia.com or compute-domain.nvidia.com in /var/lib/kubelet/plugins_registry, or a
    CDI spec of a `k8s.` vendor, which DRA drivers and the device plugin's CDI strategy write) and containerd's
    CRI is on: `enable_cdi` in the CRI plugin's table of containerd's config (and imports). Set to false: CDI is
    off on every release (proves). Not set in a version 1 or 2 file: off on containerd 1.7 and earlier
    (pkg/cri/config/config_unix.go @v1.7.34), on from 2.0 (internal/cri/config/config_unix.go @v2.0.0). The
    release is read from the containerd binary's Go build info (its main package is under
    github.com/containerd/containerd/v2 from 2.0): 1.x proves, 2.x says nothing, unread suggests. Not set in a
    version 3 file (containerd 2.x): on, nothing said.

    **Why it matters.** containerd's CRI applies the CDI devices the kubelet passes only with it on
    (pkg/cri/server/container_create_linux.go `if c.config.EnableCDI` @v1.7.34), and says nothing otherwise:
    a DRA ResourceClaim's container comes up without its GPU, or with every GPU of the node through the image's
    NVIDIA_VISIBLE_DEVICES (kubernetes-sigs/dra-driver-nvidia-gpu#426: "Having CDI enabled is a prerequisite
    for DRA"; its prerequisites page @95932046).

    **How to fix.** `enable_cdi = true` in the CRI plugin's table (`nvidia-ctk runtime configure
    --runtime=containerd --cdi.enabled`), or containerd 2.0+; restart containerd and re-create the pods.
    """
    eng = _containerd(facts)
    if eng is None or eng.containerd_enable_cdi is True or _cri_disabled(eng):
        return
    version = eng.containerd_version or 1
    if eng.containerd_enable_cdi is None and (version >= 3 or eng.containerd_release == 2):
        return
    dra = [p for p in eng.kubelet_plugins if p in GPU_DRA_DRIVERS]
    specs = [s for s in facts.cdi_specs if (s.kind or "").startswith("k8s.")]
    if not dra and not specs:
        return
    where = eng.containerd_config or "config.toml"
    table = eng.containerd_cri_table or f"plugins.{'cri' if version == 1 else 'io.containerd.grpc.v1.cri'}"
    evidence = [(where, f"[{table}] enable_cdi = false" if eng.containerd_enable_cdi is False
                 else f"[{table}] enable_cdi not set (config version {version})")]
    evidence += [("/var/lib/kubelet/plugins_registry", f"{p}-reg.sock (DRA driver)") for p in dra]
    evidence += [(s.path, f"CDI spec {s.kind}") for s in specs[:3]]
    explicit = eng.containerd_enable_cdi is False
    old_release = eng.containerd_enable_cdi is None and eng.containerd_release == 1
    if old_release:
        evidence.append((eng.containerd[0], "containerd 1.x (its Go build info): enable_cdi defaults to false"))
    yield make_finding(
        "runtime.containerd-cdi-disabled",
        ("containerd's CRI plugin has CDI off" if explicit else
         "containerd's CRI plugin does not set enable_cdi, which is off in containerd 1.x (this node's release),"
         if old_release else
         "containerd's CRI plugin does not set enable_cdi, which is off before containerd 2.0,")
        + " on a node that hands GPUs out as CDI devices: containerd ignores them, so a pod's GPU claim gives it "
        "no GPU, or every GPU of the node.",
        evidence,
        confidence="proves" if explicit or old_release else "suggests",
    )


# gnew38: where the GPU Operator installs the toolkit (k3s-io/k3s pkg/agent/containerd/runtimes.go checks it first)
OPERATOR_TOOLKIT_DIR = "/usr/local/nvidia/toolkit/"


@fact_rule("k8s.nvidia-runtime-class-missing")
def containerd_nvidia_not_default(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """GPU pods on this Kubernetes node get the NVIDIA runtime without naming it.

    **What it checks.** On a kubelet node whose containerd config (/etc/containerd/config.toml and its imports)
    registers an NVIDIA runtime for the CRI (its name or binary says nvidia) and whose `default_runtime_name` is
    not that runtime (unset: runc). Not when the runtime's binary is missing (runtime.nvidia-toolkit-missing says
    that), when the toolkit's config.toml runs in `cdi` mode, or when the runtime is the GPU Operator's
    (/usr/local/nvidia/toolkit/) and containerd's CDI is on (enable_cdi, the default from containerd 2.0): the
    Operator then leaves nvidia off the default on purpose and its device plugin injects the GPUs through CDI
    (NVIDIA/gpu-operator controllers/object_controls.go transformToolkitCtrForCDI, DEVICE_LIST_STRATEGY
    cdi-annotations,cdi-cri). A notice, `suggests`: which device-list strategy the device plugin uses is not
    visible from the node's files, and k3s/RKE2 keep their own config (/var/lib/rancher/<k3s|rke2>/agent/etc/
    containerd/config.toml, not read here: there the nvidia runtime is never the default unless --default-runtime
    nvidia).

    **Why it matters.** With the device plugin's envvar strategy (its default) an allocation is only
    NVIDIA_VISIBLE_DEVICES, which only the NVIDIA runtime acts on: a pod that requests nvidia.com/gpu without
    `runtimeClassName: nvidia` runs under runc and sees no GPU ("Found no NVIDIA driver on your system",
    torch.cuda.is_available() False, vLLM "Failed to infer device type"; kubeflow/notebooks#68, #522,
    llm-d/llm-d-deployer#273).

    **How to fix.** Set `runtimeClassName: nvidia` (a RuntimeClass whose handler is the runtime's name) in the GPU
    pods, or make the runtime the default (`nvidia-ctk runtime configure --runtime=containerd --set-as-default`,
    then restart containerd), or use the device plugin's CDI strategy (cdi-cri) with containerd's CDI on.
    """
    eng = _containerd(facts)
    if eng is None or _cri_disabled(eng) or not (eng.kubelet or eng.kubelet_config):
        return
    nv = [rt for rt in eng.containerd_runtimes if _nvidia(rt) and rt.exists is not False]
    # default_runtime_name unset is "runc" (the CRI plugin's default), which may itself run the NVIDIA binary
    if not nv or any(rt.name == (eng.containerd_default_runtime or "runc") for rt in nv):
        return
    if facts.nvidia_toolkit.mode == "cdi":
        return
    cdi_on = eng.containerd_enable_cdi is True or (eng.containerd_enable_cdi is None and (eng.containerd_version or 1) >= 3)
    if cdi_on and any((rt.path or "").startswith(OPERATOR_TOOLKIT_DIR) for rt in nv):
        return
    where = eng.containerd_config or "config.toml"
    rt = nv[0]
    default = eng.containerd_default_runtime or "runc (default_runtime_name not set)"
    yield make_finding(
        "k8s.nvidia-runtime-class-missing",
        f"{where} registers the NVIDIA runtime {rt.name!r} for Kubernetes, but containerd's default runtime is "
        f"{default}: a GPU pod gets the NVIDIA runtime only with runtimeClassName: {rt.name} (a RuntimeClass whose "
        "handler is that name), unless the device plugin injects GPUs through CDI (cdi-cri). Without it the pod "
        "runs under runc and sees no GPU.",
        [(where, f'runtime "{rt.name}" BinaryName = "{rt.path or "?"}"'),
         (where, f"default_runtime_name = {eng.containerd_default_runtime or '(not set: runc)'}")],
        severity="notice",
        confidence="suggests",
    )
