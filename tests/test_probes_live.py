"""Live probes on this machine: they really run here (root, no DRM driver, no Yama)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from conftest import run_cli
from tpdoctor.facts.probes import open_errno, opendir_errno, pidfd_self_test, pidfd_sibling_test, run_in_child


def test_pidfd_self_test_runs_here() -> None:
    kernel = tuple(int(x) for x in os.uname().release.split(".")[:2])
    r = pidfd_self_test()
    assert r.ok is (kernel >= (5, 6)), r  # this machine: no seccomp filter, root


def test_pidfd_self_test_reports_mkstemp_without_tmp(tmp_path: Path) -> None:
    r = pidfd_self_test(str(tmp_path / "missing"))
    assert not r.ok and r.step == "mkstemp" and r.errno == "ENOENT"


def test_sibling_test_runs_here() -> None:
    scope_file = Path("/proc/sys/kernel/yama/ptrace_scope")
    scope = int(scope_file.read_text()) if scope_file.exists() else 0
    r = pidfd_sibling_test()
    assert r.ok is (scope < 3), r  # root holds CAP_SYS_PTRACE here


def test_fake_drm_node_gives_enxio_without_driver(tmp_path: Path) -> None:
    node = tmp_path / "renderD128"
    os.mknod(node, 0o20660, os.makedev(226, 128))
    assert open_errno(str(node)) == "ENXIO"
    assert open_errno(str(tmp_path / "renderD129")) == "ENOENT"
    assert opendir_errno(str(tmp_path / "by-path")) == "ENOENT"
    assert opendir_errno(str(tmp_path)) == "ok"


def test_group_denied_gives_eacces(tmp_path: Path) -> None:
    node = tmp_path / "renderD128"
    os.mknod(node, 0o20660, os.makedev(226, 128))
    os.chown(node, 0, 992)
    os.chmod(tmp_path, 0o755)

    def as_nobody() -> dict[str, object]:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        return {"ok": False, "step": "open", "errno": open_errno(str(node))}

    assert run_in_child(as_nobody).errno == "EACCES"


def test_probes_never_hang() -> None:
    # the watchdog ends the child (how fast: bench/probes_latency.py); a hang would block here
    r = run_in_child(lambda: (time.sleep(3600), {"ok": True})[1], timeout=0.3)
    assert r.step == "timeout" and not r.ok


def test_fifo_is_not_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "renderD128"
    os.mkfifo(fifo)
    assert open_errno(str(fifo)) == "ENODEV"  # only device nodes are ever opened


def test_live_check_on_this_machine() -> None:
    r = run_cli("check", "-f", "json")  # its latency: bench/check_latency.py
    # This machine is itself a privileged Docker container (/.dockerenv, full caps, no seccomp),
    # so security.privileged (degraded, exit 4) is a true finding here; nothing may block.
    assert r.returncode in (0, 4), r.stderr
    assert "Traceback" not in r.stderr
    out = json.loads(r.stdout)
    causes = {f["cause"]: f["severity"] for f in out["findings"]}
    assert causes["device.no-gpu"] == "notice" and "blocker" not in causes.values()
    assert out["facts"]["live"] is True and out["facts"]["probes"]["pidfd_self_test"] is not None
    assert any("No GPU" in n for n in out["notes"])


def test_live_check_with_tp_is_a_blocker() -> None:
    r = run_cli("check", "--tp", "2")
    assert r.returncode == 3 and "vllm.tp-exceeds-visible-gpus" in r.stdout
