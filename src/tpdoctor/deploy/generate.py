"""`tpdoctor generate`: a complete, commented, least-privilege deployment from an intent.

The workload (image, GPUs, command, environment, sizes) is written as commented text, read back
by its format's Frontend into a DeploymentModel, and the least privilege is added by the same
fold of the audit findings' edits that `audit --fix` applies: one policy, in the rules. Output is validated in the tests against
the Compose JSON schema, `docker-compose config`, and the Kubernetes OpenAPI schema.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Literal

from tpdoctor.deploy.analysis import facts_render_nodes
from tpdoctor.deploy.images import SPECS, serve_script
from tpdoctor.errors import UsageError
from tpdoctor.model import Facts
from tpdoctor.model.fixes import PRIVILEGED_RISK
from tpdoctor.rules.deploy_shm import TMPFS_EXEC_WHY, TMPFS_TMP

Target = Literal["compose", "docker-run", "podman", "kubernetes"]

IMAGES = {
    "ipex-llm-serving-xpu": ("intelanalytics/ipex-llm-serving-xpu:latest", "xpu"),
    "vllm-openai": ("vllm/vllm-openai:latest", "cuda"),
    "vllm-rocm": ("rocm/vllm:latest", "rocm"),
    # Intel's current stack (deploy/images.py holds each choice with its source)
    **{name: (spec.ref, spec.kind) for name, spec in SPECS.items()},
}

# What ipex-llm's start-vllm-service.sh exports (research/failures.md §4), except its
# CCL_ZE_IPC_EXCHANGE=sockets: "sockets" is silently replaced by drmfd under oneCCL >= 2021.14
# when pidfd is unsupported, and cannot do pipeline parallel's send/recv. The route (drmfd or
# pidfd) is chosen and pinned by the rule oneccl.bypath-missing's edits, as `audit --fix` does.
IPEX_ENV = [
    ("CCL_WORKER_COUNT", "2"),
    ("SYCL_CACHE_PERSISTENT", "1"),
    ("FI_PROVIDER", "shm"),
    ("CCL_ATL_TRANSPORT", "ofi"),
    ("CCL_ATL_SHM", "1"),
    ("USE_XETLA", "OFF"),
    ("SYCL_PI_LEVEL_ZERO_USE_IMMEDIATE_COMMANDLISTS", "2"),
    ("TORCH_LLM_ALLREDUCE", "0"),
    ("CCL_SAME_STREAM", "1"),
    ("CCL_BLOCKING_WAIT", "0"),
]


@dataclass
class Intent:
    image: str = "ipex-llm-serving-xpu"
    model: str = "Qwen/Qwen2.5-7B-Instruct"
    tp: int = 2
    pp: int = 1
    gpus: int | None = None
    target: Target = "compose"
    backend: str | None = None
    ipc_exchange: str = "drmfd"
    security: str = "least"  # least | privileged
    pss: str | None = None
    gpu_allocation: str = "device-plugin"  # device-plugin | dra (Kubernetes only)
    facts: Facts | None = None
    name: str = "llm"
    port: int = 8000
    notes: list[str] = field(default_factory=list)

    @property
    def image_ref(self) -> str:
        return IMAGES[self.image][0] if self.image in IMAGES else self.image

    @property
    def kind(self) -> str:
        if self.image in IMAGES:
            return IMAGES[self.image][1]
        if not self.backend:
            raise UsageError(f"--backend xpu|cuda|rocm is needed for the image {self.image!r}")
        return self.backend

    @property
    def n_gpus(self) -> int:
        from tpdoctor.limits import MAX_GPUS, MAX_PARALLEL, cap_count

        cap_count(self.tp, "--tp", MAX_PARALLEL)
        cap_count(self.pp, "--pp", MAX_PARALLEL)
        n = cap_count(self.gpus or self.tp * self.pp, "GPUs (--gpus, or --tp x --pp)", MAX_GPUS)
        if n < self.tp * self.pp:
            raise UsageError(f"--gpus {n} is less than --tp x --pp = {self.tp * self.pp}")
        return n


def _serve_argv(it: Intent) -> tuple[list[str], list[str]]:
    """(entrypoint, command) for the image."""
    par = ["--tensor-parallel-size", str(it.tp)]
    if it.pp > 1:
        par += ["--pipeline-parallel-size", str(it.pp)]
    if it.image == "ipex-llm-serving-xpu":
        served = it.model.rsplit("/", 1)[-1]
        args = [
            "python", "-m", "ipex_llm.vllm.xpu.entrypoints.openai.api_server",
            "--served-model-name", served, "--model", it.model, "--port", str(it.port),
            "--device", "xpu", "--dtype", "float16", "--enforce-eager", "--load-in-low-bit", "fp8",
            *par, "--distributed-executor-backend", "ray",
        ]  # fmt: skip
        script = "source /opt/intel/1ccl-wks/setvars.sh && exec " + shlex.join(args)
        return ["bash", "-c"], [script]
    if it.image in SPECS:
        spec = SPECS[it.image]
        served = it.model.rsplit("/", 1)[-1]
        args = [it.model, "--served-model-name", served, "--port", str(it.port), *spec.serve_args, *par]
        return ["bash", "-c", serve_script(spec), "--"], args
    if it.image == "vllm-openai":
        return [], ["--model", it.model, "--port", str(it.port), *par]
    return ["vllm", "serve"], [it.model, "--port", str(it.port), *par]


def _env(it: Intent) -> list[tuple[str, str, str]]:
    """(name, value, comment)."""
    out: list[tuple[str, str, str]] = []
    if it.kind == "xpu":
        if it.image == "ipex-llm-serving-xpu":
            out += [(k, v, "") for k, v in IPEX_ENV]
        if it.image in SPECS:
            out += list(SPECS[it.image].env)
        out.append(("CCL_LOG_LEVEL", "info", "prints the IPC exchange oneCCL really uses"))
    if it.kind == "cuda":
        out.append(("NCCL_DEBUG", "WARN", "INFO when debugging transports"))
    out.append(("HF_TOKEN", "${HF_TOKEN:-}", "from the caller's environment, never inline"))
    return out


def _shm(it: Intent) -> str:
    return SPECS[it.image].shm if it.image in SPECS else "16g"


def _render_nodes(it: Intent) -> tuple[list[str], bool]:
    """The GPUs the intent asks for, as render nodes: the host's (from facts) or renderD128.."""
    nodes = facts_render_nodes(it.facts)
    if nodes:
        return nodes, True
    return [f"/dev/dri/renderD{128 + i}" for i in range(it.n_gpus)], False


