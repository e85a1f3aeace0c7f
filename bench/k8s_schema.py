"""Cost of audit's Kubernetes schema validation (deploy/k8s_schema.py), in a fresh process per file:
the first validation (imports jsonschema, loads the schema files) and a second one (cached).

  PYTHONPATH=src python3 bench/k8s_schema.py tests/data/k8s-crd/*.yaml
"""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys, time
from pathlib import Path
from tpdoctor.deploy.io import load_yaml_docs
t0 = time.perf_counter()
docs = load_yaml_docs(Path(sys.argv[1]).read_text(), sys.argv[1])
t1 = time.perf_counter()
from tpdoctor.deploy.k8s_schema import validate_docs
validate_docs(docs)
t2 = time.perf_counter()
validate_docs(docs)
t3 = time.perf_counter()
print(f"{(t1 - t0) * 1000:.0f} {(t2 - t1) * 1000:.0f} {(t3 - t2) * 1000:.0f}")
"""


def main() -> None:
    print(f"{'file':48} {'parse ms':>9} {'first ms':>9} {'again ms':>9}   (median of 5 processes)")
    for f in sys.argv[1:]:
        runs = []
        for _ in range(5):
            out = subprocess.run([sys.executable, "-c", CODE, f], capture_output=True, text=True, check=True)
            runs.append([int(x) for x in out.stdout.split()])
        med = [sorted(r[i] for r in runs)[2] for i in range(3)]
        print(f"{f.rsplit('/', 1)[-1]:48} {med[0]:9} {med[1]:9} {med[2]:9}")


if __name__ == "__main__":
    main()
