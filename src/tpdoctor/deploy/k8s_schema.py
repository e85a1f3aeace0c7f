"""Schema validation of Kubernetes manifests: what `kubectl apply` (strict field validation, the
default since kubectl 1.25) would refuse, found before the file reaches a cluster.

- Built-in kinds (Pod, Deployment, Job, ...) are checked against kubernetes-validate's strict
  schemas of the newest Kubernetes it ships (an optional extra, `pip install 'tpdoctor[k8s]'`,
  imported only here and only for a Kubernetes file). Without it, one note says so; never an error.
- LeaderWorkerSet, KubeRay RayCluster/RayService/RayJob, KServe InferenceService/ServingRuntime/
  ClusterServingRuntime and JobSet are checked against the `openAPIV3Schema` their projects
  publish in the CRD, shipped in data/k8s-schemas/ (tools/k8s_crd_schemas.py says how and from
  which commit). The structural-schema rules of apiextensions.k8s.io/v1 are applied as the API
  server does (k8s.io/apiextensions-apiserver pkg/apiserver/schema: pruning turns every field that
  an object schema does not declare into "unknown field" under strict validation, unless
  x-kubernetes-preserve-unknown-fields; x-kubernetes-int-or-string; null values are pruned).
  CEL rules (x-kubernetes-validations) and formats are not checked.

Each problem names the document, the field path (kubectl's spelling: spec.containers[0].image)
and the line, for the `k8s.schema-invalid` finding (rules/deploy_k8s_schema.py).
"""

from __future__ import annotations

import datetime
import difflib
import importlib.util
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from tpdoctor.deploy.model import SchemaProblem
from tpdoctor.errors import InputError
from tpdoctor.model.pkgdata import read_data

Confidence = Literal["proves", "suggests"]
MAX_PER_DOC = 20  # a wholly wrong document is reported by its first problems, not hundreds
SKIPPED_CORE = (
    "schema validation of built-in Kubernetes kinds skipped: kubernetes-validate is not installed "
    "(pip install 'tpdoctor[k8s]')"
)
SKIPPED_ALL = "Kubernetes schema validation skipped: jsonschema, a dependency of tpdoctor, is not installed (pip install jsonschema)"