def _host_notes(it: Intent) -> list[str]:
    notes: list[str] = []
    f = it.facts
    if f is None:  # (the GIDs: see _GID_FROM_HOST; Kubernetes: the device plugin's nodes)
        if it.kind in ("xpu", "rocm") and it.target != "kubernetes":
            notes.append("No --host-facts: render nodes are renderD128..; check `ls /dev/dri`.")
        return notes
    # (SELinux and AppArmor advice: the notices of the rules lsm.*, in generate's header)
    if f.userns.is_initial is False:
        notes.append(
            "User namespace detected: the host render GID must be mapped (/proc/self/gid_map); rootless Podman: "
            "--group-add keep-groups; Docker userns-remap: --userns=host for this container."
        )
    return notes


# An image reference as Docker's reference grammar spells it (github.com/distribution/reference,
# regexp.go: domain[:port]/path-components[:tag][@digest]); anything else (a newline, a quote, a
# space) could inject YAML keys or shell words into the generated file.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
)
IMAGE_REF_RE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
# a model id or a path in the container: no blanks, quotes, control or YAML flow characters, and no dash first: the
# model is the server's first argument (`vllm serve M`), and `--model=--trust-remote-code` wrote a vLLM option that
# runs the model repository's code into every target (gsafe43); a path that starts with a dash is written `./-x`
MODEL_RE = re.compile(r"^[A-Za-z0-9_./@:+=][A-Za-z0-9_./@:+=~-]{0,511}$")


def validate_intent(it: Intent) -> None:
    """Refuse values that would not stay one scalar in the generated YAML or shell (exit 2)."""
    if it.image not in IMAGES and (len(it.image) > 512 or not IMAGE_REF_RE.fullmatch(it.image)):
        raise UsageError(
            f"--image {it.image[:80]!r} is not an image reference (registry/name[:tag][@digest])"
        )
    # fullmatch: `$` alone also ends a match before a final newline, written into the file (review43)
    if not MODEL_RE.fullmatch(it.model):
        raise UsageError(
            f"--model {it.model[:80]!r}: a model id or path without blanks, quotes or control characters, not "
            "starting with a dash (write a path that does as ./-name)"
        )
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", it.name):
        raise UsageError(f"service name {it.name!r} is not a DNS label")
    it.n_gpus  # noqa: B018  (checks the counts against tpdoctor's limits)


