"""The NVIDIA Container Toolkit's config.toml on the host (facts/nvidia_toolkit.py): settings that make the
runtime or its hook refuse, or quietly empty, every GPU container, said before one is created.

Each rule speaks only for a file it read (config_state "read"), on a host or an unsure root (inside a
container the host's file is not there and is not what creates this container), and only for what the file
and the root prove; where the outcome depends on how containers are started or on the toolkit's version,
the finding says so and is "suggests".
"""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.facts.nvidia_toolkit import MAX_RUNTIMES
from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.model.facts import NvidiaToolkitFacts
from tpdoctor.rules.gpus import in_container
from tpdoctor.rules.registry import fact_rule

ENVVAR_KEY = "accept-nvidia-visible-devices-envvar-when-unprivileged"
VOLUME_KEY = "accept-nvidia-visible-devices-as-volume-mounts"


def _read(facts: Facts) -> NvidiaToolkitFacts | None:
    """The toolkit facts when its config.toml was read on a host (or a root not known to be a container)."""
    tk = facts.nvidia_toolkit
    if tk.config_state != "read" or tk.config_refused or in_container(facts) is True:
        return None  # a file the toolkit refuses is runtime.toolkit-config-invalid, whatever its keys say
    return tk


def _where(tk: NvidiaToolkitFacts) -> str:
    return tk.config or "config.toml"


