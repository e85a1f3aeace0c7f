"""False-positive check of audit's CRD schema validation on the projects' own examples: every YAML
file at the pinned release (tools/k8s_crd_schemas.py SOURCES) that holds one of the CRD kinds,
validated with deploy/k8s_schema.py; prints each problem and a count. Each object is also
validated against the full published CRD (tools/k8s_crd_schemas.py SOURCES, read from the same
clones, through the same structural rules): "same errors" counts objects where the shipped,
reduced schema finds exactly the errors (path and keyword) that the published one finds.

  PYTHONPATH=src python3 bench/k8s_schema_upstream.py kubernetes-sigs/lws=GITDIR \\
      kubernetes-sigs/jobset=GITDIR ray-project/kuberay=GITDIR kserve/kserve=GITDIR

(GITDIR: a clone holding the pinned tag). Skipped: CRDs themselves, Helm charts and templates,
and KServe's install/ bundles (3 MB files of old releases: slow to parse, their problems are the
removed v1beta1 APIs they use).
"""

from __future__ import annotations

import collections
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tpdoctor.deploy import k8s_schema
from tpdoctor.deploy.io import load_yaml_docs
from tpdoctor.deploy.k8s_schema import crd_index, validate_docs
from tpdoctor.errors import InputError

TAGS = {
    "kubernetes-sigs/lws": "v0.10.0",
    "kubernetes-sigs/jobset": "v0.12.0",
    "ray-project/kuberay": "v1.7.0",
    "kserve/kserve": "v0.20.0",
}
SKIP = ("/crd/", "helm-chart", "/templates/", "charts/")


def published(gits: dict[str, str]) -> dict[tuple[str, str, str], Any]:
    """(group, kind, version) -> a validator of the full published CRD schema."""
    tool_path = Path(__file__).resolve().parents[1] / "tools/k8s_crd_schemas.py"
    spec = importlib.util.spec_from_file_location("k8s_crd_schemas", tool_path)
    assert spec and spec.loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out: dict[tuple[str, str, str], Any] = {}
    for repo, _tag, commit, path in tool.SOURCES:
        crd = yaml.safe_load(tool.read_source(repo, commit, path, gits))
        for v in crd["spec"]["versions"]:
            schema = k8s_schema._structural(v["schema"]["openAPIV3Schema"], {}, top=True)
            key = (crd["spec"]["group"], crd["spec"]["names"]["kind"], v["name"])
            out[key] = jsonschema.Draft7Validator(schema)
    return out


def _errors(validator: Any, data: Any) -> list[tuple[list[str], str]]:
    return sorted(([str(p) for p in e.absolute_path], str(e.validator)) for e in validator.iter_errors(data))


def main() -> None:
    kinds = {k for _, k in crd_index()}
    count: collections.Counter[str] = collections.Counter()
    gits = dict(a.split("=", 1) for a in sys.argv[1:])
    full = published(gits)
    for repo, gitdir in gits.items():
        tag = TAGS[repo]
        names = subprocess.check_output(["git", "-C", gitdir, "ls-tree", "-r", "--name-only", tag], text=True)
        for f in names.splitlines():
            if not f.endswith((".yaml", ".yml")) or f.startswith("install/") or any(s in f for s in SKIP):
                continue
            text = subprocess.run(["git", "-C", gitdir, "show", f"{tag}:{f}"], capture_output=True).stdout
            body = text.decode("utf-8", "replace")
            if not any(f"kind: {k}" in body for k in kinds):
                continue
            try:
                docs = load_yaml_docs(body, f)
            except InputError:
                count["not YAML"] += 1
                continue
            problems, _ = validate_docs(docs, f)
            for d in docs:
                group, _, version = str(d.get("apiVersion") if isinstance(d, dict) else "").rpartition("/")
                key = (group, str(d.get("kind")) if isinstance(d, dict) else "", version)
                if key in full and (group, key[1]) in crd_index():
                    data = k8s_schema.to_json(d)
                    shipped = k8s_schema.crd_validator(crd_index()[(group, key[1])], version)
                    same = _errors(full[key], data) == _errors(shipped, data)
                    count["same errors" if same else "different errors"] += 1
            count["files"] += 1
            count["objects"] += sum(1 for d in docs if isinstance(d, dict) and d.get("kind") in kinds)
            if problems:
                count["files with problems"] += 1
            for p in problems:
                sev = p.severity or "blocker"
                count[sev] += 1
                print(f"{repo} {f}:{p.line}: {sev}: {p.kind} {p.path}: {p.message}")
    print(dict(count))


if __name__ == "__main__":
    main()
