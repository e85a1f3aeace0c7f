"""`tpdoctor run` with real child processes: exit codes, signal forwarding, output passthrough
with bounded memory, crash explanation, --strict. No mocks: `python -m tpdoctor run` is started
as a process and talks to real children."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from tpdoctor.runner.child import LINE_CAP, Capture

SRC = str(Path(__file__).resolve().parents[1] / "src")
ARTICLE_LINE = (
    "RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: "
    "could not open device directory"
)


def tpdoctor_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tpdoctor", "run", *args]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


# -- exit codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("child", "code"),
    [
        (["true"], 0),
        (["sh", "-c", "exit 3"], 3),
        (["sh", "-c", "exit 200"], 200),
        (["sh", "-c", "kill -KILL $$"], 128 + signal.SIGKILL),  # 137, as docker reports an OOM kill
        (["sh", "-c", "kill -SEGV $$"], 128 + signal.SIGSEGV),
    ],
)
def test_exit_code_is_the_childs(child: list[str], code: int) -> None:
    p = run_cli("run", "--no-check", "--", *child)
    assert p.returncode == code, p.stderr


def test_check_runs_first_and_output_passes_through() -> None:
    p = run_cli("run", "--", "sh", "-c", "echo to-out; echo to-err >&2")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "to-out\n"  # tpdoctor writes nothing of its own on stdout
    assert "to-err\n" in p.stderr
    assert p.stderr.index("tpdoctor: check (") < p.stderr.index("to-err")


def test_command_not_found_and_usage() -> None:
    p = run_cli("run", "--no-check", "--", "/nonexistent/tpdoctor-test-binary")
    assert p.returncode == 127 and "command not found" in p.stderr
    p = run_cli("run")
    assert p.returncode == 2 and "no command given" in p.stderr


def test_descriptors_passed_on_purpose_reach_the_child(tmp_path: Path) -> None:
    out = tmp_path / "fd3"
    cmd = f"{sys.executable} -m tpdoctor run --no-check -- sh -c 'echo via-fd3 >&3' 3>{out}"
    p = subprocess.run(["sh", "-c", cmd], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert out.read_text() == "via-fd3\n"


def test_command_options_are_not_taken_for_ours() -> None:
    # after the command name every argument is the command's, even without `--`
    p = run_cli(
        "run", "--no-check", sys.executable, "-c", "import sys; print(sys.argv[1:])", "--strict", "-x"
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "['--strict', '-x']"


# -- --strict ----------------------------------------------------------------------------------


def test_strict_with_a_blocker_never_starts_the_command(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    # --tp 64: more GPUs than any test machine has, a blocker everywhere
    p = run_cli("run", "--strict", "--tp", "64", "--", "touch", str(marker))
    assert p.returncode == 3, p.stderr
    assert "--strict: not starting the command" in p.stderr
    assert not marker.exists()
    # without --strict the same prediction is printed and the command still runs
    p = run_cli("run", "--tp", "64", "--", "touch", str(marker))
    assert p.returncode == 0, p.stderr
    assert "prediction: the command is likely to fail" in p.stderr and marker.exists()


def test_tp_is_read_from_a_vllm_command_line(tmp_path: Path) -> None:
    fake_vllm = tmp_path / "vllm"
    fake_vllm.write_text("#!/bin/sh\nexit 0\n")
    fake_vllm.chmod(0o755)
    p = run_cli("run", "--strict", "--", str(fake_vllm), "serve", "m", "--tensor-parallel-size", "64")
    assert p.returncode == 3, p.stderr
    assert "command: vllm tp=64" in p.stderr and "tp 64" in p.stderr


# -- crash explanation -----------------------------------------------------------------------


def test_crash_is_explained_with_the_root_cause(tmp_path: Path) -> None:
    log = tmp_path / "diagnosis.json"
    child = py(
        "import sys\n"
        "print('INFO starting the server')\n"
        "print('|CCL_WARN| pidfd is not supported, fallbacks to drmfd exchange mode', file=sys.stderr)\n"
        f"print({ARTICLE_LINE!r}, file=sys.stderr)\n"
        "sys.exit(1)\n"
    )
    p = run_cli("run", "--no-check", "--explain-log", str(log), "--", *child)
    assert p.returncode == 1, p.stderr
    assert ARTICLE_LINE in p.stderr  # passed through
    diag = p.stderr[p.stderr.index("the command exited with 1") :]
    assert "BLOCKER oneccl.bypath-missing (proves)" in diag
    assert "fix: " in diag
    data = json.loads(log.read_text())
    assert data["findings"][0]["cause"] == "oneccl.bypath-missing"


def test_unknown_crash_shows_the_error_lines_and_keeps_the_code() -> None:
    child = py("import sys; print('ValueError: bad dtype float7', file=sys.stderr); sys.exit(5)")
    p = run_cli("run", "--no-check", "--", *child)
    assert p.returncode == 5
    assert "No known container/IPC cause found." in p.stderr
    assert "line 1: ValueError: bad dtype float7" in p.stderr


def test_success_is_not_explained() -> None:
    p = run_cli("run", "--no-check", "--", *py(f"print({ARTICLE_LINE!r})"))
    assert p.returncode == 0 and "explain" not in p.stderr


# -- signals -----------------------------------------------------------------------------------

HANDLER_CHILD = (
    "import signal, sys, time\n"
    "def h(n, f):\n"
    "    print('child got', n, flush=True); sys.exit(7)\n"
    "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP): signal.signal(s, h)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of a session, from /proc/PID/stat."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(entry))
    return out


def gone(sid: int, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while session_members(sid):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def start(*args: str) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        tpdoctor_argv(*args),
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # like a container's PID 1: no terminal, its own group
    )
    assert p.stdout is not None
    assert p.stdout.readline() == "ready\n"
    return p


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_to_tpdoctor_reaches_the_child(sig: signal.Signals) -> None:
    p = start("--no-check", "--", *py(HANDLER_CHILD))
    p.send_signal(sig)
    out, err = p.communicate(timeout=30)
    assert out == f"child got {int(sig)}\n", err
    assert p.returncode == 7  # the child's own exit code after handling it
    assert "not explaining a requested stop" in err


def test_sigterm_without_a_handler_gives_143_and_reaches_grandchildren(tmp_path: Path) -> None:
    # a shell that runs a grandchild: the whole process group gets the signal
    script = "sleep 60 & echo ready; wait"
    p = start("--no-check", "--", "sh", "-c", script)
    assert len(session_members(p.pid)) == 3  # tpdoctor, sh, sleep
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    assert p.returncode == 128 + signal.SIGTERM
    assert gone(p.pid)  # sleep got it too


def test_signal_sent_early_is_not_lost() -> None:
    # SIGTERM right after start, maybe before the child exists: tpdoctor either dies before
    # starting it (default action, no child) or forwards it; it never leaves a child behind
    p = subprocess.Popen(
        tpdoctor_argv("--no-check", "--", *py(HANDLER_CHILD)),
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(0.8)  # after the imports, around the spawn
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    assert p.returncode in (7, -signal.SIGTERM, 128 + signal.SIGTERM)
    assert gone(p.pid)  # no child is left behind


# -- output -----------------------------------------------------------------------------------

BIG = 50 * 1024 * 1024
WRITER = (
    "import sys\n"
    "line = (b'x' * 1023) + b'\\n'\n"
    "block = line * 1024\n"
    f"for _ in range({BIG} // len(block)): sys.stdout.buffer.write(block)\n"
    "sys.stderr.write('done\\n')\n"
)
PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "with open(sys.argv[1], 'wb') as out:\n"
    "    rc = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.PIPE).returncode\n"
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def peak_rss_kib(out: Path, *argv: str) -> tuple[int, int]:
    p = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, str(out), *argv],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    rc, kib = p.stdout.split()
    return int(rc), int(kib)


@pytest.mark.slow
def test_50mb_of_output_passes_through_unchanged_in_bounded_memory(tmp_path: Path) -> None:
    rc, base = peak_rss_kib(tmp_path / "small", *tpdoctor_argv("--no-check", "--", "true"))
    assert rc == 0
    out = tmp_path / "big"
    rc, peak = peak_rss_kib(out, *tpdoctor_argv("--no-check", "--", *py(WRITER)))
    assert rc == 0
    expected = hashlib.sha256(((b"x" * 1023 + b"\n") * 1024) * (BIG // (1024 * 1024))).hexdigest()
    assert out.stat().st_size == BIG
    assert hashlib.sha256(out.read_bytes()).hexdigest() == expected
    # the capture keeps at most 8 MiB (4 head + 4 tail); buffering the output would add 50
    assert peak - base < 24 * 1024, (base, peak)


def test_closed_stdout_closes_the_childs_pipe() -> None:
    # `tpdoctor run -- yes | head -1`: yes must see a broken pipe and end, not run forever
    cmd = f"{sys.executable} -m tpdoctor run --no-check -- yes | head -1"
    p = subprocess.run(["sh", "-c", cmd], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert p.stdout == "y\n"


# -- the capture -------------------------------------------------------------------------------


def test_capture_keeps_head_and_tail_of_whole_lines(tmp_path: Path) -> None:
    cap = Capture(head=100, tail=100)
    for i in range(1000):
        cap.feed(1 if i % 2 else 2, f"line {i:04d}\n".encode()[:5])
        cap.feed(1 if i % 2 else 2, f"line {i:04d}\n".encode()[5:])
    cap.feed(2, b"no newline at the end")
    cap.finish()
    path = tmp_path / "c.log"
    cap.write_to(path)
    lines = path.read_text().splitlines()
    assert lines[0] == "line 0000" and "bytes of output omitted" in "".join(lines)
    assert lines[-2:] == ["line 0999", "no newline at the end"]
    assert all(ln.startswith(("line ", "[tpdoctor", "no newline")) for ln in lines)
    assert cap.head_size <= 100 and cap.tail_size <= 100 + 20


def test_capture_cuts_giant_lines() -> None:
    cap = Capture(head=1 << 20, tail=1 << 20)
    cap.feed(1, b"a" * (3 * LINE_CAP))
    cap.feed(1, b"a" * LINE_CAP + b"\nnext\n")
    cap.feed(2, b"b" * 10)
    cap.finish()
    assert b"".join(cap.head) == b"a" * LINE_CAP + b"\nnext\n" + b"b" * 10 + b"\n"


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a terminal")
def test_on_a_terminal_the_child_is_the_foreground_group() -> None:
    # `docker run -it`: the child must be able to read the terminal (not stop with SIGTTIN)
    child = "import os, sys; print('fg', os.getpgrp() == os.tcgetpgrp(0)); sys.exit(4)"
    inner = f"{sys.executable} -m tpdoctor run --no-check -- {sys.executable} -c {shlex.quote(child)}"
    p = subprocess.run(
        ["script", "-qec", inner, "/dev/null"], env=cli_env(), capture_output=True, text=True, timeout=60
    )
    assert "fg True" in p.stdout, p.stdout + p.stderr
    assert p.returncode == 4
