"""gsafe40: `audit --fix` / `--write` on a Kubernetes manifest written as `kubectl get -o yaml` writes it (a list's
`- ` at its key's indentation) re-indented every line of every list: the whole containers block changed. The dump
now indents lists as the file does, so only the lines the fix needs change."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke
from tpdoctor.deploy.io import sequence_offset

KUBECTL = """apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: c
    image: vllm/vllm-openai
    args:
    - --tensor-parallel-size
    - "2"
    env:
    - name: A
      value: b
    securityContext:
      privileged: true
    resources:
      limits:
        nvidia.com/gpu: 2
"""


@pytest.mark.parametrize("text", [KUBECTL], ids=["kubectl"])
def test_write_changes_only_the_needed_lines(tmp_path: Path, text: str) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text(text)
    code, out = invoke("audit", str(f), "--write")
    _check(code, out, "write")
    after = f.read_text()
    removed = [ln for ln in difflib.ndiff(text.splitlines(), after.splitlines()) if ln.startswith("- ")]
    assert removed == ["-       privileged: true"], removed  # nothing else of the file was rewritten
    for line in text.splitlines():
        if "privileged" not in line:
            assert line in after.splitlines()


def test_sequence_offset() -> None:
    assert sequence_offset(KUBECTL) == 0
    assert sequence_offset("a:\n  b:\n    - x\n") == 2
    assert sequence_offset("services:\n  a:\n    devices:\n    - /dev/dri\n") == 0
    assert sequence_offset("a: 1\n") == 2  # no block list: the writer's own style
    assert sequence_offset("a:\n  # note\n\n  - x\n") == 2
