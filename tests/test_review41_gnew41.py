"""review41 of gnew41: two of its patterns were quadratic on a long line (explain must stay within 2x of grep -E).

Each test names the input and what it did before the fix."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import notes as _notes

# A 64 KiB line (the reader's MAX_LINE) of the pattern's opening words, repeated without the rest: every opening
# scanned to the line's end, once per opening. Three such lines (195 KB) took 17 s (nomodeset) and 10 s (freeglut).
_SLOW = {
    "nomodeset": "BOOT_IMAGE=" * 5900 + " nomodesetx\n",
    "freeglut": "freeglut (" * 6500 + " failed to open display\n",
}


@pytest.mark.parametrize("form", sorted(_SLOW))
def test_a_long_line_of_openings_is_read_in_linear_time(tmp_path: Path, form: str) -> None:
    t = time.perf_counter()
    _all(tmp_path, _SLOW[form] * 3)
    assert time.perf_counter() - t < 3.0


def test_the_patterns_still_read_their_lines(tmp_path: Path) -> None:
    """An earlier opening on the line (`Command line: BOOT_IMAGE=...`), a program path holding none of the opening's
    words: read as before."""
    for line in (
        "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz-6.14 root=UUID=0 ro quiet splash nomodeset\n",
        "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet BOOT_IMAGE=x splash nomodeset\"\n",
    ):
        assert any("booted with nomodeset" in n for n in _notes(tmp_path, line)), line
    got = _all(tmp_path, "freeglut (/opt/app/bin/viewer-2.1): failed to open display ':0'\n")
    assert got[:1] == ["display.x11-unavailable"], got


def test_nomodeset_is_no_blocker_for_a_cuda_job_beside_an_idle_intel_igpu(tmp_path: Path) -> None:
    """A CUDA host booted with nomodeset (common on NVIDIA desktops: nvidia.ko ignores it) whose Intel iGPU has no
    driver: check named host.nomodeset-gpu-driver-disabled, a blocker, for a GPU the CUDA job never uses."""
    from test_check_gnew41 import _NM, _pci_facts
    from tpdoctor.model import CheckOptions
    from tpdoctor.rules.registry import run_fact_rules

    gpus = [("0000:01:00.0", "0x10de", "0x030000", False), ("0000:00:02.0", "0x8086", "0x030000", False)]
    facts = _pci_facts(tmp_path, "BOOT_IMAGE=/vmlinuz ro quiet splash nomodeset", gpus)
    assert facts.kernel.gpus_without_driver == ["0000:00:02.0 0x8086"]
    assert [f for f in run_fact_rules(facts, CheckOptions(backend="cuda")) if f.cause == _NM] == []
    # a ROCm or XPU job, or one that names no backend on this host, is still told
    for backend in ("rocm", "xpu"):
        assert [f for f in run_fact_rules(facts, CheckOptions(backend=backend)) if f.cause == _NM], backend
