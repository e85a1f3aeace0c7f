"""Write a compose file with N GPU services for `tpdoctor audit` throughput (bench/README.md)."""

from __future__ import annotations

import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
out = ["services:"]
for i in range(n):
    out += [
        f"  svc{i}:  # service {i}",
        "    image: intelanalytics/ipex-llm-serving-xpu:latest",
        "    privileged: true" if i % 2 else "    devices: [/dev/dri]",
        "    ipc: host" if i % 3 == 0 else "    shm_size: 1g",
        "    group_add: [video]",
        "    environment:",
        f"      - TENSOR_PARALLEL_SIZE={1 + i % 4}",
        "      - HF_TOKEN=hf_inline",
        "    command: --model /llm/models/m --port 8000",
    ]
print("\n".join(out))
