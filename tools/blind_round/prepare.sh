#!/bin/bash
# Prepare blind round N outside the repository (collectors must never read /work/main):
#   bash tools/blind_round/prepare.sh N "HH:MM" scopes.txt
# scopes.txt: one line per collector, "<letter>|<scope text>". Writes /work/notes/{exclude N, cause-ids, claim.sh,
# C-COLLECT-N<letter>.md} and /work/wt/heldoutN-set/cN<letter>/.
set -eu
n=$1; deadline=$2; scopes=$3
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p /work/notes /work/wt
# every thread URL the project or shared/ already holds, and earlier rounds' claims; and every source a log already
# has, whatever its site (heldout22: a blog post already in dev was collected again)
{ { grep -rhoE 'https?://[A-Za-z0-9./_~%+?=&#:@-]+' "$repo"/tests "$repo"/src "$repo"/docs "$repo"/bench "$repo"/../shared 2>/dev/null
    cat /work/wt/heldout*-claims.txt 2>/dev/null | cut -d' ' -f1; } \
    | sed -E 's/[).,;:#]+$//; s/#.*$//' | grep -E 'github.com|discuss|forum|stackoverflow|community|reddit|gitlab|huggingface'
  grep -hoE '^  source: .*' "$repo"/tests/data/explain-real/index.yaml | sed -E "s/^  source: //; s/^'//; s/'$//"; } \
  | sort -u > /work/notes/exclude$n.txt
PYTHONPATH="$repo/src" python3 - "$repo" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1] + "/src/tpdoctor/data/causes.yaml"))
out = [f"{cid}: {' '.join(str(c.get('summary', '')).split())}" for cid, c in d.items()
       if cid.split(".")[0] not in ("audit", "security", "verify", "cluster")]
open("/work/notes/cause-ids.txt", "w").write("\n".join(out) + "\n")
PY
cp "$repo/tools/blind_round/claim.sh" /work/notes/claim.sh
: > /work/wt/heldout$n-claims.txt
while IFS='|' read -r id scope; do
  [ -n "$id" ] || continue
  mkdir -p /work/wt/heldout$n-set/c$n$id
  python3 - "$repo/tools/blind_round/collector-brief.md" "$n" "$id" "$deadline" "$scope" \
    > /work/notes/C-COLLECT-$n$id.md <<'PY'
import sys
t = open(sys.argv[1]).read()
print(t.replace("@N@", sys.argv[2]).replace("@ID@", sys.argv[3]).replace("@DEADLINE@", sys.argv[4]).replace("@SCOPE@", sys.argv[5]))
PY
done < "$scopes"
wc -l /work/notes/exclude$n.txt /work/notes/cause-ids.txt