def generate(it: Intent) -> str:
    """The workload the intent describes (image, its GPUs, command, environment, sizes), then
    the least privilege it needs as `audit --fix` writes it: the edits of the findings an audit
    of that workload gives, through the same Frontend (deploy/fix.py). That the output audits
    clean holds by construction; `--security privileged` writes the workload privileged instead."""
    validate_intent(it)
    if it.target == "kubernetes":
        head, body, fmt = _kubernetes(it)
    elif it.target == "compose":
        head, body, fmt = _compose(it)
    else:
        head, body, fmt = _run(it)
    if it.security == "privileged":
        return _c(head) + body
    from pathlib import Path

    from tpdoctor.deploy.audit import audit_model, load
    from tpdoctor.deploy.fix import fix_loaded

    pss = "baseline" if it.pss == "baseline" else None
    source = Path(f"generated.{it.target}")
    res = fix_loaded(load(source, fmt, text=body), it.facts, it.ipc_exchange, pss)
    why = list(dict.fromkeys(w for p in res.plans for w in p.why))
    head += ["# Least privilege (what `tpdoctor audit --fix` writes for this workload):"]
    head += [f"#   - {w}" for w in why]
    # what the rules say about the result: the fix's own notices, what it left (pidfd under
    # Pod Security baseline), the notices of an audit of the written file (SELinux, AppArmor)
    cannot = [c for p in res.plans for c in p.cannot]
    it.notes += cannot
    after = audit_model(
        load(source, fmt, text=res.text).model, it.facts, ipc_exchange=it.ipc_exchange, pss=pss
    )
    notes = [f.message for f in res.notices] + cannot
    notes += [f.message for f in after.findings if f.severity.value == "notice"]
    # the GIDs the rules left as placeholders come from the host that runs the file
    gids = {v: cmd for v, cmd in _GID_FROM_HOST.items() if f"${{{v}:?" in res.text}
    notes += [f"{v} comes from the environment: `export {v}=$({cmd})`." for v, cmd in gids.items()]
    head += [f"# NOTE: {' '.join(n.split())}" for n in dict.fromkeys(notes)]
    if fmt in ("docker", "podman"):
        head += [f"export {v}=${{{v}:-$({cmd})}}" for v, cmd in gids.items()]
    return _c(head) + res.text


# How the host gives each GID the fix may leave as a placeholder (deploy_common's
# RENDER_GID_PLACEHOLDER / VIDEO_GID_PLACEHOLDER).
_GID_FROM_HOST = {"RENDER_GID": "getent group render | cut -d: -f3", "VIDEO_GID": "stat -c %g /dev/kfd"}


def _c(lines: list[str]) -> str:
    return "\n".join(lines) + "\n" if lines else ""


def _compose(it: Intent) -> tuple[list[str], str, str]:
    entry, cmd = _serve_argv(it)
    nodes, real = _render_nodes(it)
    kind = it.kind
    head = [
        f"# Generated by tpdoctor generate: {it.image_ref}, {it.model}, TP={it.tp} PP={it.pp} on {it.n_gpus} GPU(s).",
        "# Every grant says why tensor parallel needs it. Audit with `tpdoctor audit`.",
    ]
    head += [f"# NOTE: {n}" for n in _host_notes(it)]
    L = ["services:", f"  {it.name}:", f"    image: {it.image_ref}"]
    if it.security == "privileged":
        L += [
            "    # UNSAFE quick fix (the article's): privileged grants SYS_PTRACE and unconfined seccomp, so",
            "    # oneCCL's pidfd route works. " + PRIVILEGED_RISK,
            "    privileged: true",
        ]
    elif kind in ("xpu", "rocm"):
        L.append(f"    devices:  # exactly the GPUs ({'from host facts' if real else 'check `ls /dev/dri`'})")
        if kind == "rocm":
            L.append("      - /dev/kfd")
        L += [f"      - {n}" for n in nodes]
    L += [
        f"    tmpfs:  # exec: {TMPFS_EXEC_WHY}",
        f"      - {TMPFS_TMP}  # oneCCL IPC sockets and the pidfd self-test",
        f"    shm_size: {_shm(it)}  # NCCL/oneCCL shm, vLLM shm broadcast, Ray object store; no ipc: host needed",
    ]
    if kind == "cuda":
        ids = ", ".join(f'"{i}"' for i in range(it.n_gpus))
        L += [
            "    deploy:",
            "      resources:",
            "        reservations:",
            "          devices:  # select GPUs here only; leave CUDA_VISIBLE_DEVICES unset",
            "            - driver: nvidia",
            f"              device_ids: [{ids}]",
            "              capabilities: [gpu]",
        ]
    L.append("    environment:")
    for k, v, why in _env(it):
        L.append(f"      {k}: {json.dumps(v)}" + (f"  # {why}" if why else ""))
    # compose interpolates $VAR in every string: a shell's own "$@" is written $$@
    if entry:
        L.append(f"    entrypoint: {json.dumps([e.replace('$', '$$') for e in entry])}")
    L.append(f"    command: {json.dumps([c.replace('$', '$$') for c in cmd])}")
    L += ["    ports:", f'      - "{it.port}:{it.port}"']
    return head, _c(L), "compose"


