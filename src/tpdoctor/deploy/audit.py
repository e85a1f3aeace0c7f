"""Load any supported deployment file into a DeploymentModel and run the audit rules on it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpdoctor.deploy.frontend import Frontend, frontend
from tpdoctor.deploy.io import MAX_BYTES, decode_config
from tpdoctor.deploy.model import DeploymentModel, Format, Service
from tpdoctor.deploy.shellwords import is_doc, mask_doc
from tpdoctor.errors import InputError, NotDeploymentError
from tpdoctor.model import Facts, Finding
from tpdoctor.rules.registry import DeployContext, run_deploy_rules
from tpdoctor.safewrite import ReadState, TextStyle, detect_style, normalize_text, read_state

# blanks, never newlines, after a line start or a shell separator, and a command's directory without a separator in
# it: `\s*` from every line start ran over all the blank lines below it (20,000 blank lines took 87 s, an 8 MiB file
# of them hours) and `\S*/` from every `;` over the rest of a `;;;;` run (a 64 KiB comment of them: 30 s; gsafe47)
_RUN = re.compile(
    r"(?:^|[;&|(]|\bthen\b|\bdo\b)[ \t]*(?:\$[ \t]+)?(?:sudo[ \t]+(?:-E[ \t]+)?)?(?:[^\s;&|(]*/)?"
    r"(docker|podman|nerdctl)[ \t]+(?:container[ \t]+)?run\b",
    re.M,
)
_ENGINE_WORD = re.compile(r"docker|podman|nerdctl")


# Dev Container configs: by name (devcontainers/spec docs/specs/devcontainer-reference.md), or a
# JSON object holding a key only a devcontainer.json has (schemas/devContainer.base.schema.json)
# and neither compose's `services` nor Kubernetes' `apiVersion` (compose files may be JSON too)
_DEVCONTAINER_NAMES = ("devcontainer.json", ".devcontainer.json")
_DEVCONTAINER_KEYS = re.compile(
    r'"(?:runArgs|dockerComposeFile|hostRequirements|remoteUser|containerUser|containerEnv|remoteEnv|'
    r"postCreateCommand|postStartCommand|onCreateCommand|customizations|workspaceFolder|workspaceMount|"
    r'capAdd|securityOpt|overrideCommand|forwardPorts|shutdownAction|updateRemoteUserUID)"\s*:'
)
_JSONC_LEAD = re.compile(r"^(?:\s|//[^\n]*\n|/\*.*?\*/)*", re.S)


def is_devcontainer(text: str, path: str) -> bool:
    if path.replace("\\", "/").rsplit("/", 1)[-1] in _DEVCONTAINER_NAMES:
        return True
    if not _JSONC_LEAD.sub("", text[:4096], count=1).startswith("{"):
        return False
    return bool(_DEVCONTAINER_KEYS.search(text)) and not re.search(r'"(?:services|apiVersion)"\s*:', text)


# Podman Quadlet units (podman-systemd.unit(5)): systemd INI with a [Container], [Pod], [Kube]… section, named
# *.container, *.pod, *.kube…; they reached the YAML parser and ended in "invalid YAML at line 2" (gsafe42)
_QUADLET_SECTION = re.compile(r"^[ \t]*\[(Container|Pod|Kube|Volume|Network|Build|Image)\][ \t]*\r?$", re.M)
_QUADLET_SUFFIXES = (".container", ".pod", ".kube", ".volume", ".network", ".build", ".image")


def refuse_quadlet(text: str, path: str) -> None:
    m = _QUADLET_SECTION.search(text)
    if m is None or not (path.endswith(_QUADLET_SUFFIXES) or re.match(r"\s*(?:[#;][^\n]*\n\s*)*\[", text)):
        return
    raise NotDeploymentError(
        f"{path}: a Podman Quadlet unit ([{m.group(1)}] section, systemd INI), which tpdoctor does not read: audit the "
        "`podman run` line Quadlet makes of it (`/usr/libexec/podman/quadlet -dryrun -user` prints it as ExecStart=)"
    )


# a key of a flow mapping: after `{` or `,` (blanks, not newlines, between: `\s*` from each line start ran over a run of
# blank lines, quadratic), quoted or not
_FLOW_KEY = r"""[{{,][ \t]*["']?{}["']?[ \t]*:"""


# compose's `services:` key starting a line, quoted or not (`"services":` is the same key: a compose file so written,
# with a flow mapping holding apiVersion and kind, was read as Kubernetes, gsafe47)
_SERVICES_LINE = re.compile(r"""^[ \t]*(?:services|"services"|'services')[ \t]*:""", re.M)

_TOP_SERVICES = re.compile(r"""^(?:services|"services"|'services')[ \t]*:""", re.M)
_TOP_API = re.compile(r"""^(?:-[ \t]+|---[ \t]+)?(?:apiVersion|"apiVersion"|'apiVersion')[ \t]*:""", re.M)


def detect_format(text: str, path: str) -> Format:
    refuse_quadlet(text, path)
    if is_devcontainer(text, path):
        return "devcontainer"
    # a document's commands are its code blocks (and inline `docker run` spans: the masked text puts them where a line
    # starts); MDX and reStructuredText are documents too (gwild52)
    scan = mask_doc(text, path) if is_doc(path) else text
    m = _RUN.search(scan) if _ENGINE_WORD.search(scan) else None  # the literals first: _RUN tries every position
    if path.endswith((".sh", ".bash", ".txt")) or is_doc(path) or (m and not _SERVICES_LINE.search(text)):
        if not m:
            raise NotDeploymentError(f"{path}: no docker/podman run command found")
        return "podman" if m.group(1) == "podman" else "docker"
    # a top-level `services:` and no top-level apiVersion: compose, whatever a service's labels or environment hold
    # (`labels: {apiVersion: v1, kind: Pod}` written as a block made a privileged service "no Pod … found", exit 2)
    if _TOP_SERVICES.search(text) and not _TOP_API.search(text):
        return "compose"
    if re.search(r"^[ \t]*apiVersion[ \t]*:", text, re.M) and re.search(r"^[ \t]*kind[ \t]*:", text, re.M):
        return "kubernetes"
    # `kubectl get -o json` (a List, or one object): the keys are quoted and need not start a line; it was read as a
    # compose file ("no services: mapping found") unless --input kubernetes was given (gsafe41)
    if re.search(r'"apiVersion"\s*:', text) and re.search(r'"kind"\s*:', text) and not re.search(r'"services"\s*:', text):
        return "kubernetes"
    # a manifest written in flow style (`{apiVersion: v1, kind: Pod, …}`, one line a document, or `--- {…}`): its keys
    # start no line, and it was read as a compose file ("no services: mapping found", exit 2; gsafe46)
    if (
        all(re.search(_FLOW_KEY.format(k), text) for k in ("apiVersion", "kind"))
        and not re.search(_FLOW_KEY.format("services"), text)
        and not _SERVICES_LINE.search(text)
    ):
        return "kubernetes"
    return "compose"


_PY_TYPES = {
    "int": "a number", "float": "a number", "bool": "a boolean", "NoneType": "an empty value", "str": "a string",
    "list": "a list", "CommentedSeq": "a list", "dict": "a mapping", "CommentedMap": "a mapping",
}  # fmt: skip
_PY_TYPE = re.compile(r"'(\w+)' object|argument of type '(\w+)'")


def _wrong_value(exc: Exception) -> str:
    """A frontend's Python error (`'int' object has no attribute 'get'`) in the user's words: the kind of value
    found where another belongs, never Python's own text (gsafe40)."""
    m = _PY_TYPE.search(str(exc))
    name = (m.group(1) or m.group(2)) if m else ""
    found = _PY_TYPES.get(name, "a string" if name.endswith("ScalarString") else "")
    if found and ("attribute 'get'" in str(exc) or "attribute 'items'" in str(exc) or "keys" in str(exc)):
        return f"{found} where a mapping belongs"
    if found and ("iterable" in str(exc) or "subscriptable" in str(exc)):
        return f"{found} where a list or a mapping belongs"
    if found:
        return f"{found} where another type belongs"
    return "a value of the wrong type or shape"


@dataclass
class Loaded:
    path: Path
    text: str  # as the parsers saw it: no BOM, LF line endings (style says how the file spells it)
    model: DeploymentModel
    handle: Any  # what `frontend` parsed the text into and writes edits to
    fmt: Format
    frontend: Frontend[Any]
    state: ReadState | None = None  # the bytes parsed and where they came from (for --write)
    style: TextStyle = field(default_factory=TextStyle)


def load(path: Path, fmt: str | None = None, text: str | None = None) -> Loaded:
    state: ReadState | None = None
    style = TextStyle()
    if text is None:
        state = read_state(path, MAX_BYTES)
        style = detect_style(state.data)
        text = normalize_text(decode_config(state.data, str(path)), style)
    source = str(path)
    f: Format = fmt or detect_format(text, source)  # type: ignore[assignment]
    fe = frontend(f)
    try:
        model, handle = fe.parse(text, source)
    except InputError as exc:
        if source in str(exc):
            raise
        raise InputError(f"{source}: {exc}") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        # a value of the wrong YAML type deep in a frontend (`devices: 5`, `spec: hello`): the
        # file is wrong, not tpdoctor; name the file, exit 2
        raise InputError(f"{source}: unexpected {f} structure: {_wrong_value(exc)}") from None
    except RecursionError:
        raise InputError(f"{source}: nested too deeply: refusing") from None
    # a script asked for as docker may hold only podman commands: the model says which
    return Loaded(path, text, model, handle, model.format, fe, state, style)


def write_fix(loaded: Loaded, text: str) -> Path:
    """Write the fixed text through the one safe writer (tpdoctor.safewrite); the backup's path."""
    from tpdoctor.safewrite import write_fixed

    if loaded.state is None:
        raise InputError(f"{loaded.path}: was not read from disk: nothing to write")
    return write_fixed(loaded.state, text, loaded.style)


@dataclass
class AuditResult:
    findings: list[Finding] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    per_service: dict[str, list[Finding]] = field(default_factory=dict)


def audit_model(
    model: DeploymentModel,
    facts: Facts | None = None,
    *,
    ipc_exchange: str = "drmfd",
    pss: str | None = None,
    strict: bool = False,
    compose_impl: str | None = None,
    fixing: bool = False,
) -> AuditResult:
    """The deploy rules on every service; findings that a `# tpdoctor: allow` covers are set
    aside. `fixing`: audit for what `--fix` writes (the hardening, as --strict reports it)."""
    ctx = DeployContext(
        model=model,
        facts=facts,
        ipc_exchange=ipc_exchange,
        pss=pss,
        extra={"strict": strict, "compose_impl": compose_impl, "fixing": fixing},
    )
    res = AuditResult()
    for svc, f in run_deploy_rules(ctx):
        res.per_service.setdefault(svc.name, [])
        reason = _allowed(svc, f.cause)
        if reason is not None:
            res.allowed.append(f"{model.source}: {svc.name}: {f.cause} allowed ({reason})")
            continue
        res.findings.append(f)
        res.per_service[svc.name].append(f)
    return res


def _allowed(svc: Service, cause: str) -> str | None:
    return svc.allows.get(cause)
