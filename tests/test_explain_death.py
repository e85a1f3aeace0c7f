"""How a child's death is reported (issue 13, `gdeath`): every launcher's words for a rank, worker or
container killed by a signal become one fact (`child_signal`, ScanResult.deaths, explain/death.py).
SIGBUS is the /dev/shm symptom: a `suggests` shm.too-small that the context can select or contradict;
SIGKILL (usually the OOM killer) and SIGSEGV (a crash) name no container cause.

Every line below is written from the format string of the program that prints it (cited next to it),
or was printed here by the real program (bash 5, dash and CPython 3.11, marked "measured")."""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, notes
from tpdoctor.explain import explain
from tpdoctor.explain.death import signal_of
from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base

# A child killed by SIGBUS (signal 7), as each launcher reports it.
SIGBUS_LINES = [
    # torch/distributed/elastic/multiprocessing/errors/__init__.py _FAILURE_FORMAT_TEMPLATE ("exitcode  : ${exitcode}
    # (pid: ${pid})"), ProcessFailure ("Signal {-exitcode} ({signal_name}) received by PID {pid}"), api.py
    "  exitcode  : -7 (pid: 4242)",
    "  traceback : Signal 7 (SIGBUS) received by PID 4242",
    "[2024-06-01 10:00:00,123] torch.distributed.elastic.multiprocessing.api: [ERROR] failed (exitcode: -7) local_rank: 0 "
    "(pid: 4242) of binary: /usr/bin/python3",
    # torch/multiprocessing/spawn.py ProcessContext.join: ProcessExitedException (2.x and 1.x wording)
    "torch.multiprocessing.spawn.ProcessExitedException: process 1 terminated with signal SIGBUS",
    "Exception: Process 1 terminated with signal SIGBUS.",
    # DeepSpeed deepspeed/launcher/launch.py sigkill_handler: f"{cmd} exits with return code = {last_return_code}"
    "[2024-06-01 10:00:00,123] [ERROR] [launch.py:321:sigkill_handler] ['/usr/bin/python3', '-u', 'train.py', "
    "'--local_rank=1'] exits with return code = -7",
    # CPython subprocess.CalledProcessError.__str__ (measured, as accelerate's simple launcher raises it)
    "subprocess.CalledProcessError: Command '['python3', 'train.py']' died with <Signals.SIGBUS: 7>.",
    # the same child behind `sh -c`: the shell's exit status 128 + 7 (measured)
    "subprocess.CalledProcessError: Command '['sh', '-c', 'python3 train.py']' returned non-zero exit status 135.",
    # CPython multiprocessing BaseProcess.__repr__ with _exitcode_to_name (measured)
    "<Process name='Process-1' pid=2324 parent=2280 stopped exitcode=-SIGBUS>",
    # CPython 3.12+ concurrent/futures/process.py terminate_broken
    "Process 4242 terminated abruptly with exit code -7",
    # vLLM v0 executor/multiproc_worker_utils.py WorkerMonitor.run
    "ERROR 06-01 10:00:00 multiproc_worker_utils.py:120] Worker VllmWorkerProcess pid 4242 died, exit code: -7",
    # vLLM v1 v1/engine/utils.py wait_for_engine_startup
    "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {'EngineCore_DP0': -7}",
    # SGLang engine.py sigchld_handler: os.waitpid's raw status, 0x80 (core) | 7
    "[2025-01-01 10:00:00] Child process unexpectedly failed with exitcode=135. pid=4242",
    "[2025-01-01 10:00:00] Child process unexpectedly failed with exitcode=7. pid=4242",
    # text-generation-inference launcher/src/main.rs shard_manager
    "2024-01-01T10:00:00.000000Z ERROR text_generation_launcher: Shard process was signaled to shutdown with signal 7",
    # Open MPI help-orterun.txt [orterun:proc-aborted-strsignal]
    "mpirun noticed that process rank 1 with PID 4242 on node node1 exited on signal 7 (Bus error).",
    # MPICH Hydra's BAD TERMINATION block (pmiserv_cb.c; EXIT CODE is the raw wait status: 0x80 | 7)
    "=   KILLED BY SIGNAL: 7 (Bus error)",
    "=   EXIT CODE: 135",
    "YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Bus error (signal 7)",
    # Horovod runner/gloo_run.py: "Process name: {name}\nExit code: {code}"
    "Exit code: 135",
    # Slurm launch_slurm.c _task_finish: "%s: %s %s: %s%s" with strsignal, "%s: %s %s: Exited with exit code %d"
    "srun: error: node1: task 0: Bus error (core dumped)",
    "srun: error: node[1-2]: tasks 0-3: Exited with exit code 135",
    # systemd service.c: "Main process exited, code=%s, status=%i/%s"
    "Dec 01 10:00:00 host systemd[1]: vllm.service: Main process exited, code=killed, status=7/BUS",
    "Dec 01 10:00:00 host systemd[1]: vllm.service: Main process exited, code=dumped, status=7/BUS",
    # docker/compose pkg/compose/printer.go: "exited with code %d"; moby State.String "Exited (%d) %s ago"
    "vllm-1 exited with code 135",
    'a1b2c3d4e5f6   vllm/vllm-openai:v0.6.3   "python3 -m vllm.ent…"   5 minutes ago   Exited (135) 2 minutes ago   vllm',
    # kubectl describe describeContainerState "Exit Code:\t%d"; kubectl exec "command terminated with exit code %d"
    "      Exit Code:    135",
    "command terminated with exit code 135",
    # bash jobs.c, non-interactive (measured)
    "/tmp/run.sh: line 1:  2157 Bus error               (core dumped) python3 serve.py",
    "/tmp/run.sh: line 1:  1896 Bus error               python3 serve.py",
    # dash / interactive bash (measured), CPython faulthandler, abseil's failure signal handler (Ray), UCX
    "Bus error (core dumped)",
    "Fatal Python error: Bus error",
    "*** SIGBUS received at time=1700000000 on cpu 3 ***",
    "[node1:4242:0:4242] Caught signal 7 (Bus error: nonexistent physical address)",
    # Go os.ProcessState.String ("signal: " + "bus error"); Rust ExitStatus Display ("signal: 7 (SIGBUS)")
    "Error: exit status: signal: bus error",
    "Error: shard exited: signal: 7 (SIGBUS) (core dumped)",
]

