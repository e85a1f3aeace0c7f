#!/usr/bin/env bash
# tpdoctor cluster verify on network-namespace "nodes": healthy 2-node wall time and the 3-node
# fault table (docs/cluster.md). Root; needs ip, tc, iptables, unshare, ray and torch (CPU).
# Everything runs in a private network+mount+PID namespace: nothing outlives it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec unshare --net --mount --pid --fork --mount-proc -- python3 bench/cluster_verify_netns.py
