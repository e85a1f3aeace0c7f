#!/bin/bash
# Claim a thread URL for a blind collector: prints ok or taken (excluded, or claimed by another collector).
#   bash /work/notes/claim.sh N URL COLLECTOR     (prepare.sh copies this file to /work/notes/)
n="$1"; url="$2"; who="$3"; f=/work/wt/heldout$n-claims.txt
u=$(printf '%s' "$url" | sed -E 's/[#?].*$//; s#/+$##')
exec 9>>/work/wt/heldout$n-claims.lock
flock 9
touch "$f"
# the exclusion list keeps a log source as the project wrote it, query and all (`...md?display=source`): compare both
# sides without their query or fragment (heldout53: such a source was claimed `ok`)
if sed -E 's/[#?].*$//; s#/+$##' /work/notes/exclude$n.txt | grep -qxF "$u" || cut -d" " -f1 "$f" | grep -qxF "$u"; then
  echo taken; exit 0
fi
echo "$u $who" >> "$f"; echo ok
