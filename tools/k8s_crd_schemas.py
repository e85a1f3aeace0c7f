"""Regenerate src/tpdoctor/data/k8s-schemas/*.json from the CRDs' published OpenAPI v3 schemas.

`tpdoctor audit` validates LeaderWorkerSet, KubeRay, KServe and JobSet manifests against the
`openAPIV3Schema` that each project publishes in its CustomResourceDefinition (the one
`kubectl apply` and the API server use). The published files are large (0.2 to 2 MB of YAML each,
mostly the embedded PodTemplateSpec, repeated per template), so this tool ships a reduced copy:

1. every version the CRD serves is kept, with its served/storage/deprecated flags;
2. each schema node keeps only the keywords the validator uses (KEEP below: structure, types,
   required, enum, bounds, defaults, int-or-string, nullable, preserve-unknown-fields);
   descriptions, formats, patterns (Go RE2), list-type/map-type markers and CEL rules
   (x-kubernetes-validations) are dropped, so a valid object never fails on them;
3. identical subtrees of at least MIN_SHARED bytes that occur more than once (the PodSpec, the
   Container) are stored once under `definitions` and referenced with `$ref`; that is lossless.

The output JSON names its source (repo, tag, commit, path, the published file's git blob id and
sha256) and the command that wrote it. Run from the repository root:

  python3 tools/k8s_crd_schemas.py                     # download the pinned files from GitHub
  python3 tools/k8s_crd_schemas.py --git owner/name=GITDIR ...   # read them from local clones

(with --git, GITDIR is a clone holding the pinned commit; repositories not named are downloaded)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent.parent / "src/tpdoctor/data/k8s-schemas"

# (repo, tag, commit, path): the latest release of each project on 2026-12-01.
SOURCES: list[tuple[str, str, str, str]] = [
    (
        "kubernetes-sigs/lws",
        "v0.10.0",
        "2161f38ff333f9e24d3c44adef7cd5d9787cac00",
        "config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml",
    ),
    (
        "kubernetes-sigs/jobset",
        "v0.12.0",
        "f22e565ac3cc3265c7c45ef67ecffdc689af5d77",
        "config/components/crd/bases/jobset.x-k8s.io_jobsets.yaml",
    ),
    (
        "ray-project/kuberay",
        "v1.7.0",
        "59d663aeec13760646da3db9c1cf8cfe883e30b7",
        "ray-operator/config/crd/bases/ray.io_rayclusters.yaml",
    ),
    (
        "ray-project/kuberay",
        "v1.7.0",
        "59d663aeec13760646da3db9c1cf8cfe883e30b7",
        "ray-operator/config/crd/bases/ray.io_rayservices.yaml",
    ),
    (
        "ray-project/kuberay",
        "v1.7.0",
        "59d663aeec13760646da3db9c1cf8cfe883e30b7",
        "ray-operator/config/crd/bases/ray.io_rayjobs.yaml",
    ),
    (
        "kserve/kserve",
        "v0.20.0",
        "1fb781055dd1567164358233e1125142ca6ef1fe",
        "config/crd/full/serving.kserve.io_inferenceservices.yaml",
    ),
    (
        "kserve/kserve",
        "v0.20.0",
        "1fb781055dd1567164358233e1125142ca6ef1fe",
        "config/crd/full/serving.kserve.io_servingruntimes.yaml",
    ),
    (
        "kserve/kserve",
        "v0.20.0",
        "1fb781055dd1567164358233e1125142ca6ef1fe",
        "config/crd/full/serving.kserve.io_clusterservingruntimes.yaml",
    ),
]

# Keywords of a structural schema (apiextensions.k8s.io/v1 JSONSchemaProps) that validation uses.
KEEP = {
    "type",
    "properties",
    "items",
    "required",
    "enum",
    "additionalProperties",
    "anyOf",
    "allOf",
    "oneOf",
    "not",
    "nullable",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    # the API server defaults before it validates: a required field with a default is never missing
    "default",
}
MIN_SHARED = 2000  # bytes of canonical JSON: smaller repeated subtrees stay inline


def strip(node: Any) -> Any:
    """The schema node with only KEEP keywords (property names and enum values are data)."""
    if isinstance(node, list):
        return [strip(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k not in KEEP:
            continue
        if k == "properties":
            out[k] = {name: strip(sub) for name, sub in v.items()}
        elif k in ("enum", "required", "default"):
            out[k] = v
        else:
            out[k] = strip(v)
    return out


def _canon(node: Any) -> str:
    return json.dumps(node, sort_keys=True, separators=(",", ":"))


def _children(n: dict[str, Any]) -> list[tuple[str, str | int | None]]:
    """Where a schema node holds sub-schemas: (keyword, property name / list index / None)."""
    out: list[tuple[str, str | int | None]] = []
    for name in n.get("properties") or {}:
        out.append(("properties", name))
    for k in ("items", "additionalProperties", "not"):
        if isinstance(n.get(k), dict):
            out.append((k, None))
    for k in ("anyOf", "allOf", "oneOf"):
        for i in range(len(n.get(k) or [])):
            out.append((k, i))
    return out


def _get(n: dict[str, Any], k: str, sub: str | int | None) -> Any:
    return n[k] if sub is None else n[k][sub]


def share(schemas: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Store repeated large subtrees once under definitions; returns (schemas, definitions)."""
    counts: Counter[str] = Counter()

    def count(n: dict[str, Any]) -> None:
        c = _canon(n)
        if len(c) >= MIN_SHARED:
            counts[c] += 1
        for k, sub in _children(n):
            count(_get(n, k, sub))

    for s in schemas.values():
        count(s)
    shared_set = {c for c, n in counts.items() if n > 1}
    names: dict[str, str] = {}
    defs: dict[str, Any] = {}

    def replace(n: dict[str, Any], top: bool = False) -> dict[str, Any]:
        if not top:
            c = _canon(n)
            if c in shared_set:
                if c not in names:
                    names[c] = f"s{hashlib.sha256(c.encode()).hexdigest()[:12]}"
                    defs[names[c]] = replace(n, top=True)
                return {"$ref": f"#/definitions/{names[c]}"}
        out = dict(n)
        if "properties" in n:
            out["properties"] = {p: replace(v) for p, v in n["properties"].items()}
        for k in ("items", "additionalProperties", "not"):
            if isinstance(n.get(k), dict):
                out[k] = replace(n[k])
        for k in ("anyOf", "allOf", "oneOf"):
            if k in n:
                out[k] = [replace(v) for v in n[k]]
        return out

    out = {k: replace(v, top=True) for k, v in schemas.items()}
    return out, dict(sorted(defs.items()))


