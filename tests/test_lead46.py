"""The lead's findings of the thirty-fifth session on a real H100 host (bench/gpu/results/verify_small_h100x1-35.txt beside
it): check's GPU-request fix named on an NVIDIA host."""

from __future__ import annotations

from pathlib import Path

from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.rules.registry import run_fact_rules


def _docker_fix(facts: Facts, cause: str, options: CheckOptions, runtime: str = "docker") -> str:
    got = [f for f in run_fact_rules(facts, options) if f.cause == cause]
    assert got, [f.cause for f in run_fact_rules(facts, options)]
    return next(x.snippet for x in got[0].fixes if x.runtime == runtime)


def _nvidia_host(root: Path, gpus: int) -> Facts:
    fr = FakeRoot(root)
    fr.dockerenv()
    fr.add_nvidia(gpus)
    return collect_facts(fr.root, dict(fr.env), live=False)


def test_an_nvidia_host_is_told_gpus_n_not_render_nodes(tmp_path: Path) -> None:
    """The lead on an H100 host (35th session): check --tp 2 with one /dev/nvidia0 and no /dev/dri printed the fix
    `--device /dev/dri/renderD128 --device /dev/dri/renderD129   # NVIDIA: --gpus 2`: two Intel nodes the host does not
    have, the NVIDIA form only as a comment. With NVIDIA GPUs and no render node the docker fix is `--gpus 2` itself;
    a host with render nodes keeps the render-node list (its GPUs are the ones the nodes name)."""
    tp2 = CheckOptions(tp=2)
    nv = _nvidia_host(tmp_path / "nv", 1)
    assert _docker_fix(nv, "vllm.tp-exceeds-visible-gpus", tp2) == "--gpus 2"
    compose = _docker_fix(nv, "vllm.tp-exceeds-visible-gpus", tp2, "compose")
    assert compose.startswith("deploy:") and "count: 2" in compose and "renderD" not in compose, compose
    fr = FakeRoot(tmp_path / "intel")
    fr.dockerenv()
    fr.add_gpu(128, "0000:00:02.0")
    intel = collect_facts(fr.root, dict(fr.env), live=False)
    snippet = _docker_fix(intel, "vllm.tp-exceeds-visible-gpus", tp2)
    assert snippet.startswith("--device /dev/dri/renderD128") and "# NVIDIA: --gpus 2" in snippet, snippet
    compose = _docker_fix(intel, "vllm.tp-exceeds-visible-gpus", tp2, "compose")
    assert "renderD128" in compose and "driver: nvidia" in compose, compose


def test_no_gpu_node_beside_the_nvidia_driver_is_told_gpus_all(tmp_path: Path) -> None:
    """/dev/nvidiactl without any /dev/nvidiaN (a container started without --gpus on a host whose driver shows): the
    device.no-gpu fix is `--gpus all`, not two Intel render nodes with the NVIDIA form as a comment."""
    nv = _nvidia_host(tmp_path, 0)
    assert _docker_fix(nv, "device.no-gpu", CheckOptions()) == "--gpus all"
    compose = _docker_fix(nv, "device.no-gpu", CheckOptions(), "compose")
    assert compose.startswith("deploy:") and "count: all" in compose and "renderD" not in compose, compose
    fr = FakeRoot(tmp_path / "bare")
    fr.dockerenv()
    bare = collect_facts(fr.root, dict(fr.env), live=False)  # nothing says which vendor: both forms stay
    snippet = _docker_fix(bare, "device.no-gpu", CheckOptions())
    assert snippet.startswith("--device /dev/dri/renderD128") and snippet.endswith("# NVIDIA: --gpus all"), snippet