def _run(it: Intent) -> tuple[list[str], str, str]:
    from tpdoctor.deploy.dockerrun import emit_run

    entry, cmd = _serve_argv(it)
    nodes, _ = _render_nodes(it)
    podman = it.target == "podman"
    kind = it.kind
    opts: list[tuple[str, str | None]] = [("--rm", None), ("--name", it.name)]
    if it.security == "privileged":
        opts.append(("--privileged", None))
    else:
        if kind == "rocm":
            opts.append(("--device", "/dev/kfd"))
        if kind in ("xpu", "rocm"):
            opts += [("--device", n) for n in nodes]
        if kind == "cuda":
            opts.append(("--gpus", '"device=' + ",".join(str(i) for i in range(it.n_gpus)) + '"'))
    opts += [("--shm-size", _shm(it)), ("--tmpfs", TMPFS_TMP), ("--publish", f"{it.port}:{it.port}")]
    for k, v, _ in _env(it):
        opts.append(("--env", k if k == "HF_TOKEN" else f"{k}={v}"))
    if entry:
        opts.append(("--entrypoint", entry[0]))
        cmd = entry[1:] + cmd
    head = [
        "#!/bin/sh",
        f"# Generated by tpdoctor generate: {it.image_ref}, TP={it.tp} PP={it.pp} on {it.n_gpus} GPU(s).",
        "# Comments stay above the command: a comment inside a backslash continuation ends it.",
        f"# --tmpfs {TMPFS_TMP}: oneCCL's IPC sockets and pidfd self-test; exec: {TMPFS_EXEC_WHY}.",
    ]
    if it.security == "privileged":
        head.append("# UNSAFE quick fix: --privileged. " + PRIVILEGED_RISK)
    head += [f"# NOTE: {n}" for n in _host_notes(it)]
    engine = ["podman", "run"] if podman else ["docker", "run"]
    return head, emit_run(engine, opts, it.image_ref, cmd) + "\n", "podman" if podman else "docker"


def _kubernetes(it: Intent) -> tuple[list[str], str, str]:
    entry, cmd = _serve_argv(it)
    kind = it.kind
    resource = {"xpu": "gpu.intel.com/i915", "cuda": "nvidia.com/gpu", "rocm": "amd.com/gpu"}[kind]
    dra = it.gpu_allocation == "dra"
    if dra and kind not in DRA_CLASS:
        raise UsageError("--gpu-allocation dra: tpdoctor knows the Intel and NVIDIA DRA drivers, not ROCm's")
    head = [
        f"# Generated by tpdoctor generate: {it.image_ref}, TP={it.tp} PP={it.pp} on {it.n_gpus} GPU(s).",
        "# GPUs come from "
        + ("a DRA ResourceClaim" if dra else "the device plugin")
        + " (no hostPath); /dev/shm and /tmp are emptyDirs.",
    ]
    if it.pss == "baseline":
        head += [
            "# Fits Pod Security 'baseline' (label the namespace pod-security.kubernetes.io/enforce=baseline).",
            "# Cannot do within baseline: oneCCL's pidfd route (SYS_PTRACE), hostIPC, a hostPath by-path mount.",
            "# The Intel GPU plugin mounts by-path entries (-bypath=single: plain files; use -bypath=all if",
            "# Level Zero memory queries fail, intel-device-plugins-for-kubernetes#2158).",
        ]
    head += [f"# NOTE: {n}" for n in _host_notes(it)]
    L = _dra_claim_template(it, kind) if dra else []
    L += [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        f"  name: {it.name}",
        "  labels:",
        f"    app: {it.name}",
        "spec:",
        "  replicas: 1",
        "  selector:",
        "    matchLabels:",
        f"      app: {it.name}",
        "  template:",
        "    metadata:",
        "      labels:",
        f"        app: {it.name}",
        "    spec:",
        "      automountServiceAccountToken: false",
        "      containers:",
        f"        - name: {it.name}",
        f"          image: {it.image_ref}",
        "          imagePullPolicy: Always",
    ]
    if it.security == "privileged":
        L += ["          securityContext:  # UNSAFE: " + PRIVILEGED_RISK, "            privileged: true"]
    if entry:
        L.append(f"          command: {json.dumps(entry)}")
    L += [f"          args: {json.dumps(cmd)}", "          ports:", f"            - containerPort: {it.port}"]
    for probe, delay in (("readinessProbe", 60), ("livenessProbe", 300)):  # model loading takes minutes
        L += [
            f"          {probe}:",
            "            httpGet:",
            "              path: /health",
            f"              port: {it.port}",
            f"            initialDelaySeconds: {delay}",
            "            periodSeconds: 10",
        ]
    L.append("          env:")
    for k, v, why in _env(it):
        if k == "HF_TOKEN":
            L += [
                "            - name: HF_TOKEN  # from a Secret, never inline",
                "              valueFrom:",
                "                secretKeyRef:",
                "                  name: hf-token",
                "                  key: token",
                "                  optional: true",
            ]
            continue
        L += [
            f"            - name: {k}" + (f"  # {why}" if why else ""),
            f"              value: {json.dumps(v)}",
        ]
    gpu_limit = [] if dra else [f"              {resource}: {it.n_gpus}"]
    L += ["          resources:"]
    if dra:
        L += [
            "            claims:  # the GPUs: the ResourceClaimTemplate above",
            "              - name: gpus",
        ]
    L += [
        "            limits:",
        *gpu_limit,
        "              memory: 64Gi  # the /dev/shm emptyDir counts against it",
        "              cpu: '16'",
        "            requests:",
        *gpu_limit,
        "              memory: 32Gi",
        "              cpu: '8'",
        "          volumeMounts:",
        "            - name: dshm",
        "              mountPath: /dev/shm",
        "            - name: tmp",
        "              mountPath: /tmp",
        "      volumes:",
        "        - name: dshm  # NCCL/oneCCL shm, vLLM shm broadcast, Ray; hostIPC is not needed",
        "          emptyDir:",
        "            medium: Memory",
        f"            sizeLimit: {_shm(it).upper().removesuffix('G')}Gi",
        "        - name: tmp  # oneCCL IPC sockets",
        "          emptyDir: {}",
    ]
    if dra:
        L += [
            "      resourceClaims:  # one claim per pod from the template: all ranks' GPUs",
            "        - name: gpus",
            f"          resourceClaimTemplateName: {it.name}-gpus",
        ]
    return head, _c(L), "kubernetes"