def read_source(repo: str, commit: str, path: str, gits: dict[str, str]) -> bytes:
    if repo in gits:
        return subprocess.check_output(["git", "-C", gits[repo], "show", f"{commit}:{path}"])
    url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
    with urllib.request.urlopen(url, timeout=60) as r:  # a pinned https URL
        data: bytes = r.read()
    return data


def convert(repo: str, tag: str, commit: str, path: str, raw: bytes) -> tuple[str, dict[str, Any]]:
    crd = yaml.safe_load(raw)
    spec = crd["spec"]
    versions: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for v in spec["versions"]:
        if not v.get("served", False):
            continue
        versions[v["name"]] = {
            "storage": bool(v.get("storage")),
            "deprecated": bool(v.get("deprecated")),
        }
        schemas[v["name"]] = strip(v["schema"]["openAPIV3Schema"])
    shared, defs = share(schemas)
    for name, s in shared.items():
        versions[name]["schema"] = s
    blob = (
        subprocess.run(["git", "hash-object", "--stdin"], input=raw, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )
    doc = {
        "source": {
            "repo": repo,
            "tag": tag,
            "commit": commit,
            "path": path,
            "url": f"https://github.com/{repo}/blob/{commit}/{path}",
            "git_blob": blob,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "bytes": len(raw),
        },
        "produced_by": "python3 tools/k8s_crd_schemas.py (keeps the keywords in its KEEP set, "
        "shares repeated subtrees under definitions)",
        "group": spec["group"],
        "kind": spec["names"]["kind"],
        "plural": spec["names"]["plural"],
        "scope": spec.get("scope"),
        "versions": versions,
        "definitions": defs,
    }
    return f"{spec['group']}_{spec['names']['plural']}.json", doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--git", action="append", default=[], metavar="OWNER/NAME=GITDIR")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    gits = dict(g.split("=", 1) for g in args.git)
    args.out.mkdir(parents=True, exist_ok=True)
    index: dict[str, dict[str, str]] = {}
    for repo, tag, commit, path in SOURCES:
        raw = read_source(repo, commit, path, gits)
        name, doc = convert(repo, tag, commit, path, raw)
        text = json.dumps(doc, sort_keys=False, separators=(",", ":")) + "\n"
        (args.out / name).write_text(text)
        index.setdefault(doc["group"], {})[doc["kind"]] = name
        print(f"{name}: {len(raw)} -> {len(text)} bytes ({', '.join(doc['versions'])})", file=sys.stderr)
    (args.out / "index.json").write_text(
        json.dumps({"produced_by": "python3 tools/k8s_crd_schemas.py", "crds": index}, indent=1) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