# SIGKILL / SIGSEGV / an OOM kill: no container cause.
KILLED_LINES = [
    ("vllm-1 exited with code 137", "SIGKILL"),  # compose printer.go
    ("[2024-06-01 10:00:00,123] [ERROR] [launch.py:321:sigkill_handler] ['python3'] exits with return code = -9", "SIGKILL"),
    ("  exitcode  : -9 (pid: 4242)", "SIGKILL"),  # torch elastic table
    ("/tmp/run.sh: line 2:  1969 Killed                  python3 serve.py", "SIGKILL"),  # bash (measured)
    ("Killed", "SIGKILL"),  # interactive bash
    ("=   KILLED BY SIGNAL: 9 (Killed)", "SIGKILL"),  # MPICH Hydra
    # Hydra pmiserv_cb.c "=   EXIT CODE: %d": a signalled process's raw wait status (0x80 core flag | signal)
    ("=   EXIT CODE: 9", "SIGKILL"),
    ("=   EXIT CODE: 139", "SIGSEGV"),
    ("[2025-01-01 10:00:00] Child process unexpectedly failed with exitcode=9. pid=2969", "SIGKILL"),  # SGLang
    ("      Reason:       OOMKilled", "OOM"),  # kubectl describe
    ("[12345.678901] Out of memory: Killed process 4242 (python3) total-vm:9000000kB, anon-rss:8000000kB", "OOM"),  # mm/oom_kill.c
    ("[12345.678901] Memory cgroup out of memory: Killed process 4242 (python3)", "OOM"),  # mm/oom_kill.c
    ("srun: error: node1: task 13: Out Of Memory", "OOM"),  # launch_slurm.c SIG_OOM
    ("slurmstepd: error: Detected 1 oom-kill event(s) in StepId=10.batch. Some of your processes may have been killed "
     "by the cgroup out-of-memory handler.", "OOM"),
    ("Dec 01 10:00:00 host systemd[1]: vllm.service: Failed with result 'oom-kill'.", "OOM"),  # systemd service.c
    ("vllm-1 exited with code 139", "SIGSEGV"),
    ("/tmp/run.sh: line 3:  2239 Segmentation fault      (core dumped) python3 serve.py", "SIGSEGV"),  # measured
    ("Dec 01 10:00:00 host systemd[1]: vllm.service: Main process exited, code=dumped, status=11/SEGV", "SIGSEGV"),
]