# DRA DeviceClass of each vendor's resource driver, and what its CDI spec puts in the container
# (docs/generate.md "Kubernetes with DRA" has the details and sources).
DRA_CLASS = {"xpu": "gpu.intel.com", "cuda": "gpu.nvidia.com"}
DRA_NOTES = {
    "xpu": [
        "# DeviceClass gpu.intel.com: Intel GPU resource driver (intel/intel-resource-drivers-for-kubernetes,",
        "# deployments/gpu/base/device-class.yaml). Its CDI spec adds /dev/dri/cardN and renderDN and bind-mounts",
        "# /dev/dri/by-path/pci-<BDF>-card and -render (pkg/gpu/cdihelpers/cdihelpers.go): oneCCL's drmfd walk works.",
        "# To keep the ranks under one PCIe root, add: constraints: [{matchAttribute: gpu.intel.com/pciRoot}]",
    ],
    "cuda": [
        "# DeviceClass gpu.nvidia.com: NVIDIA DRA driver (NVIDIA/k8s-dra-driver-gpu, deployments/helm/",
        "# dra-driver-nvidia-gpu/templates/deviceclass-gpu.yaml). Its CDI spec (nvidia-container-toolkit's nvcdi,",
        "# cmd/gpu-kubelet-plugin/cdi.go) adds /dev/nvidiaN per GPU, /dev/nvidiactl, /dev/nvidia-uvm* and the driver libraries.",
    ],
}


def _dra_claim_template(it: Intent, kind: str) -> list[str]:
    """A resource.k8s.io/v1 ResourceClaimTemplate asking the vendor's DRA driver for n GPUs."""
    return [
        "# GPUs through Dynamic Resource Allocation (resource.k8s.io/v1, Kubernetes >= 1.34) instead of the",
        "# device plugin's extended resource: no hostPath, no privileged.",
        *DRA_NOTES[kind],
        "apiVersion: resource.k8s.io/v1",
        "kind: ResourceClaimTemplate",
        "metadata:",
        f"  name: {it.name}-gpus",
        "spec:",
        "  spec:",
        "    devices:",
        "      requests:",
        "        - name: gpus",
        "          exactly:",
        f"            deviceClassName: {DRA_CLASS[kind]}",
        "            allocationMode: ExactCount",
        f"            count: {it.n_gpus}  # TP x PP ranks, one GPU each",
        "---",
    ]
