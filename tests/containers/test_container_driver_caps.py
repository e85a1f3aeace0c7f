"""nvidia.driver-capabilities-missing, measured in real Docker containers: the rule reads two things the
engine must really provide inside, the NVIDIA_DRIVER_CAPABILITIES the container was created with (its
environment) and the per-file bind mounts the NVIDIA hook leaves in /proc/self/mounts (libnvidia-container
src/nvc_mount.c mounts each driver library on its own, read-only; a CDI spec does the same).

No NVIDIA driver is here: the two driver libraries are empty files bind-mounted the way the hook mounts them,
one container with only NVML (what `utility` injects), one with NVML and libcuda (`compute,utility`). `check
--backend cuda` runs inside; the finding must be proven in the first and absent in the second."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from .container_harness import Container, Toolbox

pytestmark = pytest.mark.container

LIB_DIR = "/opt/nvidia-driver/lib"  # the image's /usr is the host's, read-only: the hook's libdir stands in
NVML = "libnvidia-ml.so.535.104.05"
CUDA = "libcuda.so.535.104.05"


def _check_inside(box: Toolbox, caps: str, libraries: list[str]) -> dict[str, str]:
    """cause -> confidence of `check --backend cuda` run in a container created with `caps`."""
    base = Path(tempfile.mkdtemp(prefix="driver-caps-", dir=box.workdir))
    base.chmod(0o755)
    out = base / "out"
    out.mkdir()
    out.chmod(0o777)
    binds = []
    for name in libraries:
        f = base / name
        f.write_bytes(b"")
        binds.append(f"{f}:{LIB_DIR}/{name}:ro")
    c = Container(tp=1, check_args=("--backend", "cuda"))
    ct = box.run_tool(c, out, binds, {"NVIDIA_DRIVER_CAPABILITIES": caps})
    try:
        status = ct.wait(timeout=120)
        assert status.get("StatusCode") == 0, ct.logs()[-800:]
    finally:
        ct.remove(force=True)
    report = json.loads((out / f"{c.name}.json").read_text())
    facts = json.loads((out / f"{c.name}.facts.json").read_text())
    targets = {m["target"] for m in facts["mounts"]}
    assert {f"{LIB_DIR}/{n}" for n in libraries} <= targets, "the engine did not show the bind mounts"
    assert facts["env"].get("NVIDIA_DRIVER_CAPABILITIES") == caps
    return {f["cause"]: f["confidence"] for f in report["findings"]}


def test_utility_only_with_nvml_mounted_proves_compute_missing(toolbox: Toolbox) -> None:
    found = _check_inside(toolbox, "utility", [NVML])
    assert found.get("nvidia.driver-capabilities-missing") == "proves"


def test_libcuda_mounted_means_compute_was_injected(toolbox: Toolbox) -> None:
    found = _check_inside(toolbox, "utility", [NVML, CUDA])
    assert "nvidia.driver-capabilities-missing" not in found