# Lines that look like a death report and are none (ordinary exit statuses, docs and hints).
NOT_DEATHS = [
    "vllm-1 exited with code 0",
    "vllm-1 exited with code 1",
    "Exit code: 1",
    "subprocess.CalledProcessError: Command '['pip', 'install', 'x']' returned non-zero exit status 1.",
    '        "OOMKilled": false,',  # every docker inspect of a healthy container
    # Ray's generic hint after any worker death (src/ray/core_worker): it lists possible causes, it reports none
    "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR Worker exit detail: Worker "
    "unexpectedly exits with a connection error code 2. End of file. There are some potential root causes. (1) The "
    "process is killed by SIGKILL by OOM killer due to high memory usage. (2) ray stop --force is called. (3) The "
    "worker is crashed unexpectedly due to SIGSEGV or other unexpected errors.",
    "[2025-01-01 10:00:00] Child process unexpectedly failed with exitcode=256. pid=4242",  # exit(1): 1 << 8
    "CUDA out of memory. Tried to allocate 20.00 MiB",
]

# A command that starts the container with Docker's 64 MiB /dev/shm, and one that shares the host's IPC
DOCKER_DEFAULT_SHM = "$ docker run --gpus all vllm/vllm-openai:v0.6.3 --model m --tensor-parallel-size 2\n"
DOCKER_IPC_HOST = "$ docker run --gpus all --ipc=host vllm/vllm-openai:v0.6.3 --model m --tensor-parallel-size 2\n"
# NVIDIA/nccl src/misc/ibvwrap.cc: a guess several causes print (tests/test_explain_precision.py)
IBV_ENOMEM = "node1:100:200 [0] NCCL WARN Call to ibv_reg_mr failed with error Cannot allocate memory\n"
# NCCL's generic ncclSystemError, a downstream line whose first guess is shm.too-small
NCCL_SYSTEM_ERROR = "RuntimeError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1333, unhandled system error, NCCL version 2.18.1\n"


def _deaths(tmp_path: Path, text: str) -> dict[str, int]:
    log = tmp_path / "d.log"
    log.write_text(text)
    scanner = Scanner(knowledge_base())
    with log.open("rb") as f:
        scanner.scan_stream(f, str(log))
    return {name: hit.line for name, hit in scanner.result.deaths.items()}


def _report(tmp_path: Path, text: str) -> list[tuple[str, str, str]]:
    log = tmp_path / "r.log"
    log.write_text(text)
    return [(f.cause, f.severity.value, f.confidence) for f in explain([str(log)]).findings]


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ({"death_rc": "-7"}, "SIGBUS"),
        ({"death_rc": "135"}, "SIGBUS"),
        ({"death_rc": "137"}, "SIGKILL"),
        ({"death_rc": "139"}, "SIGSEGV"),
        ({"death_rc": "1"}, None),
        ({"death_rc": "255"}, None),
        ({"death_wait": "135"}, "SIGBUS"),  # 0x80 | 7
        ({"death_wait": "9"}, "SIGKILL"),
        ({"death_wait": "256"}, None),  # exited with 1
        ({"death_wait": str(135 << 8)}, "SIGBUS"),  # a shell that exited 135
        ({"death_signum": "7"}, "SIGBUS"),
        ({"death_name": "BUS"}, "SIGBUS"),
        ({"death_name": "SIGSEGV"}, "SIGSEGV"),
        ({"death_name": "bus error"}, "SIGBUS"),
        ({"death_name": "Killed"}, "SIGKILL"),
        ({"death_name": "OOMKilled"}, "OOM"),
        ({"death_name": "Out Of Memory"}, "OOM"),
        ({"death_rc2": "-11"}, "SIGSEGV"),  # a suffixed group is the same kind
        ({"nccl_version": "2.18.1"}, None),
    ],
)
def test_signal_of_reads_every_way_of_writing_a_signal(groups: dict[str, str], expected: str | None) -> None:
    assert signal_of(groups) == expected