def to_json(node: Any) -> Any:
    """The JSON the API server receives for a YAML node (sigs.k8s.io/yaml: timestamps become
    strings, keys strings); null map values are dropped, as structural pruning and Go's JSON
    decoding both ignore them."""
    if isinstance(node, dict):
        return {str(k): to_json(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [to_json(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, (datetime.date, datetime.datetime)):
        return node.isoformat()
    return node if node is None else str(node)


# --- where the schemas come from --------------------------------------------------------------


@lru_cache(maxsize=1)
def crd_index() -> dict[tuple[str, str], str]:
    """(group, kind) -> the data file holding that CRD's schema."""
    idx = json.loads(read_data("k8s-schemas/index.json"))
    return {(g, k): f for g, kinds in idx["crds"].items() for k, f in kinds.items()}


@lru_cache(maxsize=16)
def crd_file(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(read_data(f"k8s-schemas/{name}"))
    return data


def crd_label(doc: dict[str, Any]) -> str:
    src = doc["source"]
    return f"{src['repo']} {src['tag']} CRD {doc['plural']}.{doc['group']}"


def _structural(node: Any, defs: dict[str, Any], top: bool = False) -> Any:
    """A CRD schema node as JSON Schema with the API server's meaning (see the module doc)."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    props = node.get("properties") or {}
    if "properties" in node:
        out["properties"] = {p: _structural(v, defs) for p, v in props.items()}
        if top:  # metadata is ObjectMeta, validated by the server itself, never pruned by the CRD
            out["properties"]["metadata"] = {"type": "object"}
    if "required" in node:  # defaulting runs before validation: a defaulted field is never missing
        out["required"] = [r for r in node["required"] if "default" not in _deref(props.get(r), defs)]
    for k in ("items", "additionalProperties", "not"):
        if isinstance(node.get(k), dict):
            out[k] = _structural(node[k], defs)
    for k in ("anyOf", "allOf", "oneOf"):
        if k in node:
            out[k] = [_structural(v, defs) for v in node[k]]
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if node.get("x-kubernetes-embedded-resource") is True and "properties" in out:
        for p in ("apiVersion", "kind"):
            out["properties"].setdefault(p, {"type": "string"})
        out["properties"].setdefault("metadata", {"type": "object"})
    if "properties" in out and "additionalProperties" not in node and not preserve:
        out["additionalProperties"] = False
    if node.get("x-kubernetes-int-or-string") is True and "anyOf" not in node:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


def _deref(node: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if isinstance(node, dict) and "$ref" in node:
        return _deref(defs.get(str(node["$ref"]).rsplit("/", 1)[1]), defs)
    return node if isinstance(node, dict) else {}


@lru_cache(maxsize=32)
def crd_validator(name: str, version: str) -> Any:
    import jsonschema

    doc = crd_file(name)
    defs = doc["definitions"]
    schema = _structural(doc["versions"][version]["schema"], defs, top=True)
    schema["definitions"] = {k: _structural(v, defs) for k, v in defs.items()}
    return jsonschema.Draft7Validator(schema)


@dataclass(frozen=True)
class CoreSchemas:
    """kubernetes-validate's schema files: read directly (its import costs yaml and packaging)."""

    root: Path  # kubernetes-json-schema/v<version>-local-strict
    kubernetes: str  # "1.37"
    package: str  # kubernetes-validate's own version

    @property
    def label(self) -> str:
        return f"kubernetes-validate {self.package} (Kubernetes {self.kubernetes}, strict)"


@lru_cache(maxsize=1)
def core_schemas() -> CoreSchemas | None:
    """The strict schemas of the newest Kubernetes the installed kubernetes-validate ships, or None
    when it is not installed. Layout as kubernetes_validate/utils.py 1.37.0 reads it:
    kubernetes-json-schema/v1.37.0-local-strict/<kind>-<group>-<version>.json."""
    try:
        spec = importlib.util.find_spec("kubernetes_validate")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    base = Path(spec.origin).parent / "kubernetes-json-schema"
    dirs = (
        [d for d in base.glob("v*-local-strict") if (d / "_definitions.json").is_file()]
        if base.is_dir()
        else []
    )
    if not dirs:
        return None
    newest = max(dirs, key=lambda d: tuple(int(x) for x in re.findall(r"\d+", d.name)[:3]))
    from importlib import metadata  # only here: it imports email and more

    try:
        package = metadata.version("kubernetes-validate")
    except metadata.PackageNotFoundError:
        package = "?"
    return CoreSchemas(newest, ".".join(re.findall(r"\d+", newest.name)[:2]), package)


@lru_cache(maxsize=64)
def core_validator(kind: str, api_version: str) -> Any | None:
    """The strict schema of a built-in kind, or None when that Kubernetes has no such kind in that
    apiVersion. Resolved as kubernetes_validate/utils.py validate() does (1.37.0): the kind's file
    and _definitions.json in one registry, Draft 2020-12."""
    import jsonschema
    import referencing

    core = core_schemas()
    assert core is not None
    # kubernetes_validate/utils.py: rbac.authorization.k8s.io/v1 -> rbac-v1
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = core.root / f"{kind.lower()}-{api}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    registry: Any = referencing.Resource.from_contents(schema) @ referencing.Registry()
    registry = _core_definitions(core.root) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


@lru_cache(maxsize=1)
def _core_definitions(root: Path) -> Any:
    import referencing

    return referencing.Resource.from_contents(
        json.loads((root / "_definitions.json").read_text(encoding="utf-8"))
    )


# Kubernetes' own API groups: every group in x-kubernetes-group-version-kind of kubernetes-validate
# 1.37.0's _definitions.json for Kubernetes 1.25 to 1.37. Other groups, *.k8s.io ones included
# (gateway.networking.k8s.io, inference.networking.k8s.io, kustomize.config.k8s.io), are CRDs or
# client-side files: without a shipped schema they are not checked.
BUILTIN_GROUPS = frozenset(
    {
        "",
        "admission.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "extensions",
        "flowcontrol.apiserver.k8s.io",
        "imagepolicy.k8s.io",
        "internal.apiserver.k8s.io",
        "lifecycle.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)


def is_builtin_group(group: str) -> bool:
    return group in BUILTIN_GROUPS


# --- validating ----------------------------------------------------------------------------------


def _objects(docs: list[Any]) -> Iterator[tuple[int, list[str | int], Any]]:
    """(document index, path prefix, object) for each object; a List's items one by one."""
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            continue
        if d.get("kind") == "List" and isinstance(d.get("items"), list):
            for j, item in enumerate(d["items"]):
                if isinstance(item, dict):
                    yield i, ["items", j], item
        else:
            yield i, [], d


# The kinds whose pod templates deploy/kubernetes.py reads.
WORKLOAD_KINDS = frozenset(
    {
        "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
        "LeaderWorkerSet", "RayCluster", "RayService", "RayJob", "JobSet",
        "InferenceService", "ServingRuntime", "ClusterServingRuntime",
    }
)  # fmt: skip


def refuse_unreadable_workloads(docs: list[Any], source: str) -> None:
    """When no pod template could be read from a file, a workload that its schema refuses (a
    misspelled `workerTemplate`) is why: say so, exit 2, also under `audit --skip-other`."""
    problems, _ = validate_docs(docs, source, only_kinds=WORKLOAD_KINDS)
    if problems:
        # a misspelling explains a missing template best ("did you mean"), then the file's first
        p = next((q for q in problems if q.message.startswith("unknown field")), problems[0])
        more = f" (and {len(problems) - 1} more schema problems)" if len(problems) > 1 else ""
        raise InputError(
            f"{source}: line {p.line}: {p.kind} {p.name}: {p.path}: {p.message}{more}; "
            "no pod template could be read"
        )


def validate_docs(
    docs: list[Any], source: str = "", only_kinds: frozenset[str] | None = None
) -> tuple[list[SchemaProblem], list[str]]:
    """Schema problems of every object in a Kubernetes file (of `only_kinds`, if given), and notes
    on what was not checked."""
    problems: list[SchemaProblem] = []
    notes: list[str] = []
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        return [], [SKIPPED_ALL]
    unchecked: set[str] = set()
    for i, prefix, obj in _objects(docs):
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if not isinstance(kind, str) or not kind or (only_kinds is not None and kind not in only_kinds):
            continue  # not an object (a stray document); the workload reader ignores it too
        root = docs[i]
        meta = obj.get("metadata")
        name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
        api = api_version if isinstance(api_version, str) else ""

        def problem(
            path: list[str | int], message: str, schema: str, confidence: Confidence = "proves"
        ) -> SchemaProblem:
            return _problem(docs, (i, kind, name, api), path, message, schema, confidence)  # noqa: B023

        if not api:
            problems.append(
                problem(
                    [*prefix, "apiVersion"],
                    "apiVersion is not set: the API server refuses it",
                    "Kubernetes API",
                )
            )
            continue
        group, _, version = api.rpartition("/")
        crd = crd_index().get((group, kind))
        if crd is not None:
            doc = crd_file(crd)
            label = crd_label(doc)
            if version not in doc["versions"]:
                served = ", ".join(f"{group}/{v}" for v in doc["versions"])
                # a newer release may serve it: suggests, not proves
                msg = f"{label} does not serve {api} (it serves {served})"
                problems.append(problem([*prefix, "apiVersion"], msg, label, "suggests"))
                continue
            validator = crd_validator(crd, version)
        elif is_builtin_group(group):
            core = core_schemas()
            if core is None:
                if SKIPPED_CORE not in notes:
                    notes.append(SKIPPED_CORE)
                continue
            validator = core_validator(kind, api)
            label = core.label
            if validator is None:
                msg = f"Kubernetes {core.kubernetes} has no kind {kind} in {api} (removed from Kubernetes, or misspelled)"
                problems.append(problem([*prefix, "apiVersion"], msg, label))
                continue
        else:
            unchecked.add(f"{kind} ({api})")
            continue
        node = _at(root, prefix)
        as_json = to_json(node)
        errors = validator.iter_errors(as_json)
        mine: list[SchemaProblem] = []
        for err in errors:
            for path, message in _explain(err, _secret_at(as_json, list(err.absolute_path))):
                mine.append(problem([*prefix, *path], message, label))
                if crd is not None and err.validator == "required":
                    # mutating admission runs before a CRD's schema validation and may fill it
                    mine[-1].message += " (unless the operator's defaulting webhook sets it)"
                    mine[-1].confidence, mine[-1].severity = "suggests", "notice"
        mine.sort(key=lambda p: (p.line or 0, p.path))  # in file order
        if len(mine) > MAX_PER_DOC:
            mine[MAX_PER_DOC - 1].message += f" (and {len(mine) - MAX_PER_DOC} more in this document)"
            del mine[MAX_PER_DOC:]
        problems.extend(mine)
    if unchecked:
        where = f"{source}: " if source else ""
        notes.append(f"{where}no schema for {', '.join(sorted(unchecked))}: not validated")
    return problems, notes


def _short(value: Any) -> str:
    from tpdoctor.redact import redact_obj, redact_str

    # redacted before the cut: an object or list shown whole holds its secret-named keys' values (`env:` written as
    # a mapping, `{"HF_TOKEN": "hf_…"}`), and a cut token loses the shape the output's redactor knows (gsafe42)
    text = redact_str(json.dumps(redact_obj(value), default=str))
    return text if len(text) <= 60 else text[:57] + "..."


def _hidden(value: Any) -> str:
    from tpdoctor.redact import REDACTED

    return REDACTED


def _secret_at(obj: Any, path: list[str | int]) -> bool:
    """The value at `path` of a manifest object is a secret: the value of an env entry whose name is a secret's
    (`- name: DB_PASSWORD` / `value: 98765432101`, an integer the schema refuses), anything under a Secret's data or
    stringData, or a field named like one (`password:`). The redactor cannot tell from the message alone, which names
    the field by its path (`env[0].value`): the value was printed (gsafe41)."""
    from tpdoctor.redact import is_secret_name, secret_flag

    if isinstance(obj, dict) and obj.get("kind") == "Secret" and path[:1] in (["data"], ["stringData"]):
        return True
    node: Any = obj
    for i, p in enumerate(path):
        if isinstance(p, str) and is_secret_name(p):
            return True
        if p == "env" and i + 1 < len(path) and isinstance(node, dict) and isinstance(node.get("env"), list):
            j = path[i + 1]
            entries = node["env"]
            if isinstance(j, int) and 0 <= j < len(entries) and isinstance(entries[j], dict):
                name = entries[j].get("name")
                if isinstance(name, str) and is_secret_name(name):
                    return True
        if p in ("args", "command") and i + 1 < len(path) and isinstance(node, dict):
            # the item after a secret flag (`args: ["--api-key", 12345678901]`, a number the schema refuses): the
            # flag's value, printed in the message (gsafe53)
            j, items = path[i + 1], node.get(p)
            if isinstance(j, int) and isinstance(items, list) and 0 < j < len(items):
                flag = items[j - 1]
                if (
                    isinstance(flag, str)
                    and flag.startswith("-")
                    and "=" not in flag
                    and secret_flag(flag.lstrip("-"))
                ):
                    return True
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            return False
    return False


_JSON_TYPES = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"))


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    for t, name in _JSON_TYPES:
        if isinstance(value, t):
            return name
    return "null"


def _problem(
    docs: list[Any],
    obj: tuple[int, str, str, str],
    path: list[str | int],
    message: str,
    schema: str,
    confidence: Confidence,
) -> SchemaProblem:
    i, kind, name, api = obj
    return SchemaProblem(
        document=i + 1,
        kind=kind,
        name=name,
        api_version=api,
        path=_fmt(path),
        line=_line_of(docs[i], path),
        message=message,
        schema_source=schema,
        confidence=confidence,
    )


def _explain(err: Any, secret: bool = False) -> Iterator[tuple[list[str | int], str]]:
    """(field path, message) for one jsonschema error, in the words kubectl uses; `secret`: the value is not shown."""
    path: list[str | int] = list(err.absolute_path)
    v, inst, sch = err.validator, err.instance, err.schema
    short = _hidden if secret else _short  # a secret's value is not shown, nor its shape

    if v == "additionalProperties" and isinstance(inst, dict):
        known = sorted((sch.get("properties") or {}).keys())
        for key in sorted(set(inst) - set(known)):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield [*path, key], f"unknown field {key!r}{hint}"
        return
    if v == "required":
        missing = re.match(r"'([^']*)' is a required property", err.message)
        field = missing.group(1) if missing else str(err.validator_value)
        yield path, f"required field {field!r} is missing"
        return
    if v == "type":
        want = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        want = [t for t in want if t != "null"]
        yield path, f"{short(inst)} is {_json_type(inst)}, the schema wants {' or '.join(want)}"
        return
    if v == "enum":
        yield path, f"{short(inst)} is not one of {', '.join(short(x) for x in err.validator_value)}"
        return
    if v in ("anyOf", "oneOf") and sch.get("x-kubernetes-int-or-string"):
        yield path, f"{short(inst)} is {_json_type(inst)}, the schema wants an integer or a string"
        return
    if v in ("anyOf", "oneOf"):
        types = sorted(
            {str(s.get("type")) for s in err.validator_value if isinstance(s, dict) and "type" in s}
        )
        if types:
            yield path, f"{short(inst)} is {_json_type(inst)}, the schema wants {' or '.join(types)}"
            return
    if secret or isinstance(inst, (dict, list)):
        # jsonschema's own message starts with the value's repr (`'Hunter2' does not match '^x$'`, `… is too long`,
        # `… is not valid under any of the given schemas`): at a secret's path it printed the secret, whatever the
        # validator (gsafe42); an object or list is shown by _short, which redacts what it holds
        yield path, f"{short(inst)} ({_json_type(inst)}) fails the schema's {v!r} check{_limit(v, err.validator_value)}"
        return
    from tpdoctor.redact import clip

    text = err.message
    yield path, text if len(text) <= 160 else clip(text, 157, "...")


def _limit(validator: str, value: Any) -> str:
    """The schema's side of a check, where it is short and holds no input: `maxLength` 255, a `pattern`."""
    if validator in ("pattern", "format", "minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum",
                     "minProperties", "maxProperties", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
        text = json.dumps(value, default=str)
        return f" ({validator} {text})" if len(text) <= 60 else ""
    return ""


def _fmt(path: list[str | int]) -> str:
    """kubectl's field path: spec.template.spec.containers[0].image."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


def _at(node: Any, path: list[str | int]) -> Any:
    for p in path:
        node = node[p]
    return node


def _node_line(node: Any) -> int | None:
    try:
        return int(node.lc.line) + 1
    except AttributeError:
        return None


def _key_line(parent: Any, key: str | int) -> int | None:
    try:
        if isinstance(key, int):
            return int(parent.lc.item(key)[0]) + 1
        return int(parent.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return _node_line(parent)


def _line_of(root: Any, path: list[str | int]) -> int | None:
    """The line of the deepest part of `path` present in the YAML tree (a missing required field:
    its parent's line)."""
    node, line = root, _node_line(root)
    for p in path:
        try:
            child = node[p]
        except (KeyError, IndexError, TypeError):
            break
        line = _key_line(node, p) or line
        node = child
    return line
