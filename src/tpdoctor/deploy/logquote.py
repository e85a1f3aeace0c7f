"""What a `docker run` / `podman run` command (or `create`) quoted in a log says about the container it started.

Users paste the command they ran above the error (`$ sudo docker run --gpus all ...`). `explain`
hands the captured text here and gets back plain string facts (no deploy types cross the layer):
whether any GPU was requested and how many, the /dev/shm the container got, the device nodes it
was given, its groups and user namespace. The command is parsed by the same front-end `audit` uses
(`dockerrun.find_run_commands` / `run_to_service`), so a pasted script reads the same in both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tpdoctor import rxcompat
from tpdoctor.deploy.analysis import RENDER_RE, backend, pp_size, tp_size
from tpdoctor.deploy.dockerrun import find_run_commands, run_to_service
from tpdoctor.deploy.model import Service
from tpdoctor.errors import InputError, TpdoctorError
from tpdoctor.model import driver_caps

# Where the command starts on its line: anything before it is a prompt (`$ `, `root@h:~# `, `==>>>`).
# `nvidia-docker run` (NVIDIA/nvidia-docker v2 wrapper script `nvidia-docker`: for run/create it execs
# `docker "$@"` with `--runtime=nvidia` inserted) is read as `docker run --runtime=nvidia`.
_START = re.compile(
    r"(?:\bsudo\s+(?:-E\s+)?)?\b(nvidia-docker|docker|podman|nerdctl)\s+(?:container\s+)?(?:run|create)\b"
)
DEFAULT_SHM = (
    64 << 20
)  # Docker's and Podman's default /dev/shm (moby daemon/config DefaultShmSize, containers.conf shm_size)


# What may stand before the command on its line: a shell prompt (`$ `, `# `, `user@host:~/x$ `, `(venv) `,
# `+ ` of set -x, `>>> `-free markers like `==>>>`), or an opening backtick of a command quoted in prose. The default
# prompts of the shells people paste from (glearn43c: no cmd_* facts came from an oh-my-zsh line): bash's
# `\u@\h:\w\$` and RHEL/Fedora's `[\u@\h \W]\$`, `bash-5.1# ` (\s-\v\$), zsh's `user@host ~ % `, oh-my-zsh's
# robbyrussell theme `➜  dir git:(branch) ✗ `, starship/pure's `❯ `, PowerShell's `PS C:\dir> ` and cmd's `C:\dir>`.
_PROMPT = rxcompat.compile(
    # possessive: the run of marks is never given back (a `-` of it was tried again as a user name, `[\w.-]+@`, from
    # each of its ends: 16 KiB of dashes before `docker run` took 0.8 s, 64 KiB 13 s; gsafe48)
    r"^[\s$#>%=+*~-]*+(?:\([\w.-]+\)\s*){0,3}(?:"
    r"[\w.-]+@[\w.-]+(?:[: ]\S*)?\s*[$#%]\s*"
    r"|\[[\w.-]+@[\w.-]+(?:\s+[^\]\s]+)?\]\s*[$#]\s*"
    r"|(?:bash|sh|zsh)-[\d.]+[$#]\s*"
    r"|[➜❯λ]\s+(?:[^\s`]+\s+)?(?:git:\([^)\s]*\)\s*)?(?:✗\s*)?"
    r"|(?:PS\s+)?[A-Za-z]:\\[^>\n]*>\s*"
    r")?$"
)
# A Docker image reference (distribution/reference grammar, simplified): lowercase path, optional tag/digest.
_IMAGE = re.compile(
    r"^(?:[\w.-]+(?::\d+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)


def _normalized(text: str) -> str | None:
    m = _START.search(text)
    if m is None:
        return None
    before = text[: m.start()]
    cmd = text[m.start() :]
    line_start = before.rsplit("\n", 1)[-1]
    if line_start.rstrip("$# ").endswith("`"):
        cmd = cmd.split("`", 1)[
            0
        ]  # `docker run ...` (or `$ docker run ...`) inside a sentence: up to the closing backtick
    elif not _PROMPT.match(line_start):
        return None  # prose that mentions docker run, not a pasted command
    if m.group(1) == "nvidia-docker":
        cmd = re.sub(
            r"\bnvidia-docker\s+(container\s+)?(run|create)\b", r"docker \1\2 --runtime=nvidia", cmd, count=1
        )
    return cmd


def _gpu_request(svc: Service) -> tuple[str, int | None]:
    """('none' | 'nvidia' | 'amd' | 'intel' | 'all-devices' | 'privileged', count or None)."""
    if svc.privileged:
        return "privileged", None
    if any(d.host.rstrip("/") == "/dev" for d in svc.devices):
        return "all-devices", None
    if svc.gpus:
        vendors = {g.vendor for g in svc.gpus}
        counts = [g.count for g in svc.gpus if g.via != "runtime"]
        count = sum(c for c in counts if c is not None) if counts and None not in counts else None
        return (sorted(vendors - {"unknown"}) or ["nvidia"])[0], count
    # the AMD Container Toolkit's runtime adds /dev/kfd and the render nodes of the GPUs AMD_VISIBLE_DEVICES (or
    # DOCKER_RESOURCE_*) names (ROCm/container-toolkit internal/oci/oci.go getAMDEnv, addGPUDevices @192fe8e9)
    if svc.runtime == "amd" and any(k == "AMD_VISIBLE_DEVICES" or k.startswith("DOCKER_RESOURCE_") for k in svc.env):
        return "amd", None
    hosts = [d.host for d in svc.devices]
    nv = [h for h in hosts if re.fullmatch(r"/dev/nvidia\d+", h)]
    if nv:
        return "nvidia", len(nv)
    if "/dev/kfd" in hosts:
        renders = [h for h in hosts if RENDER_RE.match(h)]
        return "amd", len(renders) or None
    if any(h.startswith("/dev/dri") for h in hosts):
        renders = [h for h in hosts if RENDER_RE.match(h)]
        return "intel", len(renders) or None
    return "none", None


def service_facts(svc: Service, engine: str, opaque: bool = False) -> dict[str, str]:
    """The facts `explain` reads, as strings (keys documented in docs/explain.md, "Context").

    `opaque`: words the command expands at run time ($EXTRA_ARGS) stand before the image, so an absent
    flag may be in them: the GPU request and /dev/shm are then "unknown", never "none"/"default"."""
    out: dict[str, str] = {"cmd_engine": engine, "cmd_backend": backend(svc)}
    request, count = _gpu_request(svc)
    hidden = opaque or any("$" in d.host for d in svc.devices) or "$" in (svc.runtime or "")
    if hidden and request == "none":
        request = "unknown"
    out["cmd_gpu_request"] = request
    if count is not None:
        out["cmd_gpu_count"] = str(count)
    # NVIDIA_VISIBLE_DEVICES given with -e: with a default runtime of nvidia it selects GPUs without --gpus
    if "NVIDIA_VISIBLE_DEVICES" in svc.env:
        out["cmd_nvidia_visible_devices"] = svc.env["NVIDIA_VISIBLE_DEVICES"]
    out.update(_driver_caps_facts(svc))
    if svc.ipc in ("host", "shareable") or (svc.ipc or "").startswith("container:"):
        out["cmd_shm"] = f"ipc={svc.ipc}"
    elif svc.shm_size is not None:
        out["cmd_shm"] = str(svc.shm_size)
    elif svc.shm_size_raw or opaque:
        out["cmd_shm"] = "unknown"  # ${SHM} or hidden words: the size is not in the text
    elif any(m.target.rstrip("/") == "/dev/shm" for m in svc.mounts):
        out["cmd_shm"] = "mounted"
    else:
        out["cmd_shm"] = "default"
    hosts = sorted({d.container or d.host for d in svc.devices})
    if hosts:
        out["cmd_devices"] = ",".join(hosts)
    out["cmd_kfd"] = "yes" if any(h == "/dev/kfd" for h in hosts) else "no"
    out["cmd_dri"] = "yes" if any(h.startswith("/dev/dri") for h in hosts) else "no"
    if svc.group_add:
        out["cmd_group_add"] = ",".join(svc.group_add)
    if svc.userns:
        out["cmd_userns"] = svc.userns
    for name in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK"):
        if name in svc.env:
            out["cmd_" + name.lower()] = svc.env[name]
    tp, pp = tp_size(svc), pp_size(svc)
    if tp:
        out["cmd_tp_size"] = str(tp)
    if pp:
        out["cmd_pp_size"] = str(pp)
    m = re.search(r"--nproc[-_]per[-_]node[= ](\d+)", " ".join(svc.command))
    if m:
        out["cmd_nproc_per_node"] = m.group(1)
    if svc.image:
        out["cmd_image"] = svc.image
    incomplete = svc.extra.get("compose_gpu_reservation_incomplete")
    if incomplete:
        out["cmd_gpu_reservation_incomplete"] = incomplete
    shadow = next((m for m in svc.mounts if m.kind in ("bind", "tmpfs") and image_dir_shadowed(m.target)), None)
    if shadow is not None:
        out["cmd_mount_shadows_image_dir"] = f"{shadow.source or shadow.kind}:{shadow.target}"
    return out


# gnew22: directories an image fills itself, so a bind mount (or tmpfs) there hides what the image installed
# (intel/ipex-llm#11944: -v <models>:/llm hid ipex-llm-serving-xpu's /llm tree, "No module named 'vllm'";
# #12515: -v /opt:/opt hid /opt/intel/oneapi, "libmkl_intel_lp64.so.2: cannot open shared object file").
# Data directories (/models, /data, /root/.cache, /llm/models, /workspace) are not among them.
_IMAGE_DIRS = frozenset(
    (
        "/", "/opt", "/usr", "/usr/local", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/bin",
        "/usr/local/bin", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/llm", "/sgl-workspace", "/opt/conda",
        "/opt/intel", "/opt/rocm", "/opt/nvidia", "/opt/venv", "/usr/local/cuda",
    )
)  # fmt: skip
_IMAGE_TREES = re.compile(
    r"/(?:usr/(?:local/)?lib/python3[\w.]*(?:/(?:site|dist)-packages)?|opt/intel/oneapi(?:/[\w.]+)?"
    r"|usr/local/cuda-[\d.]+|opt/rocm-[\d.]+|opt/conda/lib(?:/python3[\w.]*)?)"
)


def image_dir_shadowed(target: str) -> bool:
    """Whether a mount on `target` hides a directory the image itself fills (_IMAGE_DIRS, _IMAGE_TREES)."""
    t = "/" + target.strip().strip("/") if target.strip() else ""
    return bool(t) and (t in _IMAGE_DIRS or _IMAGE_TREES.fullmatch(t) is not None)


# The capability facts the explain correlations read (signatures.yaml, gcaps), named as the line facts are, so a
# Kubernetes env entry split over two lines (`- name: NVIDIA_DRIVER_CAPABILITIES` / `value: utility`) counts too.
_CAP_FACTS = (
    ("compute", ("compute",)),
    ("utility", ("utility",)),
    ("video", ("video",)),
    ("graphics", ("graphics", "display")),
)


def _driver_caps_facts(svc: Service) -> dict[str, str]:
    """nvidia_caps_no_<cap> / nvidia_caps_has_<cap> for the capabilities the runtime hook will read: a device
    request's NVIDIA capabilities (the daemon writes them last), else the environment's value."""
    value = next((g.driver_caps for g in svc.gpus if g.driver_caps is not None), None)
    if value is None:
        value = svc.env.get(driver_caps.VARIABLE)
    if value is None or "$" in value or not driver_caps.parse(value):
        return {}
    out = {"cmd_nvidia_driver_capabilities": value}
    for cap, names in _CAP_FACTS:
        if all(driver_caps.lacks(value, n) for n in names):
            out[f"nvidia_caps_no_{cap}"] = value
        elif cap in ("video", "graphics"):
            out[f"nvidia_caps_has_{cap}"] = value
    return out


def run_facts(text: str) -> dict[str, str] | None:
    """Facts of the first container command in `text` (a line of a log with its continuation lines);
    None when it holds no command the front-end can read."""
    cmd = _normalized(text)
    if cmd is None:
        return None
    try:
        runs, _variables, _notes = find_run_commands(cmd, "log")
    except InputError:
        return None  # a pasted fragment the shell would refuse: no fact from it
    if not runs:
        return None
    run = runs[0]
    if run.image is None or not _IMAGE.match(run.image):
        return None  # no image where the command needs one: a fragment or a sentence
    try:
        svc = run_to_service(run, 0, cmd.splitlines())
    except (TpdoctorError, TypeError, ValueError, KeyError, AttributeError):
        # a value the front-end refuses (`--gpus` and 5000 digits: int()'s ValueError, an internal error of the whole
        # explain, gsafe50): no fact from that command, the log is explained
        return None
    return service_facts(svc, run.engine, opaque=bool(run.notices))


def compose_facts(text: str) -> dict[str, str] | None:
    """Facts of a compose file quoted in a log (`services:` and its indented lines), read by audit's
    compose front-end without the project's `.env`; the service that asks for devices or GPUs first,
    else the first service. None when the snippet does not parse (indentation lost in a paste)."""
    from tpdoctor.deploy.compose import parse_compose

    try:
        model, _doc = parse_compose(text, "quoted-compose.yaml", read_env=False)
    except (TpdoctorError, TypeError, ValueError, KeyError, AttributeError):
        return None  # invalid YAML, no services, a key of the wrong type: a pasted fragment gives no fact
    return _first_gpu_service_facts(model.services, "compose")


def _first_gpu_service_facts(services: Sequence[Service], how: str) -> dict[str, str] | None:
    """The facts of the service that asks for GPUs, devices or privilege first, else of the first
    service with an image; None when no service names an image."""
    with_image = [s for s in services if s.image]
    if not with_image:
        return None
    svc = next((s for s in with_image if s.gpus or s.devices or s.privileged), with_image[0])
    out = service_facts(svc, how)
    out["cmd_service"] = svc.name
    return out


# gfix44: a compose service pasted without its file's `services:` (the service's name and body, or its body alone).
# The service keys that carry the GPU setup (compose-spec's service schema: devices, deploy.resources.reservations
# .devices, shm_size, ipc, runtime, gpus) make the fragment a compose service; one of them must be at the service's
# level. A Kubernetes manifest or pod-spec fragment or a Helm values file is never read as compose: their keys
# (apiVersion, kind, containers, resources at the container's level, runtimeClassName, ...) anywhere, an `image:`
# that is a mapping (Helm's repository/tag) or an extended resource name (nvidia.com/gpu) as a key refuse it.
FRAGMENT_KEYS = frozenset({"deploy", "devices", "shm_size", "ipc", "runtime", "gpus"})
_NOT_COMPOSE = frozenset(
    {
        "apiVersion", "kind", "metadata", "spec", "containers", "initContainers", "template", "volumeMounts",
        "securityContext", "podSecurityContext", "nodeSelector", "tolerations", "affinity", "runtimeClassName",
        "replicaCount", "imagePullPolicy", "podAnnotations", "serviceAccount", "serviceAccountName", "helm",
    }
)  # fmt: skip
_RESOURCE_NAME = re.compile(r"^[\w.-]+\.[a-z]{2,}/[\w.-]+$")  # nvidia.com/gpu, amd.com/gpu, gpu.intel.com/i915


def _kubernetes_or_helm(node: object, depth: int = 0) -> bool:
    if depth > 12:
        return True
    if isinstance(node, dict):
        for k, v in node.items():
            if str(k) in _NOT_COMPOSE or _RESOURCE_NAME.match(str(k)) or _kubernetes_or_helm(v, depth + 1):
                return True
    elif isinstance(node, list):
        return any(_kubernetes_or_helm(v, depth + 1) for v in node)
    return False


def _service_body(node: object) -> bool:
    """A compose service's mapping: a GPU-setup key at its level, an `image` (if any) that is a string, no
    container-level `resources` (compose puts them under deploy)."""
    return (
        isinstance(node, dict)
        and bool(FRAGMENT_KEYS & {str(k) for k in node})
        and isinstance(node.get("image", ""), str)
        and "resources" not in node
    )


def fragment_facts(text: str) -> dict[str, str] | None:
    """Facts of a compose service pasted without `services:` (its name and body, or the body alone), read as
    compose_facts reads a whole file; None for anything else (a Kubernetes manifest or fragment, a Helm values
    file, a mapping without a GPU-setup key at a service's level, YAML that does not parse). A body without an
    `image` is a part of a service: what it does not show is unknown, never "none"/"default"."""
    import textwrap

    from tpdoctor.deploy.compose import parse_compose
    from tpdoctor.deploy.io import load_yaml_docs, read_only_trees

    body = textwrap.dedent(text.replace("\t", "    ")).strip("\n") + "\n"
    try:
        with read_only_trees():
            docs = load_yaml_docs(body, "quoted-compose-fragment.yaml")
    except (TpdoctorError, TypeError, ValueError, KeyError, AttributeError):
        return None
    if len(docs) != 1 or not isinstance(docs[0], dict) or _kubernetes_or_helm(docs[0]):
        return None
    doc = docs[0]
    if _service_body(doc):
        wrapped = "services:\n  pasted:\n" + textwrap.indent(body, "    ")
    elif all(isinstance(v, dict) and not (FRAGMENT_KEYS & {str(k)}) for k, v in doc.items()) and any(
        _service_body(v) for v in doc.values()
    ):
        wrapped = "services:\n" + textwrap.indent(body, "  ")
    else:
        return None
    try:
        with read_only_trees():
            model, _doc = parse_compose(wrapped, "quoted-compose-fragment.yaml", read_env=False)
    except (TpdoctorError, TypeError, ValueError, KeyError, AttributeError):
        return None
    services = [s for s in model.services if s.name in doc or s.name == "pasted"]
    if not services:
        return None
    svc = next((s for s in services if s.gpus or s.devices or s.privileged), services[0])
    out = service_facts(svc, "compose", opaque=not svc.image)
    out["cmd_service"] = svc.name if svc.name != "pasted" else "(pasted service)"
    return out


def manifest_facts(text: str) -> dict[str, str] | None:
    """Facts of a Kubernetes manifest quoted in a log (from `apiVersion:`), read by audit's Kubernetes
    front-end: the container that asks for GPUs or devices first, else the first container."""
    from tpdoctor.deploy.kubernetes import parse_kubernetes

    try:
        model, _docs = parse_kubernetes(text, "quoted-manifest.yaml", validate=False)
    except (TpdoctorError, TypeError, ValueError, KeyError, AttributeError):
        return None  # not a workload, or a fragment: no fact
    return _first_gpu_service_facts(model.services, "kubernetes")
