#!/usr/bin/env bash
# tpdoctor cluster verify on network-namespace "nodes": the healthy 2-node wall time, then the
# real fault tests (tests/test_cluster_verify.py, 3 nodes) recording each case, then the fault
# table of docs/cluster.md. Root; needs ip, tc, iptables, unshare, ray and torch (CPU).
# Everything runs in private network+mount+PID namespaces: nothing outlives them.
set -euo pipefail
cd "$(dirname "$0")/.."
record=$(mktemp /tmp/tpdoctor-cluster-verify-XXXX.jsonl)
unshare --net --mount --pid --fork --mount-proc -- python3 bench/cluster_verify_netns.py
TPDOCTOR_CLUSTER_VERIFY_NS=1 TPDOCTOR_CLUSTER_VERIFY_RECORD="$record" \
  unshare --net --mount --pid --fork --mount-proc -- \
  python3 -m pytest -q -p no:cacheprovider -m clusterverify tests/test_cluster_verify.py
python3 bench/cluster_verify_netns.py --table "$record"
rm -f "$record"
