"""Print the per-cause form inventory of the NVIDIA group (issue 13, item 1).

Every signature whose `causes` name a cause of the group, with its strength, rank and `source`, and each of its
unit-tested `examples` (one per distinct printed form); then the error codes mapped to the cause.
Run from the repository root: python3 tools/explain_inventory_nvidia.py >> docs/explain-inventory-nvidia.md
"""
import glob
import re
from collections import defaultdict

import yaml

GROUP = re.compile(r'^(cuda|nvidia|nccl|vllm|device\.(nvidia-node-missing|nvml-cgroup-lost|no-driver)|runtime\.(nvidia-toolkit-missing|cgroupv2-unsupported)|rdma|network|topology)\.?')
causes = yaml.safe_load(open('src/tpdoctor/data/causes.yaml'))
sigs = yaml.safe_load(open('src/tpdoctor/data/signatures.yaml'))['signatures']
by = defaultdict(list)
for s in sigs:
    for i, c in enumerate(s.get('causes') or []):
        if GROUP.match(c):
            by[c].append((i, s))
codes = defaultdict(list)
for f in sorted(glob.glob('src/tpdoctor/data/error_codes/*.yaml')):
    t = yaml.safe_load(open(f))
    for e in t['codes']:
        for c in e.get('causes') or []:
            text = f' "{e["string"]}"' if e.get("string") else ""
            codes[c].append(f"{t['table']} {e['name']} ({e['code']}){text}")
out = []
for c in sorted(k for k in causes if GROUP.match(k)):
    out.append(f"\n## {c}\n\n{causes[c]['summary']}\n")
    rows = sorted(by.get(c, []), key=lambda x: x[0])
    if not rows and not codes.get(c):
        out.append("- (no text of its own: see `not_in_logs` in signatures.yaml)")
    for rank, s in rows:
        ex = s.get('examples') or []
        role = "first cause" if rank == 0 else f"cause #{rank+1}"
        out.append(f"- `{s['id']}` — {s.get('strength','suggests')}{', downstream' if s.get('downstream') else ''}, {role}; source: {s.get('source','')}")
        for e in ex:
            out.append(f"  - form: `{e[:200]}`")
    for e in codes.get(c, []):
        out.append(f"- error code: {e} (data/error_codes, read by the `code.*` signatures)")
print("\n".join(out))
