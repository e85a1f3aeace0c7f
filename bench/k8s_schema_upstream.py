"""False-positive check of audit's CRD schema validation on the projects' own examples: every YAML
file at the pinned release (tools/k8s_crd_schemas.py SOURCES) that holds one of the CRD kinds,
validated with deploy/k8s_schema.py; prints each problem and a count.

  PYTHONPATH=src python3 bench/k8s_schema_upstream.py kubernetes-sigs/lws=GITDIR \\
      kubernetes-sigs/jobset=GITDIR ray-project/kuberay=GITDIR kserve/kserve=GITDIR

(GITDIR: a clone holding the pinned tag). Skipped: CRDs themselves, Helm charts and templates,
and KServe's install/ bundles (3 MB files of old releases: slow to parse, their problems are the
removed v1beta1 APIs they use).
"""

from __future__ import annotations

import collections
import subprocess
import sys

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


def main() -> None:
    kinds = {k for _, k in crd_index()}
    count: collections.Counter[str] = collections.Counter()
    for arg in sys.argv[1:]:
        repo, gitdir = arg.split("=", 1)
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
