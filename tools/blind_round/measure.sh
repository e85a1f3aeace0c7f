#!/bin/bash
# Blind measurement of heldoutN at a given commit, aggregates only (never list a held-out log's result):
#   bash tools/blind_round/measure.sh N COMMIT        (the set in the working tree, not yet committed or promoted)
set -e
n=$1; c=$2; repo=$(cd "$(dirname "$0")/../.." && pwd); d=/work/wt/measure$n-$c
git -C "$repo" worktree remove --force "$d" 2>/dev/null || true
git -C "$repo" worktree add -q --detach "$d" "$c"
cp -r "$repo/tests/data/explain-real/heldout$n" "$d/tests/data/explain-real/"
cp "$repo/tests/data/explain-real/index.yaml" "$d/tests/data/explain-real/index.yaml"
(cd "$d" && TPDOCTOR_CACHE_DIR= PYTHONPATH=src python3 bench/explain_eval.py --split "heldout$n" --hard)
git -C "$repo" worktree remove --force "$d"
