"""A snapshot of a real NVIDIA host (one H200, taken by bench/gpu/run_h200x1.sh on the device
machine): `check --from-snapshot` must read it and predict from it like on the live host."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

SNAP = Path(__file__).parent / "data" / "gpu" / "h200x1-host.json"


def _findings(*args: str) -> tuple[int, dict[str, str]]:
    r = run_cli("check", "--from-snapshot", str(SNAP), "-f", "json", *args)
    out = json.loads(r.stdout)
    return r.returncode, {f["cause"]: f["severity"] for f in out["findings"]}


def test_real_h200_host_has_no_blocker_at_its_gpu_count() -> None:
    snap = json.loads(SNAP.read_text())
    assert snap["nvidia"]["gpus"][0]["name"] == "NVIDIA H200" and snap["nvidia"]["source"] == "nvml"
    rc, causes = _findings("--tp", "1")
    assert "blocker" not in causes.values(), causes
    assert rc in (0, 4)


def test_real_h200_host_cannot_run_tp2() -> None:
    rc, causes = _findings("--tp", "2")
    assert rc == 3 and causes["vllm.tp-exceeds-visible-gpus"] == "blocker"


def test_dockerenv_on_the_booted_vm_is_not_a_privileged_container() -> None:
    """The device machine is a Firecracker VM whose image carries /.dockerenv; its mounts say
    `/dev/vda / ext4` and `devtmpfs /dev`, so it is a host: no security.privileged."""
    snap = json.loads(SNAP.read_text())
    assert snap["container"]["runtime"] == "docker" and snap["container"]["evidence"] == [
        "/.dockerenv exists"
    ]
    r = run_cli("check", "--from-snapshot", str(SNAP), "-f", "json", "--tp", "1")
    out = json.loads(r.stdout)
    assert out["facts"]["container"] == "none"
    assert "security.privileged" not in {f["cause"] for f in out["findings"]}


SNAP2 = Path(__file__).parent / "data" / "gpu" / "h200x2-host.json"


def test_real_two_h200_host_is_clean_at_tp2_and_sees_nvlink() -> None:
    snap = json.loads(SNAP2.read_text())
    assert snap["nvidia"]["nvlinks"] == {"0-1": 18} and snap["nvidia"]["p2p"] == {"0-1": "OK"}
    # a Firecracker VM whose image carries /.dockerenv: a booted root, not a container
    assert snap["container"]["runtime"] == "none"
    r = run_cli("check", "--from-snapshot", str(SNAP2), "--tp", "2", "-f", "json")
    assert r.returncode == 0, r.stdout
    assert json.loads(r.stdout)["findings"] == []
    r = run_cli("check", "--from-snapshot", str(SNAP2), "--tp", "4", "-f", "json")
    assert r.returncode == 3 and "vllm.tp-exceeds-visible-gpus" in r.stdout
