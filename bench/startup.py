"""Whole-process start-up, side by side: tpdoctor --version, tpdoctor check on a fake 8-GPU root,
and `python -m torch.utils.collect_env`, interleaved round by round (median of N).

    python3 bench/startup.py [rounds]        # as root: the fake root uses mknod

Interleaving puts every command under the same load, so the ratio holds on a busy machine even
when the absolute numbers do not; the load average is printed with the result.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(HERE / "src"), str(HERE / "tests")]

from fakeroot import FakeRoot  # noqa: E402


def fake_8gpu_root(base: Path) -> Path:
    fr = FakeRoot(base).docker_default().dockerenv().set_ptrace_scope(1)
    for i in range(8):
        bdf = f"0000:{0x18 + i:02x}:00.0"
        fr.add_gpu(128 + i, bdf).add_bypath(bdf, 128 + i)
    fr.set_env(CCL_ZE_IPC_EXCHANGE="sockets", CCL_WORKER_COUNT="2")
    return fr.root


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    env = dict(os.environ, PYTHONPATH=str(HERE / "src"))
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = str(fake_8gpu_root(Path(tmp)))
        commands = {
            "python -c pass": [py, "-c", "pass"],
            "tpdoctor --version": [py, "-m", "tpdoctor", "--version"],
            "tpdoctor check (json)": [
                py,
                "-m",
                "tpdoctor",
                "check",
                "--root",
                root,
                "--tp",
                "8",
                "-f",
                "json",
            ],
            "tpdoctor check (text)": [py, "-m", "tpdoctor", "check", "--root", root, "--tp", "8"],
            "torch collect_env": [py, "-m", "torch.utils.collect_env"],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(rounds):
            for name, cmd in commands.items():
                t = time.perf_counter()
                subprocess.run(cmd, env=env, capture_output=True, check=False, cwd=tmp)
                times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}, {rounds} interleaved rounds, medians:"
    )
    for name, ms in med.items():
        print(f"  {name:24} {ms:8.0f} ms   (min {min(times[name]) * 1000:.0f})")
    base = med["torch collect_env"]
    for name in ("tpdoctor check (json)", "tpdoctor check (text)"):
        print(f"  collect_env / {name}: {base / med[name]:.1f}x")


if __name__ == "__main__":
    main()