@fact_rule("runtime.toolkit-config-invalid")
def toolkit_config_loads(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The host's toolkit config.toml loads.

    **What it checks.** The host's /etc/nvidia-container-runtime/config.toml (or the GPU Operator's copy)
    parses as TOML, and the keys check reads have the types the toolkit unmarshals them into (booleans
    unquoted, strings quoted). A file too large or out of reach for check is not judged.

    **Why it matters.** The runtime and its hook load this file for every container they create; one
    that does not parse, or holds a value of the wrong type, fails the load ("error loading config:
    failed to load specified config file", nvidia-container-toolkit api/config/v1/toml.go), so no GPU
    container starts at all, whatever its own settings.

    **How to fix.** Fix the line the error names, or write the defaults back (`nvidia-ctk config
    default --output=/etc/nvidia-container-runtime/config.toml`) and set the keys again with
    `nvidia-ctk config --in-place --set`.
    """
    tk = facts.nvidia_toolkit
    if not tk.config_refused or in_container(facts) is True:
        return
    yield make_finding(
        "runtime.toolkit-config-invalid",
        f"The toolkit's config.toml does not load ({tk.config_refused}): the NVIDIA runtime and its hook refuse "
        "every GPU container on this host until it is fixed.",
        [(_where(tk), tk.config_refused)],
        # a TOML syntax error fails the toolkit's parser too; a wrong type fails its unmarshal as far as
        # go-toml v1's conversions go (a quoted "false" for a bool does), which is read, not run, here
        confidence="proves" if tk.config_state == "invalid" else "suggests",
    )


@fact_rule("runtime.visible-devices-env-ignored")
def toolkit_envvar_unprivileged(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The host's toolkit accepts NVIDIA_VISIBLE_DEVICES from unprivileged containers.

    **What it checks.** The host's /etc/nvidia-container-runtime/config.toml (or the GPU Operator's
    copy under /usr/local/nvidia/toolkit/.config): `accept-nvidia-visible-devices-envvar-when-unprivileged
    = false`. Nothing is said without the file, inside a container, or with the default (true).

    **Why it matters.** With false the runtime and hook ignore NVIDIA_VISIBLE_DEVICES in every
    unprivileged container (nvidia-container-toolkit internal/config/image/cuda_image.go VisibleDevices):
    the container starts without a GPU. That variable is how an image's ENV, a pod's env, the k8s device
    plugin's default `envvar` strategy and also `docker --gpus` (moby daemon/nvidia_linux.go sets it)
    hand the toolkit the devices. Where `accept-nvidia-visible-devices-as-volume-mounts = true` (the device
    plugin's volume-mounts strategy) the setting is the intended hardening, and it matters only to a
    container that asks by the variable alone: then this is a notice.

    **How to fix.** Ask for the GPUs in a way the toolkit accepts (a nvidia.com/gpu resource with the
    volume-mounts or CDI strategy, a CDI device `--device nvidia.com/gpu=all`), or set the option to
    true where every container may see every GPU.
    """
    tk = _read(facts)
    if tk is None or tk.accept_envvar_unprivileged is not False:
        return
    evidence = [(_where(tk), f"{ENVVAR_KEY} = false")]
    if tk.accept_volume_mounts:
        evidence.append((_where(tk), f"{VOLUME_KEY} = true"))
        yield make_finding(
            "runtime.visible-devices-env-ignored",
            "The toolkit ignores NVIDIA_VISIBLE_DEVICES in unprivileged containers and accepts the device plugin's "
            "volume mounts instead: the hardened setup. It matters only to a container that asks for GPUs by the "
            "variable alone (an image's ENV, a pod env entry without a nvidia.com/gpu resource, docker --gpus), "
            "which starts without a GPU.",
            evidence,
            severity="notice",
            confidence="suggests",
            prefer="request-through-runtime",
        )
        return
    yield make_finding(
        "runtime.visible-devices-env-ignored",
        "The toolkit ignores NVIDIA_VISIBLE_DEVICES in unprivileged containers, and that variable is how "
        "docker --gpus, compose's nvidia device reservation and the k8s device plugin's default envvar strategy "
        "ask it for GPUs: such a container starts without any GPU. Matters only to GPUs not requested as CDI "
        "devices (--device nvidia.com/gpu=...) or by a privileged container.",
        evidence,
        confidence="suggests",
        prefer="request-through-runtime",
    )


@fact_rule("runtime.hook-direct-unsupported")
def toolkit_mode_direct_hook(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The host's toolkit mode lets the hook that `docker --gpus` runs inject GPUs.

    **What it checks.** The host's toolkit config.toml: `[nvidia-container-runtime] mode` set to `cdi`
    or `jit-cdi`, without `[nvidia-container-runtime-hook] skip-mode-detection = true`. `auto` (the
    default), `legacy` and `csv` (Jetson, runtime.jetson-gpus-flag) are not this.

    **Why it matters.** `docker --gpus` (and compose's nvidia device reservation) runs
    nvidia-container-runtime-hook directly, and the hook injects GPUs only when the mode resolves to
    legacy (cmd/nvidia-container-runtime-hook hook_config.go assertModeIsLegacy, since toolkit 1.13): in
    CDI mode every such container fails at create with "invoking the NVIDIA Container Runtime Hook
    directly (e.g. specifying the docker --gpus flag) is not supported". The NVIDIA runtime
    (`--runtime=nvidia`), CDI devices and Kubernetes are not affected, so this matters only to
    containers started with --gpus.

    **How to fix.** Set the mode back to auto (`nvidia-ctk config --in-place --set
    nvidia-container-runtime.mode=auto`), or start the containers with `--runtime=nvidia` or a CDI
    device instead of --gpus.
    """
    tk = _read(facts)
    if tk is None or tk.mode not in ("cdi", "jit-cdi") or tk.skip_mode_detection:
        return
    yield make_finding(
        "runtime.hook-direct-unsupported",
        f"The toolkit is in {tk.mode} mode, so the hook that docker --gpus (and compose's nvidia device "
        "reservation) runs refuses every container. Matters only to containers started that way: "
        "--runtime=nvidia and CDI devices work in this mode.",
        [(_where(tk), f'[nvidia-container-runtime] mode = "{tk.mode}"')],
        confidence="suggests",
        prefer="toolkit-mode-auto",
    )


@fact_rule("nvidia.toolkit-ldconfig-wrong")
def toolkit_ldconfig(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The ldconfig the host's toolkit runs when it creates a GPU container exists.

    **What it checks.** `[nvidia-container-cli] ldconfig` of the host's toolkit config.toml. A value
    with '@' names a HOST binary: the path is tested in the root, and so is what toolkit 1.15+ runs
    instead (its `.real` sibling when that exists, else the path without `.real`). Neither there: a
    blocker. Only the named one missing (`@/sbin/ldconfig.real` on a distribution without it, while
    /sbin/ldconfig exists): toolkits before 1.15 fail, later ones fall back, a notice. A value without
    '@' (the image's own ldconfig) and no `[features] allow-ldconfig-from-container = true`: toolkit
    1.17.3 and later refuse the whole config. A value the file leaves out is not judged.

    **Why it matters.** nvidia-container-cli runs that ldconfig while the container is created so the
    injected driver libraries enter its ld cache; a missing binary fails the start ("ldcache error:
    open failed: /sbin/ldconfig.real: no such file or directory"), and an invalid config fails every
    GPU container ("nvidia-container-cli.ldconfig value ... is not host-relative").

    **How to fix.** Point `ldconfig` at the host's real ldconfig with '@' (`@/sbin/ldconfig.real` on
    Debian/Ubuntu, `@/sbin/ldconfig` elsewhere).
    """
    tk = _read(facts)
    if tk is None or not tk.ldconfig:
        return
    value = tk.ldconfig
    written = (_where(tk), f'[nvidia-container-cli] ldconfig = "{value}"')
    if not value.startswith("@"):
        if tk.allow_ldconfig_from_container:
            return
        yield make_finding(
            "nvidia.toolkit-ldconfig-wrong",
            f"The toolkit's ldconfig {value!r} has no '@' (it names the image's ldconfig) and "
            "allow-ldconfig-from-container is not enabled: toolkit 1.17.3 and later refuse this config, so no "
            "GPU container starts; older toolkits run the image's own ldconfig.",
            [written, (_where(tk), "[features] allow-ldconfig-from-container not set to true")],
            confidence="suggests",  # the toolkit's version decides
        )
        return
    if tk.ldconfig_exists is None or tk.ldconfig_resolved_exists is None:
        return  # not an absolute host path: the toolkit says so itself
    named, resolved = value[1:], tk.ldconfig_resolved or value[1:]
    if not tk.ldconfig_exists and not tk.ldconfig_resolved_exists:
        missing = [named] if resolved == named else [named, resolved]
        yield make_finding(
            "nvidia.toolkit-ldconfig-wrong",
            f"The toolkit runs the host's {named} while it creates a GPU container, and this host has no "
            f"{' nor '.join(missing)}: every GPU container fails to start (ldcache error: open failed).",
            [written, *((p, "absent") for p in missing)],
        )
    elif not tk.ldconfig_exists:
        yield make_finding(
            "nvidia.toolkit-ldconfig-wrong",
            f"The toolkit's ldconfig names {named}, which this host does not have; toolkit 1.15 and later run "
            f"{resolved} instead, older ones fail every GPU container.",
            [written, (named, "absent"), (resolved, "present")],
            severity="notice",
            confidence="suggests",
        )


@fact_rule("nvidia.toolkit-driver-root-wrong")
def toolkit_driver_root(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The driver root the host's toolkit uses holds a driver.

    **What it checks.** `[nvidia-container-cli] root` of the host's toolkit config.toml, when it is not
    the host's own root: that it is a directory of this root and that libnvidia-ml.so.1 or libcuda.so.1
    is under it (its ld.so.cache, or glibc's default directories), as nvidia-container-cli loads them
    after chrooting there. An unreadable ld.so.cache says nothing.

    **Why it matters.** `root = "/run/nvidia/driver"` is the GPU Operator's driver-container path; left
    in place with the driver installed on the host, or before the operator's driver container runs,
    nvidia-container-cli finds no driver ("load library failed: libnvidia-ml.so.1: cannot open shared
    object file") and no GPU container starts.

    **How to fix.** With the driver on the host, remove `root` (or set "/") and the
    `@/run/nvidia/driver/...` ldconfig; with the GPU Operator's driver, wait for or repair its driver
    container on this node.
    """
    tk = _read(facts)
    if tk is None or not tk.driver_root or tk.driver_root_libs is None or tk.driver_root_libs:
        return
    written = (_where(tk), f'[nvidia-container-cli] root = "{tk.driver_root}"')
    if tk.driver_root_exists is False:
        why, ev = "which does not exist on this host", (tk.driver_root, "absent")
    else:
        why, ev = "which holds no NVIDIA driver library", (tk.driver_root, "no libnvidia-ml.so.1 or libcuda.so.1")
    yield make_finding(
        "nvidia.toolkit-driver-root-wrong",
        f"The toolkit loads the driver from {tk.driver_root}, {why}: nvidia-container-cli cannot load "
        "libnvidia-ml.so.1 and no GPU container starts.",
        [written, ev],
        # an empty directory is the operator's driver container not (yet) running; none at all, a host driver
        prefer="driver-container-ready" if tk.driver_root_exists else "driver-root-host",
    )


@fact_rule("runtime.nvidia-low-level-runtime-missing")
def toolkit_low_level_runtime(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The NVIDIA runtime wrapper finds a low-level runtime to run.

    **What it checks.** Where nvidia-container-runtime is installed on the host, the candidates of the
    toolkit config.toml's `[nvidia-container-runtime] runtimes` (default `["docker-runc", "runc", "crun"]`;
    the defaults when there is no file): a candidate that is a path must be a file, a name must be in
    /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin or /bin, where the wrapper looks after its
    PATH (nvidia-container-toolkit internal/oci/runtime_low_level.go findRuntime, pkg/lookup/path.go). On a k3s
    or RKE2 node their bundled bin directory counts too, since they start containerd with it first on PATH
    (k3s: /var/lib/rancher/k3s/data/current/bin and bin/aux; RKE2: /var/lib/rancher/rke2/bin; each version's
    data/<version>/bin without the link; read inside the root, a link out of it not followed). None found is
    this finding; a relative path is not judged. An empty list (`runtimes = []`, which replaces the
    defaults: the config is unmarshalled over them) is refused before any lookup, "at least one runtime candidate
    must be specified" (findRuntime's first check, internal/oci/runtime_low_level.go:42-43 @v1.14.0 f2bd3173,
    :40-41 @v1.17.8 5603c4fa, @v1.18.0 3c5870bd and @v1.20.0 f0c382c8): a blocker whatever the PATH holds.

    **Why it matters.** The wrapper hands every container to that runtime; finding none, it refuses every
    container it is asked to create, GPU or not, and `nvidia-container-runtime --version` fails too: "error
    constructing low-level runtime: error locating runtime: no runtime binary found from candidate list".
    CRI-O installs runc and crun under /usr/libexec/crio (off PATH: the toolkit's installer lists the engine's
    runtimes by path first, nvidia-container-toolkit#686, NVIDIA/gpu-operator#984), balenaEngine calls its runc balena-runc, and a WSL2 distribution that has
    the toolkit and only the docker CLI has no runc (domesticatedviking/TextyMcSpeechy#47).

    **How to fix.** List the runtime by its absolute path (`nvidia-ctk config --in-place --set
    nvidia-container-runtime.runtimes=/usr/libexec/crio/crun,/usr/libexec/crio/runc,crun,runc`), or install
    runc; under WSL2 use Docker Desktop's engine.

    **Example.** A CRI-O node: /usr/libexec/crio/crun and /usr/libexec/crio/runc, nothing on /usr/bin, and
    the default runtimes list.
    """
    tk = facts.nvidia_toolkit
    if tk.config_refused or in_container(facts) is True or tk.runtime_found != "" or tk.runtimes is None:
        return
    if not tk.runtimes:  # gfeat38: an empty list, refused before any lookup (the engine's PATH does not matter)
        yield make_finding(
            "runtime.nvidia-low-level-runtime-missing",
            "The toolkit's config.toml lists no low-level runtime (`runtimes = []` replaces the defaults): the NVIDIA "
            "runtime wrapper refuses every container an engine hands it, GPU or not ('error constructing low-level "
            "runtime: error locating runtime: at least one runtime candidate must be specified'). Remove the key to get "
            "the defaults back, or list the runtime the engine uses.",
            [(_where(tk), "[nvidia-container-runtime] runtimes = []")],
        )
        return
    # the file's values, bounded: a config may list thousands (the collector judges MAX_RUNTIMES at most)
    listed = ", ".join(r[:120] for r in tk.runtimes[:MAX_RUNTIMES]) + (", ..." if len(tk.runtimes) > MAX_RUNTIMES else "")
    where = _where(tk) if tk.config_state == "read" else f"{_where(tk)} (absent: the toolkit's defaults)"
    yield make_finding(
        "runtime.nvidia-low-level-runtime-missing",
        f"The NVIDIA runtime wrapper would find none of its low-level runtimes ({listed}) on this host: it refuses "
        "every container an engine hands it ('no runtime binary found from candidate list').",
        [
            (where, f"[nvidia-container-runtime] runtimes = [{listed}]"),
            ("/usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin", "none of them is here"),
        ],
        # the engine's own PATH, which the wrapper searches first, is not known to check
        confidence="suggests",
    )
