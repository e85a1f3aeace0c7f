"""Every corpus config's listed problems are found, each as a named cause id.

The mapping problem -> cause is ours (the corpus states problems in words); the test fails when
a listed problem has no mapping or the mapped cause is not reported for that config.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_helpers import corpus_configs, write_config
from tpdoctor.deploy.audit import audit_model, load

# config id -> one expected cause per listed problem, in the corpus' order
EXPECTED: dict[str, list[str]] = {
    "ipex-llm-fastchat-docker-run-broken-continuation": [
        "audit.shell-continuation-broken",
        "audit.shell-continuation-broken",
        "oneccl.bypath-missing",
        "audit.network-host-unneeded",
    ],
    "ipex-llm-vllm-quickstart-group-video": [
        "oneccl.bypath-missing",
        "device.group-name-unresolved",
        "audit.devices-all-gpus",
        "audit.network-host-unneeded",
    ],
    "ollama-intel-gpu-compose": [
        "audit.devices-all-gpus",
        "oneccl.bypath-missing",
        "audit.group-add-missing",
        "shm.too-small",
    ],
    "rocm-sdk-builder-248-podman-gfx906": [
        "security.privileged",
        "audit.cap-sys-admin",
        "audit.host-memory-device",
        "audit.seccomp-unconfined",
        "audit.ipc-host-unneeded",
        "audit.group-gid-unverified",
    ],
    "sglang-docker-compose": [
        "audit.ipc-host-unneeded",
        "audit.network-host-unneeded",
        "audit.memlock-unneeded",
        "audit.secret-inline",
        "audit.gpu-count-fixed",
    ],
    "vllm-14403-compose-ipc-host": [
        "audit.ipc-host-unneeded",
        "audit.gpu-injection-redundant",
        "audit.gpu-count-unused",
        "audit.secret-inline",
    ],
    "vllm-3416-compose-tp4-one-gpu": [
        "vllm.tp-exceeds-visible-gpus",
        "cuda.visible-devices-mismatch",
        "compose.yaml-invalid",
        "audit.memlock-unneeded",
    ],
    "vllm-docs-k8s-nvidia-deployment-shm": [
        "shm.too-small",
        "audit.hardening-missing",
        "audit.gpu-count-fixed",
    ],
    "vllm-docs-rocm-docker-run": [
        "audit.seccomp-unconfined",
        "audit.ipc-host-unneeded",
        "device.group-name-unresolved",
        "audit.devices-all-gpus",
    ],
    "vllm-docs-xpu-docker-run-bypath": [
        "shm.too-small",
        "audit.bypath-writable",
        "audit.devices-all-gpus",
        "audit.group-add-missing",
        "audit.network-host-unneeded",
    ],
}


def _ids(shared: Path) -> list[str]:
    return [c["id"] for c in corpus_configs(shared)]


def test_every_corpus_config_has_a_mapping(shared_dir: Path) -> None:
    assert set(_ids(shared_dir)) == set(EXPECTED), "corpus configs and EXPECTED differ"
    for cfg in corpus_configs(shared_dir):
        assert cfg["id"] in EXPECTED, f"no expected causes for {cfg['id']}"
        assert len(EXPECTED[cfg["id"]]) == len(cfg["problems"]), cfg["id"]


@pytest.mark.parametrize("cfg_id", sorted(EXPECTED))
def test_corpus_problems_found(cfg_id: str, shared_dir: Path, tmp_path: Path) -> None:
    cfg = next(c for c in corpus_configs(shared_dir) if c["id"] == cfg_id)
    loaded = load(write_config(cfg, tmp_path))
    found = {f.cause for f in audit_model(loaded.model).findings}
    missing = [(p, c) for p, c in zip(cfg["problems"], EXPECTED[cfg_id], strict=True) if c not in found]
    assert not missing, f"{cfg_id}: not found: {missing}; found {sorted(found)}"


def test_broken_continuation_names_both_kinds_of_break(shared_dir: Path, tmp_path: Path) -> None:
    cfg = next(c for c in corpus_configs(shared_dir) if c["id"].endswith("broken-continuation"))
    loaded = load(write_config(cfg, tmp_path))
    f = next(x for x in audit_model(loaded.model).findings if x.cause == "audit.shell-continuation-broken")
    texts = " ".join(e.text for e in f.evidence)
    assert "comment line" in texts and "trailing whitespace" in texts


def test_corpus_fixes_are_idempotent(shared_dir: Path, tmp_path: Path) -> None:
    from tpdoctor.deploy.fix import fix_loaded

    for cfg in corpus_configs(shared_dir):
        path = write_config(cfg, tmp_path)
        first = fix_loaded(load(path), None)
        path.write_text(first.text)
        second = fix_loaded(load(path), None)
        assert second.text == first.text, cfg["id"]
