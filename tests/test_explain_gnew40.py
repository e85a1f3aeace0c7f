"""Issue 13, gnew40: cause ids and remedies for container/host causes the blind rounds named no id for (heldout39's and
heldout40's lists).

Lines are written from the format strings of the code that prints them (not copied from any log):

- limits.onnxruntime-affinity-outside-cpuset: microsoft/onnxruntime onnxruntime/core/platform/posix/env.cc, ThreadMain's
  LOGS_DEFAULT(ERROR) ('pthread_setaffinity_np failed for thread: ' tid ', index: ' i ', mask: ' {cores, } ', error
  code: ' errno ' error msg: ' strerror '. Specify the number of threads explicitly so the affinity is not set.') under
  ORT's '[E:onnxruntime:<logid>, env.cc:<line> ThreadMain] ' prefix, and the 2021 releases' ORT_THROW from the
  PosixThread constructor ('<file>:<line> <function signature> pthread_setaffinity_np failed').
- nvidia.uvm-lost-after-suspend: the kernel's PM lines (kernel/power/suspend.c 'suspend entry (%s)' / 'suspend exit'
  under pr_fmt 'PM: '), torch's, TensorFlow/XLA's and Ollama's CUDA unknown-error texts (signatures already read them).
- runtime.nvidia-toolkit-missing (snap): docker-snap's dockerd-wrapper (--config-file=$SNAP_DATA/config/daemon.json,
  /var/snap/docker/<rev>, "current" a link to the revision) and the snap's default file ({"log-level": "error"}).
- runtime.jetson-gpus-flag: glibc's 'error while loading shared libraries: %s: file too short' on an L4T image's empty
  tegra/ placeholder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from explain_helpers import notes as _notes
from fakeroot import FakeRoot
from tpdoctor.explain import explain
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.rules.registry import run_fact_rules

_ORT = "limits.onnxruntime-affinity-outside-cpuset"
_SUSP = "nvidia.uvm-lost-after-suspend"
_TK = "runtime.nvidia-toolkit-missing"
_JET = "runtime.jetson-gpus-flag"


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "onnxruntime.thread-affinity-einval", "onnxruntime.posixthread-affinity-throw", "host-resumed-from-suspend",
        "suspend-cuda-unknown-error-init", "suspend-tf-cuinit-unknown-error", "suspend-ollama-cuda-driver-init-unknown",
        "jetson.tegra-placeholder-file-too-short", "tegra-placeholder-runtime-not-used", "docker-snap-named",
        "gpu-request-on-docker-snap",
    ):
        assert sid in got, sid


# --- limits.onnxruntime-affinity-outside-cpuset --------------------------------------------------------------------

_ORT_LINES = {
    "python": "2024-11-15 02:33:03.847241879 [E:onnxruntime:Default, env.cc:254 ThreadMain] pthread_setaffinity_np "
    "failed for thread: 152275, index: 97, mask: {49, }, error code: 22 error msg: Invalid argument. Specify the number "
    "of threads explicitly so the affinity is not set.\n",
    "triton-ht": "2023-09-21 16:33:35.046956673 [E:onnxruntime:log, env.cc:251 ThreadMain] pthread_setaffinity_np failed "
    "for thread: 5456, index: 24, mask: {25, 57, }, error code: 22 error msg: Invalid argument. Specify the number of "
    "threads explicitly so the affinity is not set.\n",
    "wrapped": "[E:onnxruntime:Default, env.cc:228 ThreadMain] pthread_setaffinity_np failed\nfor thread: 17, index: 6, "
    "mask: {7, }, error code: 22 error msg: Invalid\nargument. Specify the number of threads explicitly so the affinity "
    "is not set.\n",
    "throw-1.8": "RuntimeError: /onnxruntime_src/onnxruntime/core/platform/posix/env.cc:142 onnxruntime::{anonymous}::"
    "PosixThread::PosixThread(const char*, int, unsigned int (*)(int, Eigen::ThreadPoolInterface*),Eigen::"
    "ThreadPoolInterface*, const onnxruntime::ThreadOptions&) pthread_setaffinity_np failed\n",
    "throw-1.10": "onnxruntime::{anonymous}::PosixThread::PosixThread(const char*, int, unsigned int (*)(int, Eigen::"
    "ThreadPoolInterface*), Eigen::ThreadPoolInterface*,\nconst onnxruntime::ThreadOptions&) pthread_setaffinity_np "
    "failed, error code: 0 error msg:\n",
}


_ORT_ABORT = (
    "/usr/include/c++/11/bits/stl_vector.h:1123: std::vector<_Tp, _Alloc>::reference std::vector<_Tp, _Alloc>::"
    "operator[](size_type) [with _Tp = unsigned int; _Alloc = std::allocator<unsigned int>; reference = unsigned int&; "
    "size_type = long unsigned int]: Assertion '__n < this->size()' failed.\n"
    "Fatal Python error: Aborted\n"
)
_ORT_LOGGED = ("python", "triton-ht", "wrapped")  # newer releases: logged, and the run goes on unpinned


@pytest.mark.parametrize("form", sorted(set(_ORT_LINES) - set(_ORT_LOGGED)))
def test_onnxruntimes_affinity_throw_names_the_cpuset(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _ORT_LINES[form])
    assert got and got[0] == (_ORT, "suggests"), got


@pytest.mark.parametrize("form", _ORT_LOGGED)
def test_onnxruntimes_logged_affinity_failure_is_a_note_unless_the_process_aborts(tmp_path: Path, form: str) -> None:
    # lead, 29th session: ORT runs on unpinned, and users' working runs print the line (a warning "not affecting
    # operation"): alone a note; followed by ORT 1.19.2's abort on a Jetson with parked cores, the cause
    assert _ORT not in [c for c, _ in _findings(tmp_path, _ORT_LINES[form])]
    assert any("unpinned" in n for n in _notes(tmp_path, _ORT_LINES[form]))
    got = _findings(tmp_path, _ORT_LINES[form] + _ORT_ABORT)
    assert got and got[0] == (_ORT, "suggests"), got


def test_a_real_blocker_beside_the_affinity_lines_ranks_first(tmp_path: Path) -> None:
    text = _ORT_LINES["python"] + _ORT_ABORT + (
        "nvidia-container-cli: initialization error: load library failed: "
        "libnvidia-ml.so.1: cannot open shared object file: no such file or directory: unknown.\n"
    )
    got = [c for c, _ in _findings(tmp_path, text)]
    assert _ORT in got and got[0] != _ORT, got


@pytest.mark.parametrize(
    "text",
    [
        "Warning: pthread_setaffinity_np failed for thread 3: Invalid argument\n",  # another program's warning
        "pthread_setaffinity_np succeed for thread: 5447, index: 15, mask: {16, 48, }\n",  # ORT's verbose success
        "2025:01:01-00:00:00:(  100) |CCL_ERROR| base_thread.cpp:93 start: pthread_setaffinity_np failed, err 22\n",
        "[E:onnxruntime:Default, env.cc:254 ThreadMain] pthread_setaffinity_np failed for thread: 1, index: 0, "
        "mask: {0, }, error code: 1 error msg: Operation not permitted.\n",  # EPERM: not a cpuset
    ],
)
def test_look_alikes_of_the_affinity_failure_stay_clean(tmp_path: Path, text: str) -> None:
    assert _ORT not in _all(tmp_path, text)


# --- nvidia.uvm-lost-after-suspend ---------------------------------------------------------------------------------

_TORCH = (
    '  File "/usr/local/lib/python3.10/dist-packages/torch/cuda/__init__.py", line 302, in _lazy_init\n'
    "    torch._C._cuda_init()\n"
    "RuntimeError: CUDA unknown error - this may be due to an incorrectly set up environment, e.g. changing env "
    "variable CUDA_VISIBLE_DEVICES after program start. Setting the available devices to be zero.\n"
)
_XLA = (
    "2023-10-04 12:33:47.594219: E external/xla/xla/stream_executor/cuda/cuda_driver.cc:268] failed call to cuInit: "
    "CUDA_ERROR_UNKNOWN: unknown error\n"
)
_OLLAMA = (
    'time=2024-08-08T10:00:00.000Z level=INFO source=gpu.go:199 msg="error looking up nvidia GPU memory" '
    'error="cuda driver library init failure: 999"\n'
)
_SUSPENDED = {
    "kernel": "[ 8123.400112] PM: suspend entry (deep)\n[ 8190.118213] PM: suspend exit\n",
    "s2idle": "Oct 04 12:30:01 box kernel: PM: suspend entry (s2idle)\n",
    "acpi": "[ 8190.001000] ACPI: PM: Waking up from system sleep state S3\n",
    "hibernate": "Jun 30 01:35:17 box kernel: PM: hibernation: resume from hibernation\n",
    "laptop": "after laptop went to sleep, it disabled cuda access. power cycle fixed the issue\n",
    "prose-resume": "It works after a reboot but breaks again when the machine resumes from suspend.\n",
    "wake": "CUDA_ERROR_UNKNOWN after wake from suspend on my Ubuntu laptop\n",
    # the object between the verb and "from" (the thirtieth session's lead)
    "resume-object": "Every time I resume the laptop from suspend, torch stops seeing the GPU.\n",
    "wake-object": "after waking my PC up from sleep the container can no longer use CUDA\n",
}


@pytest.mark.parametrize("ctx", sorted(_SUSPENDED))
@pytest.mark.parametrize("err", [_TORCH, _XLA, _OLLAMA])
def test_the_unknown_error_after_a_suspend_names_nvidia_uvm(tmp_path: Path, ctx: str, err: str) -> None:
    for text in (_SUSPENDED[ctx] + err, err + _SUSPENDED[ctx]):  # the context before or after the error
        got = _findings(tmp_path, text)
        assert got and got[0][0] == _SUSP, (ctx, got)


@pytest.mark.parametrize(
    "ctx",
    [
        "Resuming training from checkpoint-500; after resuming, the dataloader restarts\n",
        "resume_from_checkpoint=True\nsleep 30 && python train.py\n",
        "INFO: Suspended job 12 (kueue: QuotaReserved=False)\n",
        "The worker thread went idle; it goes to the next batch\n",
        # a scheduler suspending a job is not the host sleeping (the GPU driver stays loaded)
        "After suspending the job with `scontrol suspend 4312` and resuming it, the step fails:\n",
        "when suspending running jobs for preemption (PreemptMode=SUSPEND,GANG)\n",
        "$ scontrol suspend/resume 4312\n",
        "We rely on suspend/resume of Slurm jobs for gang scheduling.\n",
        "Resume the job from the last checkpoint after waking the scheduler\n",
    ],
)
def test_a_checkpoint_resume_or_other_words_are_not_a_suspend(tmp_path: Path, ctx: str) -> None:
    got = _all(tmp_path, ctx + _TORCH)
    assert _SUSP not in got and "device.nvidia-node-missing" in got, got


def test_a_suspend_with_a_working_gpu_names_nothing(tmp_path: Path) -> None:
    assert _SUSP not in _all(tmp_path, _SUSPENDED["kernel"] + "INFO llm_engine.py:100] Initializing an LLM engine\n")


# --- runtime.nvidia-toolkit-missing: Docker as a snap ---------------------------------------------------------------


def _snap_host(tmp_path: Path, snap_daemon: str | None, etc_daemon: str | None, *, apt_docker: bool = False) -> Facts:
    fr = FakeRoot(tmp_path)
    fr.mounts = ["/dev/sda1 / ext4 rw,relatime 0 0", "devtmpfs /dev devtmpfs rw,nosuid 0 0"]
    fr.write("snap/docker/2904/bin/dockerd", "")
    fr.symlink("snap/docker/current", "2904")
    fr.write("var/snap/docker/2904/.keep", "")
    fr.symlink("var/snap/docker/current", "2904")
    if snap_daemon is not None:
        fr.write("var/snap/docker/2904/config/daemon.json", snap_daemon)
    if etc_daemon is not None:
        fr.write("etc/docker/daemon.json", etc_daemon)
    if apt_docker:
        fr.write("usr/bin/dockerd", "")
    fr.write("usr/bin/nvidia-container-runtime", "")
    fr.add_nvidia(1)
    fr.flush()
    return collect_facts(fr.root, dict(fr.env), live=False)


_ETC_NVIDIA = '{"runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}}'
_SNAP_DEFAULT = '{\n    "log-level":        "error"\n}\n'
_SNAP_NVIDIA = '{"log-level": "error", "runtimes": {"nvidia": {"path": "/snap/docker/2904/usr/bin/nvidia-container-runtime"}}}'


def _toolkit(facts: Facts) -> list[str]:
    return [f.message for f in run_fact_rules(facts, CheckOptions()) if f.cause == _TK]


def test_the_snaps_daemon_json_is_read_through_its_current_link(tmp_path: Path) -> None:
    eng = _snap_host(tmp_path, _SNAP_NVIDIA, None).engines
    assert eng.docker_snap == "/var/snap/docker/current/config/daemon.json"
    assert (eng.docker_snap_state, eng.docker_snap_runtimes) == ("read", ["nvidia"])


def test_nvidia_ctk_writing_etc_docker_for_a_snap_engine_is_found(tmp_path: Path) -> None:
    facts = _snap_host(tmp_path, _SNAP_DEFAULT, _ETC_NVIDIA)
    got = [f for f in run_fact_rules(facts, CheckOptions()) if f.cause == _TK]
    assert len(got) == 1 and "snap" in got[0].message and got[0].confidence == "suggests", got
    assert got[0].fixes[0].id == "docker-snap-config"
    assert any(e.source == "/etc/docker/daemon.json" for e in got[0].evidence)


def test_a_snap_without_its_daemon_json_and_nvidia_gpus_is_found(tmp_path: Path) -> None:
    msgs = _toolkit(_snap_host(tmp_path, None, None))
    assert len(msgs) == 1 and "does not exist" in msgs[0], msgs


def test_the_snaps_own_nvidia_support_is_clean(tmp_path: Path) -> None:
    assert _toolkit(_snap_host(tmp_path, _SNAP_NVIDIA, _ETC_NVIDIA)) == []


def test_an_unreadable_snap_file_is_not_judged(tmp_path: Path) -> None:
    facts = _snap_host(tmp_path, "{not json", _ETC_NVIDIA)
    assert facts.engines.docker_snap_state == "invalid"
    assert _toolkit(facts) == []


def test_the_apt_engine_alone_is_not_read_as_a_snap(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path)
    fr.mounts = ["/dev/sda1 / ext4 rw,relatime 0 0", "devtmpfs /dev devtmpfs rw,nosuid 0 0"]
    fr.write("usr/bin/dockerd", "").write("usr/bin/nvidia-container-runtime", "")
    fr.write("etc/docker/daemon.json", _ETC_NVIDIA).add_nvidia(1).flush()
    facts = collect_facts(fr.root, dict(fr.env), live=False)
    assert facts.engines.docker_snap is None
    assert _toolkit(facts) == []


def test_both_engines_installed_say_which_one_matters(tmp_path: Path) -> None:
    msgs = _toolkit(_snap_host(tmp_path, _SNAP_DEFAULT, _ETC_NVIDIA, apt_docker=True))
    assert len(msgs) == 1 and "which engine the docker CLI reaches" in msgs[0], msgs


def test_the_explain_remedy_names_the_snap(tmp_path: Path) -> None:
    log = tmp_path / "snap.log"
    log.write_text('docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n')
    ids = {fx.id for f in explain([str(log)]).findings if f.cause == _TK for fx in f.fixes}
    assert "docker-snap-config" in ids, ids


# --- runtime.jetson-gpus-flag: an empty Tegra BSP library ----------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "python3: error while loading shared libraries: /usr/lib/aarch64-linux-gnu/tegra/libcuda.so.1: file too short\n",
        "/opt/nvidia/vpi2/lib/aarch64-linux-gnu/libnvvpi.so.2: error while loading shared libraries: "
        "/usr/lib/aarch64-linux-gnu/tegra/libnvsocsys.so: file too short\n",
        "OSError: /usr/lib/aarch64-linux-gnu/tegra/libnvrm_gpu.so: file too short\n",
    ],
)
def test_an_empty_tegra_library_names_the_nvidia_runtime_first(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0][0] == _JET, got


def test_an_empty_tensorrt_outside_tegra_keeps_the_host_install_first(tmp_path: Path) -> None:
    got = _findings(tmp_path, "./imagenet: error while loading shared libraries: /usr/lib/aarch64-linux-gnu/"
                    "libnvinfer.so.8: file too short\n")
    assert got and got[0][0] == "nvidia.host-driver-library-missing", got


_NO_DRIVER = 'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n'


@pytest.mark.parametrize(
    "ctx",
    [
        "$ sudo snap services docker\nService         Startup  Current  Notes\ndocker.dockerd  enabled  active   -\n",
        "$ which docker\n/snap/bin/docker\n",
        "$ cat /var/snap/docker/current/config/daemon.json\n{\"log-level\": \"error\"}\n",
    ],
)
def test_a_gpu_request_on_the_docker_snap_says_so(tmp_path: Path, ctx: str) -> None:
    log = tmp_path / "snap.log"
    log.write_text(ctx + _NO_DRIVER)
    got = [f for f in explain([str(log)]).findings if f.cause == _TK]
    assert got and "snap" in got[0].message and "/var/snap/docker/current/config/daemon.json" in got[0].message


def test_a_gpu_request_on_a_packaged_docker_does_not_mention_the_snap(tmp_path: Path) -> None:
    log = tmp_path / "apt.log"
    log.write_text("$ which docker\n/usr/bin/docker\n$ snap list\nName  Version  Rev\ncore20  20240111  2182\n" + _NO_DRIVER)
    got = [f for f in explain([str(log)]).findings if f.cause == _TK]
    assert got and "snap" not in got[0].message


def test_the_evidence_names_the_snap_directory_that_exists(tmp_path: Path) -> None:
    # only the snap's data directory is in this root (its squashfs under /snap not mounted there): the evidence
    # names what check found, not a path it did not see
    fr = FakeRoot(tmp_path)
    fr.mounts = ["/dev/sda1 / ext4 rw,relatime 0 0", "devtmpfs /dev devtmpfs rw,nosuid 0 0"]
    fr.write("var/snap/docker/2904/config/daemon.json", _SNAP_DEFAULT)
    fr.symlink("var/snap/docker/current", "2904")
    fr.write("usr/bin/nvidia-container-runtime", "")
    fr.write("etc/docker/daemon.json", _ETC_NVIDIA).add_nvidia(1).flush()
    facts = collect_facts(fr.root, dict(fr.env), live=False)
    got = [f for f in run_fact_rules(facts, CheckOptions()) if f.cause == _TK]
    assert len(got) == 1, got
    assert got[0].evidence[0].source == "/var/snap/docker", got[0].evidence
    assert not any(e.source == "/snap/docker" for e in got[0].evidence)
