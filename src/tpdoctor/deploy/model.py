"""DeploymentModel: one runtime-neutral description of the containers a config starts.

Every front-end (compose, docker/podman run, Kubernetes) reads its format into this model and
the audit rules only ever look at the model. Fields keep the user's spelling where it matters
for evidence (`raw`), and `line` points back into the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from tpdoctor.model.datamodel import DataModel
from tpdoctor.model.facts import mount_holding

Format = Literal["compose", "docker", "podman", "kubernetes", "devcontainer"]
# whose fixes a format's user applies, where it is not the format itself: the devcontainer CLI starts
# the container with `docker run` (devcontainers/cli src/spec-node/singleContainer.ts)
FIX_RUNTIME: dict[str, str] = {"devcontainer": "docker"}
Backend = Literal["xpu", "cuda", "rocm", "none"]


@dataclass(kw_only=True, repr=False, eq=False)
class DeviceMap(DataModel):
    """One device mapping of a service (host path or CDI name to container path)."""

    host: str
    container: str
    permissions: str = "rwm"
    raw: str = ""

    @property
    def is_cdi(self) -> bool:
        # CDI names look like vendor.com/class=name; host paths start with '/'
        return "=" in self.host and not self.host.startswith("/")


@dataclass(kw_only=True, repr=False, eq=False)
class MountSpec(DataModel):
    """A bind mount, named volume, tmpfs, hostPath or emptyDir as seen by the container."""

    kind: Literal["bind", "volume", "tmpfs", "hostPath", "emptyDir", "other"] = "bind"
    source: str = ""
    target: str = ""
    read_only: bool = False
    medium: str | None = None  # emptyDir medium (Memory)
    size: str | None = None  # emptyDir sizeLimit / tmpfs size
    options: list[str] = field(default_factory=list)  # a tmpfs's options as written: exec, size=1g, mode=1777
    raw: str = ""

    def noexec_under(self, engine: str) -> bool:
        """A tmpfs that forbids executable mappings. Docker mounts one rw,noexec,nosuid,nodev and then applies its
        options in order (moby daemon/oci_linux.go, mount.MergeTmpfsOptions: the last of exec/noexec wins). Podman's
        docs say the same, but its code adds noexec only for a bind source that has it (pkg/util/mount_opts.go
        processOptionsInternal with getDefaultMountOptions(""): {noexec: false, nosuid: true, nodev: true}, v4-v5;
        it refuses both exec and noexec on one mount): under Podman only an explicit noexec counts. Only a tmpfs is
        judged: the options of a bind mount or volume are not a mount's flags here."""
        if self.kind != "tmpfs":
            return False
        last = [o for o in self.options if o in ("exec", "noexec")]
        if engine == "podman":
            return last == ["noexec"]
        return not last or last[-1] == "noexec"


def tmpfs_mount(raw: str) -> MountSpec:
    """`--tmpfs /tmp:exec,size=1g` (docker/podman run) or a compose `tmpfs:` item: the target before the first
    ':', comma-separated options after it (docker/cli splits each value at its first ':' into HostConfig.Tmpfs)."""
    target, _, opts = raw.partition(":")
    options = [o.strip() for o in opts.split(",") if o.strip()]
    size = next((o.partition("=")[2] for o in options if o.startswith("size=")), None)
    return MountSpec(kind="tmpfs", target=target, read_only="ro" in options, size=size, options=options, raw=raw)


@dataclass(kw_only=True, repr=False, eq=False)
class GpuRequest(DataModel):
    """A GPU asked for through the runtime rather than device nodes."""

    via: Literal["compose-deploy", "gpus-flag", "cdi", "k8s-resource", "dra", "runtime", "env"]
    vendor: Literal["nvidia", "intel", "amd", "unknown"] = "unknown"
    count: int | None = None  # None = all / unknown
    ids: list[str] = field(default_factory=list)
    raw: str = ""
    # NVIDIA_DRIVER_CAPABILITIES the Docker daemon sets for this request's NVIDIA capabilities
    # (compose `capabilities: [gpu, utility]`, --gpus 'capabilities=...'); None: it sets none
    driver_caps: str | None = None


@dataclass(kw_only=True, repr=False, eq=False)
class SecurityOpts(DataModel):
    """seccomp, AppArmor, SELinux and privilege-escalation settings of a service."""

    seccomp: str | None = None  # None = runtime default; "unconfined" or a profile path
    apparmor: str | None = None
    label: list[str] = field(default_factory=list)  # SELinux: disable, type:..., level:...
    no_new_privileges: bool | None = None
    allow_privilege_escalation: bool | None = None  # Kubernetes spelling of the same idea
    run_as_non_root: bool | None = None