@pytest.mark.parametrize("line", SIGBUS_LINES)
def test_every_launchers_sigbus_is_one_fact(tmp_path: Path, line: str) -> None:
    assert _deaths(tmp_path, line + "\n") == {"SIGBUS": 1}


@pytest.mark.parametrize("line", [x for x in SIGBUS_LINES if not x.startswith("srun: ")])
def test_a_sigbus_alone_suggests_shm_too_small(tmp_path: Path, line: str) -> None:
    found = _report(tmp_path, line + "\n")
    assert found and found[0] == ("shm.too-small", "blocker", "suggests"), found


@pytest.mark.parametrize("line", [x for x in SIGBUS_LINES if x.startswith("srun: ")])
def test_a_sigbus_srun_reports_on_the_host_is_no_shm_size(tmp_path: Path, line: str) -> None:
    # glearn27a: srun's report means Slurm ran the ranks on the host, whose /dev/shm is a tmpfs of half the RAM; with
    # nothing naming a container or /dev/shm the bus error is memory or a mapped file (hiyouga/LlamaFactory#2206)
    assert "shm.too-small" not in causes(tmp_path, line + "\n")
    assert any("Slurm ran the job on the host" in n for n in notes(tmp_path, line + "\n"))
    with_container = f"srun --container-image=nvcr.io#nvidia/pytorch:24.05-py3 python train.py\n{line}\n"
    assert "shm.too-small" in causes(tmp_path, with_container)


@pytest.mark.parametrize(("line", "name"), KILLED_LINES)
def test_kills_and_crashes_are_facts_and_stay_clean(tmp_path: Path, line: str, name: str) -> None:
    deaths = _deaths(tmp_path, line + "\n")
    assert name in deaths, deaths
    assert "SIGBUS" not in deaths
    assert causes(tmp_path, line + "\n") == []


@pytest.mark.parametrize("line", NOT_DEATHS)
def test_lines_that_report_no_death(tmp_path: Path, line: str) -> None:
    assert _deaths(tmp_path, line + "\n") == {}


def test_sigbus_in_a_container_with_the_default_shm_selects_shm_too_small(tmp_path: Path) -> None:
    text = DOCKER_DEFAULT_SHM + "vllm-1 exited with code 135\n"
    log = tmp_path / "c.log"
    log.write_text(text)
    findings = [f for f in explain([str(log)]).findings if f.severity.value != "notice"]
    assert [f.cause for f in findings] == ["shm.too-small"]
    # the context's reading (the quoted command) comes first, the death line is evidence
    assert "64 MiB" in findings[0].message and "line 1" in findings[0].message
    assert any(e.line == 2 for e in findings[0].evidence)


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (DOCKER_IPC_HOST, "--ipc=host"),
        ("$ docker run --gpus all --shm-size=16g vllm/vllm-openai:v0.6.3 --model m --tensor-parallel-size 2\n", "16384 MiB"),
    ],
)
def test_sigbus_with_a_large_or_shared_shm_is_no_shm_size_problem(tmp_path: Path, command: str, why: str) -> None:
    text = command + "vllm-1 exited with code 135\n"
    assert causes(tmp_path, text) == []
    assert any("SIGBUS" in n and why in n for n in notes(tmp_path, text)), notes(tmp_path, text)


# A compose service (docker/compose: no shm_size) and a Kubernetes Pod (no emptyDir at /dev/shm) quoted in the log,
# then the container's death as compose (printer.go) and kubectl describe (describe.go) report it.
COMPOSE_SERVICE = """services:
  vllm:
    image: vllm/vllm-openai:v0.6.3
    command: --model m --tensor-parallel-size 2
    deploy:
      resources:
        reservations:
          devices:
            - driver: nvidia
              count: 2
              capabilities: [gpu]

vllm-1 exited with code 135
"""
K8S_POD = """apiVersion: v1
kind: Pod
metadata:
  name: vllm
spec:
  containers:
  - name: vllm
    image: vllm/vllm-openai:v0.6.3
    args: ["--model", "m", "--tensor-parallel-size", "2"]
    resources:
      limits:
        nvidia.com/gpu: 2

$ kubectl describe pod vllm
    Last State:     Terminated
      Reason:       Error
      Exit Code:    135
"""


