#!/bin/bash
# Claim a thread URL for a blind collector: prints ok or taken (excluded, or claimed by another collector).
#   bash /work/notes/claim.sh N URL COLLECTOR     (prepare.sh copies this file to /work/notes/)
n="$1"; url="$2"; who="$3"; f=/work/wt/heldout$n-claims.txt
u=$(printf '%s' "$url" | sed -E 's/[#?].*$//; s#/+$##')
exec 9>>/work/wt/heldout$n-claims.lock
flock 9
touch "$f"
if grep -qxF "$u" /work/notes/exclude$n.txt || grep -q "^$u " "$f"; then echo taken; exit 0; fi
echo "$u $who" >> "$f"; echo ok
