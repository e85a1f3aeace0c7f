#!/bin/bash
# After `git merge <learner branch>` stops on conflicts (learners append blocks at the same ends of signatures.yaml,
# docs/explain.md, causes.yaml...): keep both sides of every appended block, rebuild what is generated, and show
# what is left. Run from the repository root; check the result (duplicate ids, the whole explain suite) before
# `git commit`.
#   git merge glearnNNx; bash tools/blind_round/resolve.sh
set -eu
for f in $(git diff --name-only --diff-filter=U); do
  case "$f" in
    src/tpdoctor/data/compiled/*|docs/rules.md|docs/explain-forms.md)
      git checkout --ours -- "$f" ;;  # rebuilt below
    *)
      # union of both sides: base, ours and theirs as the index holds them
      git show ":1:$f" > /tmp/resolve.base 2>/dev/null || : > /tmp/resolve.base
      git show ":2:$f" > /tmp/resolve.ours
      git show ":3:$f" > /tmp/resolve.theirs
      git merge-file --union -p /tmp/resolve.ours /tmp/resolve.base /tmp/resolve.theirs > "$f" || true ;;
  esac
  git add "$f"
done
python3 tools/compile_data.py
PYTHONPATH=src python3 -m tpdoctor.docs > docs/rules.md
PYTHONPATH=src python3 -m tpdoctor.explain.forms > docs/explain-forms.md
git add -A src/tpdoctor/data/compiled docs/rules.md docs/explain-forms.md
# a YAML file the union broke, or an id both sides added
python3 - <<'PY'
import glob, io, sys
from ruamel.yaml import YAML
y = YAML(typ="safe"); y.allow_duplicate_keys = False
bad = 0
for p in ["src/tpdoctor/data/causes.yaml", "src/tpdoctor/data/signatures.yaml", *glob.glob("src/tpdoctor/data/fixes/*.yaml"), *glob.glob("tests/causes/*.yaml")]:
    try:
        d = y.load(io.open(p, encoding="utf-8"))
    except Exception as e:  # noqa: BLE001
        print(f"{p}: {e}".splitlines()[0]); bad += 1; continue
    if p.endswith("signatures.yaml"):
        for part in ("signatures", "facts", "correlations"):
            ids = [e.get("id") for e in d.get(part) or []]
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                print(f"{p} {part}: duplicate ids {dup}"); bad += 1
sys.exit(1 if bad else 0)
PY
git status --short | grep -v '^M ' | head -20 || true
