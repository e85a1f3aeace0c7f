"""explain on what the real programs print, not on lines written from their format strings.

Each test runs the real launcher (torchrun, torch.multiprocessing, DataLoader workers, Gloo) from the
installed torch, makes the fault happen for real (a 1 MiB /dev/shm in a private mount namespace, a
rank killed by a signal, a rank that never joins, an interface that does not exist), and feeds the
combined output to `explain`. The other explain tests pin each form to its source line; these catch
the day a torch release prints it differently.

The /dev/shm cases need root and `unshare` (CI runs as root, with util-linux installed by .ci/run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tpdoctor.explain import explain

torch = pytest.importorskip("torch")

needs_namespaces = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="a private /dev/shm needs root and unshare",
)


def _torchrun(script: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", script, *args]


def _run(
    tmp_path: Path,
    program: str,
    argv: list[str],
    *,
    shm_mib: int | None = None,
    env: dict[str, str] | None = None,
) -> Path:
    """Write `program`, run argv (its placeholder {script} filled in), return the log file."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(program), encoding="utf-8")
    cmd = [a.replace("{script}", str(script)) for a in argv]
    if shm_mib is not None:
        # The container fault itself: a small tmpfs on /dev/shm, visible only to this process tree.
        inner = f"mount -t tmpfs -o size={shm_mib}m tmpfs /dev/shm && exec " + " ".join(cmd)
        cmd = ["unshare", "-m", "sh", "-c", inner]
    proc = subprocess.run(
        cmd,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0, "the fault did not happen: " + proc.stdout.decode(errors="replace")[-2000:]
    log = tmp_path / "run.log"
    log.write_bytes(proc.stdout)
    return log


def _blockers(log: Path) -> list[tuple[str, str]]:
    report = explain([str(log)])
    return [(f.cause, f.confidence) for f in report.findings if f.severity.value != "notice"]


KILL_RANK_1 = """
    import os, signal, sys, time
    if os.environ.get("LOCAL_RANK") == "1":
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    time.sleep(5)
"""


@needs_namespaces
def test_dataloader_workers_in_a_small_dev_shm_prove_shm_too_small(tmp_path: Path) -> None:
    log = _run(
        tmp_path,
        """
        import torch
        from torch.utils.data import DataLoader, Dataset
        class Batches(Dataset):
            def __len__(self): return 8
            def __getitem__(self, i): return torch.ones(1 << 20)  # 4 MiB, more than /dev/shm holds
        if __name__ == "__main__":
            for batch in DataLoader(Batches(), batch_size=2, num_workers=2):
                pass
        """,
        [sys.executable, "{script}"],
        shm_mib=1,
    )
    assert _blockers(log)[:1] == [("shm.too-small", "proves")], log.read_text()[-3000:]


@needs_namespaces
def test_a_rank_killed_by_sigbus_writing_past_a_full_dev_shm_suggests_shm_too_small(tmp_path: Path) -> None:
    # What NCCL's and torch's shm transports do: size a file in /dev/shm, map it, write through the
    # mapping; tmpfs grants the size and delivers SIGBUS on the first page it cannot back.
    log = _run(
        tmp_path,
        """
        import mmap, os, time
        if os.environ.get("LOCAL_RANK") == "1":
            fd = os.open(f"/dev/shm/seg-{os.getpid()}", os.O_CREAT | os.O_RDWR, 0o600)
            os.ftruncate(fd, 8 << 20)
            mmap.mmap(fd, 8 << 20)[:] = b"x" * (8 << 20)
        time.sleep(5)
        """,
        _torchrun("{script}"),
        shm_mib=1,
    )
    text = log.read_text()
    assert "SIGBUS" in text  # torchrun's own failure table, as this torch prints it
    report = explain([str(log)])
    assert "SIGBUS" in report.facts.get("child_signal", []), report.facts
    assert _blockers(log)[:1] == [("shm.too-small", "suggests")], text[-3000:]


@pytest.mark.parametrize("signame", ["SIGKILL", "SIGSEGV"])
def test_a_rank_killed_by_another_signal_names_no_container_cause(tmp_path: Path, signame: str) -> None:
    log = _run(tmp_path, KILL_RANK_1, _torchrun("{script}", signame))
    report = explain([str(log)])
    assert signame in report.facts.get("child_signal", []), report.facts
    assert _blockers(log) == [], log.read_text()[-3000:]


def test_mp_spawn_reports_the_signal_of_its_child(tmp_path: Path) -> None:
    log = _run(
        tmp_path,
        """
        import os, signal
        import torch.multiprocessing as mp
        def rank(i):
            if i == 1:
                os.kill(os.getpid(), signal.SIGBUS)
        if __name__ == "__main__":
            mp.spawn(rank, nprocs=2)
        """,
        [sys.executable, "{script}"],
    )
    assert "SIGBUS" in explain([str(log)]).facts.get("child_signal", []), log.read_text()[-3000:]


GLOO_ALL_REDUCE = """
    import datetime, os, time
    import torch, torch.distributed as dist
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=3))
    if dist.get_rank() == 1 and os.environ.get("STALL"):
        time.sleep(10)
    else:
        dist.all_reduce(torch.ones(4))
"""


def test_a_gloo_interface_that_does_not_exist_proves_wrong_interface(tmp_path: Path) -> None:
    log = _run(tmp_path, GLOO_ALL_REDUCE, _torchrun("{script}"), env={"GLOO_SOCKET_IFNAME": "tpd-absent0"})
    assert _blockers(log)[:1] == [("network.wrong-interface", "proves")], log.read_text()[-3000:]


def test_a_gloo_timeout_without_a_selecting_fact_names_no_cause(tmp_path: Path) -> None:
    # A rank that never joins: the other one times out. Nothing in the log says why, so explain must
    # not name a container cause (a guess in the fallback is fine).
    log = _run(tmp_path, GLOO_ALL_REDUCE, _torchrun("{script}"), env={"STALL": "1"})
    assert "Timed out" in log.read_text()
    assert _blockers(log) == [], log.read_text()[-3000:]
