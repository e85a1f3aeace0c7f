"""Whole-process start-up, side by side: tpdoctor --version, tpdoctor check on a fake 8-GPU root,
tpdoctor audit on a 500-service compose file, and `python -m torch.utils.collect_env`,
interleaved round by round (median of N).

    python3 bench/startup.py [rounds] [--before SRC]     # as root: the fake root uses mknod

`--before SRC` adds the same tpdoctor commands run from another tree's src/ (e.g. the tree
before a change: `git archive <commit> | tar -x -C /tmp/before`, then `--before /tmp/before/src`).

Interleaving puts every command under the same load, so the ratio holds on a busy machine even
when the absolute numbers do not; the load average is printed with the result. Each command's
CPU time (user + system, from wait4) is printed beside its wall time: on a shared machine it
varies far less than the wall time.

The trees are byte-compiled first and the children run without PYTHONDONTWRITEBYTECODE, as an
installed package runs (pip writes the .pyc files at install time); compiling every module from
source on every run would add ~50 ms to check and measure the compiler, not tpdoctor.
"""

from __future__ import annotations

import compileall
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


def _run(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the child and its children)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t, usage.ru_utime + usage.ru_stime


def main() -> None:
    args = sys.argv[1:]
    before = None
    if "--before" in args:
        i = args.index("--before")
        before = Path(args[i + 1]).resolve()
        del args[i : i + 2]
    rounds = int(args[0]) if args else 7
    py = sys.executable
    trees = {"": HERE / "src"} | ({"before: ": before} if before else {})
    for src in trees.values():
        compileall.compile_dir(str(src), quiet=1)
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        root = str(fake_8gpu_root(Path(tmp)))
        compose = Path(tmp) / "c500.yaml"
        gen = subprocess.run(
            [py, str(HERE / "bench" / "gen_compose.py"), "500"], capture_output=True, text=True
        )
        compose.write_text(gen.stdout)
        log = Path(tmp) / "vllm.log"
        log.write_text(
            "RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: "
            "could not open device directory\n"
        )
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([py, "-c", "pass"], base_env)
        }
        # without site (-S): no .pth file runs; site-packages comes from PYTHONPATH instead. What
        # the interpreter costs where no .pth imports anything (here one imports certifi)
        site_dirs = [p for p in sys.path if p.endswith("site-packages")]
        nosite = dict(base_env, PYTHONPATH=os.pathsep.join([str(HERE / "src"), *site_dirs]))
        commands["python -S -c pass"] = ([py, "-S", "-c", "pass"], nosite)
        for label, src in trees.items():
            env = dict(base_env, PYTHONPATH=str(src))
            tp = [py, "-m", "tpdoctor"]
            commands[f"{label}tpdoctor --version"] = ([*tp, "--version"], env)
            commands[f"{label}check json"] = ([*tp, "check", "--root", root, "--tp", "8", "-f", "json"], env)
            commands[f"{label}check text"] = ([*tp, "check", "--root", root, "--tp", "8"], env)
            commands[f"{label}audit 500 json"] = ([*tp, "audit", str(compose), "--format", "json"], env)
            commands[f"{label}audit 500 text"] = ([*tp, "audit", str(compose)], env)
            commands[f"{label}explain one line"] = ([*tp, "explain", str(log)], env)
            commands[f"{label}run -- true"] = ([*tp, "run", "--", "true"], env)  # live check, then true
        no_site_check = [py, "-S", "-m", "tpdoctor", "check", "--root", root, "--tp", "8", "-f", "json"]
        commands["check json, python -S"] = (no_site_check, nosite)
        commands["torch collect_env"] = ([py, "-m", "torch.utils.collect_env"], base_env)
        for cmd, env in commands.values():  # warm the page cache and any .pyc of site-packages
            _run(cmd, env, tmp)
        load_before = os.getloadavg()
        wall: dict[str, list[float]] = {k: [] for k in commands}
        cpu: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(rounds):
            for name, (cmd, env) in commands.items():
                w, c = _run(cmd, env, tmp)
                wall[name].append(w)
                cpu[name].append(c)
        load_after = os.getloadavg()
    fmt_load = " ".join(f"{x:.1f}" for x in load_before) + " -> " + " ".join(f"{x:.1f}" for x in load_after)
    print(f"load average {fmt_load}, {rounds} interleaved rounds, {os.cpu_count()} CPUs")
    print(f"  {'':26} {'wall median':>12} {'wall min':>9} {'CPU median':>11} {'CPU min':>8}")
    for name in commands:
        w, c = wall[name], cpu[name]
        print(
            f"  {name:26} {statistics.median(w) * 1000:9.0f} ms {min(w) * 1000:6.0f} ms"
            f" {statistics.median(c) * 1000:8.0f} ms {min(c) * 1000:5.0f} ms"
        )
    for label in trees:
        for what in ("check json", "check text"):
            name = f"{label}{what}"
            ratio_w = statistics.median(wall["torch collect_env"]) / statistics.median(wall[name])
            ratio_c = statistics.median(cpu["torch collect_env"]) / statistics.median(cpu[name])
            print(f"  collect_env / {name}: {ratio_w:.1f}x wall, {ratio_c:.1f}x CPU (medians)")
    print("  (python -S rows: the interpreter without site's .pth files, site-packages on PYTHONPATH)")


if __name__ == "__main__":
    main()