@pytest.mark.parametrize(("text", "unset"), [(COMPOSE_SERVICE, "no shm_size"), (K8S_POD, "no emptyDir")])
def test_a_quoted_compose_or_pod_and_its_exit_135_select_shm_too_small(tmp_path: Path, text: str, unset: str) -> None:
    log = tmp_path / "q.log"
    log.write_text(text)
    findings = [f for f in explain([str(log)]).findings if f.severity.value != "notice"]
    assert [f.cause for f in findings] == ["shm.too-small"]
    assert unset in findings[0].message
    # the same exit with the quoted file's /dev/shm made large is no /dev/shm size problem
    if "services:" in text:
        bigger = text.replace("    image:", "    shm_size: 16g\n    image:")
        assert causes(tmp_path, bigger) == []


def test_an_oom_kill_drops_a_guess_only_generic_lines_made(tmp_path: Path) -> None:
    # without the OOM report the generic system error guesses /dev/shm (so the test can fail)
    assert "shm.too-small" in causes(tmp_path, NCCL_SYSTEM_ERROR)
    text = "      Reason:       OOMKilled\n" + NCCL_SYSTEM_ERROR
    assert causes(tmp_path, text) == []
    assert any("OOM killer" in n for n in notes(tmp_path, text))


def test_a_bare_sigkill_does_not_drop_the_guess(tmp_path: Path) -> None:
    # a launcher kills the other ranks with SIGKILL once one failed (SGLang kill_process_tree, Hydra): not a root
    text = NCCL_SYSTEM_ERROR + "[2025-01-01 10:00:00] Child process unexpectedly failed with exitcode=9. pid=2969\n"
    assert "shm.too-small" in causes(tmp_path, text)


@pytest.mark.parametrize(
    "end",
    [
        "subprocess.CalledProcessError: Command '['python3', 'serve.py']' died with <Signals.SIGKILL: 9>.",
        "torch.multiprocessing.spawn.ProcessExitedException: process 0 terminated with signal SIGKILL",
    ],
)
def test_a_run_that_ends_with_a_kill_makes_guesses_notices(tmp_path: Path, end: str) -> None:
    assert causes(tmp_path, IBV_ENOMEM) == ["rdma.memlock-too-low"]  # the guess alone is a blocker
    found = _report(tmp_path, IBV_ENOMEM + end + "\n")
    assert ("rdma.memlock-too-low", "notice", "suggests") in found, found
    assert not [c for c, sev, _ in found if sev != "notice"], found


def test_a_run_that_ends_with_a_segfault_keeps_its_guess(tmp_path: Path) -> None:
    # UCX and older NCCL crash with SIGSEGV on a full /dev/shm: a crash at the end contradicts no container guess
    end = "subprocess.CalledProcessError: Command '['python3', 'serve.py']' died with <Signals.SIGSEGV: 11>.\n"
    assert causes(tmp_path, IBV_ENOMEM + end) == ["rdma.memlock-too-low"]


def test_a_kill_after_a_sigbus_is_the_launchers_cleanup(tmp_path: Path) -> None:
    # rank 1 died of SIGBUS, the launcher then killed the rest: the run did not end on an OOM or a crash
    text = (
        "mpirun noticed that process rank 1 with PID 4242 on node node1 exited on signal 7 (Bus error).\n"
        "subprocess.CalledProcessError: Command '['mpirun', '-np', '2', 'python3', 'train.py']' died with "
        "<Signals.SIGKILL: 9>.\n"
    )
    assert causes(tmp_path, text) == ["shm.too-small"]


def test_a_sigbus_never_outranks_a_specific_line(tmp_path: Path) -> None:
    # a downstream guess: a line that names a cause of its own comes first
    text = IBV_ENOMEM + "vllm-1 exited with code 135\n"
    assert causes(tmp_path, text)[0] == "rdma.memlock-too-low"