@dataclass(kw_only=True, repr=False, eq=False)
class Service(DataModel):
    """One container: a compose service, one docker/podman run, or one Kubernetes container."""

    name: str
    format: Format
    image: str | None = None
    entrypoint: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    devices: list[DeviceMap] = field(default_factory=list)
    device_cgroup_rules: list[str] = field(default_factory=list)
    mounts: list[MountSpec] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    user: str | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security: SecurityOpts = field(default_factory=SecurityOpts)
    shm_size: int | None = None  # bytes
    shm_size_raw: str | None = None
    ipc: str | None = None
    pid: str | None = None
    network: str | None = None
    uts: str | None = None
    userns: str | None = None
    ulimits: dict[str, str] = field(default_factory=dict)
    # the pids cgroup limit: compose pids_limit / deploy.resources.limits.pids, docker/podman --pids-limit (-1 or 0:
    # none); None: not set (Docker: none, Podman: containers.conf pids_limit, 2048 by default)
    pids_limit: int | None = None
    read_only: bool = False
    env: dict[str, str] = field(default_factory=dict)
    env_from_secret: list[str] = field(default_factory=list)  # names set from a secret ref
    gpus: list[GpuRequest] = field(default_factory=list)
    runtime: str | None = None
    line: int | None = None
    notes: list[str] = field(default_factory=list)  # front-end observations for rules
    extra: dict[str, str] = field(default_factory=dict)
    # what the file's own scope sets for $VAR: compose .env, script assignments
    variables: dict[str, str] = field(default_factory=dict)
    allows: dict[str, str] = field(default_factory=dict)  # cause id -> reason
    # evidence lines by the words a finding's evidence names (`privileged`, `SYS_ADMIN`,
    # `seccomp=unconfined`): where a format knows each setting's own line (devcontainer.json)
    lines: dict[str, int] = field(default_factory=dict)
    # argument-list items that hold a flag and its value as ONE argument ('--gpus all'), each
    # with what the CLI needs instead: runtime.flag-value-one-argument
    glued_args: dict[str, list[str]] = field(default_factory=dict)

    # --- derived views the rules share -------------------------------------------------------
    @property
    def caps_added(self) -> set[str]:
        return {normalize_cap(c) for c in self.cap_add}

    @property
    def caps_dropped(self) -> set[str]:
        return {normalize_cap(c) for c in self.cap_drop}

    def has_mount_target(self, target: str) -> MountSpec | None:
        for m in self.mounts:
            if m.target.rstrip("/") == target.rstrip("/"):
                return m
        return None

    def mount_holding(self, path: str) -> MountSpec | None:
        """The mount of the file that holds `path` in the container (the longest target wins, the last of equals,
        as the runtime stacks them); None: the image's own filesystem."""
        return mount_holding(self.mounts, path)

    @property
    def argv_text(self) -> str:
        return " ".join([*self.entrypoint, *self.command])

    @property
    def render_devices(self) -> list[DeviceMap]:
        return [d for d in self.devices if d.container.startswith("/dev/dri")]


ComposeImpl = Literal["compose-v2", "docker-compose-v1", "podman-compose"]


@dataclass(kw_only=True, repr=False, eq=False)
class SchemaProblem(DataModel):
    """A Kubernetes object that its schema refuses (deploy/k8s_schema.py)."""

    document: int  # 1-based YAML document of the file
    kind: str
    api_version: str
    name: str
    path: str  # kubectl's field path: spec.template.spec.containers[0].image
    line: int | None
    message: str
    schema_source: str  # which schema said so (kubernetes-validate version, or the CRD's repo and tag)
    confidence: Literal["proves", "suggests"] = "proves"
    severity: Literal["blocker", "degraded", "notice"] | None = None  # None: the cause's own


@dataclass(kw_only=True, repr=False, eq=False)
class DeploymentModel(DataModel):
    """The containers one deployment file starts."""

    source: str
    format: Format
    services: list[Service] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # which compose implementation the file itself says will run it (x-podman keys, a comment
    # naming podman-compose); None = the file does not say. `audit --compose-impl` overrides it.
    compose_impl: ComposeImpl | None = None
    compose_impl_evidence: str = ""
    compose_impl_line: int | None = None
    # Kubernetes: what the API server's schema would refuse (audit's k8s.schema-invalid)
    schema_problems: list[SchemaProblem] = field(default_factory=list)
    # Kubernetes: the values of the file's Secrets (`data:`, `stringData:`), which no key name marks as secret: an
    # `audit --fix` diff hides them where they stand in its context lines (deploy/fix.py secret_values)
    secret_data: list[str] = field(default_factory=list)


def normalize_cap(cap: str) -> str:
    c = cap.strip().upper()
    return c[4:] if c.startswith("CAP_") else c


SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)
