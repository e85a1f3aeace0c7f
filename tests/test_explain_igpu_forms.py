"""rocm.igpu-visible in the other places a report names its GPUs (fifteenth session).

gnew25 reads ggml's HIP device list. A report also names the APU by the CPU's marketing name (/proc/cpuinfo,
lscpu, rocminfo's CPU agent and clinfo print AMD's name as is: "AMD Ryzen 5 3400G with Radeon Vega Graphics",
"AMD Ryzen 7 8700G w/ Radeon 780M Graphics") or in TheRock's torch start-up list ("Visible AMD GPUs: [...]"), and a
discrete GPU by its marketing family (Radeon RX/PRO/AI PRO nnnn, Radeon VII, Instinct MInnn). ROCm/ROCm#3401: a
3400G beside an RX 6600 and "HIP error: invalid device function"; AMD: "HIP using your integrated graphics rather
than your discrete graphics", fixed with HIP_VISIBLE_DEVICES.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings

APUS = [
    "CPU: AMD Ryzen 5 3400G with Radeon Vega Graphics\n",
    "model name\t: AMD Ryzen 7 8700G w/ Radeon 780M Graphics\n",
    "  Marketing Name:          AMD Ryzen 5 3500U with Radeon Vega Mobile Gfx\n",
    "Model name:                           AMD Ryzen 5 5600G with Radeon Graphics\n",
]
DISCRETE = [
    "GPU: AMD Radeon RX 6600 (gfx1032)\n",
    "GPU 1: AMD Radeon PRO W7900\n",
    "dGPU: Radeon RX 7900 XTX\n",
]
FAILURE = "RuntimeError: HIP error: invalid device function\n"


@pytest.mark.parametrize("apu", APUS)
@pytest.mark.parametrize("dgpu", DISCRETE)
def test_an_apu_named_by_its_cpu_beside_a_discrete_gpu_and_a_hip_failure(tmp_path: Path, apu: str, dgpu: str) -> None:
    found = findings(tmp_path, apu + dgpu + FAILURE)
    assert found and found[0] == ("rocm.igpu-visible", "suggests"), found


def test_therock_visible_list_with_an_apu_target(tmp_path: Path) -> None:
    text = "Visible AMD GPUs: ['gfx1201', 'gfx1200', 'gfx1036']\n" + FAILURE
    found = findings(tmp_path, text)
    assert found and found[0] == ("rocm.igpu-visible", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # an APU and a discrete GPU, no HIP failure (a working box, or another failure)
        APUS[0] + DISCRETE[0] + "Epoch 1/10: loss 0.412\n",
        APUS[3] + DISCRETE[1] + "torch.OutOfMemoryError: HIP out of memory. Tried to allocate 2.00 GiB\n",
        # a Ryzen without graphics in its name (lscpu of a 7950X) beside a discrete GPU
        "Model name: AMD Ryzen 9 7950X 16-Core Processor\n" + DISCRETE[0] + FAILURE,
        # rocminfo's "AMD Radeon Graphics" is also what R9700 boards print: not an iGPU by itself
        "  Marketing Name:          AMD Radeon Graphics\n" + DISCRETE[2] + FAILURE,
        # only the APU (a laptop): the iGPU is the GPU
        APUS[2] + FAILURE,
        # TheRock's list without an APU target
        "Visible AMD GPUs: ['gfx1201', 'gfx1200']\n" + FAILURE,
    ],
)
def test_without_both_kinds_or_a_hip_failure_it_is_not_named(tmp_path: Path, text: str) -> None:
    assert "rocm.igpu-visible" not in [c for c, _ in findings(tmp_path, text)]
