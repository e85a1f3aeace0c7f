"""Issue 13, heldout45 lessons (glearn45b): containers, libraries and shared memory outside ML serving.

Lines are written from the code that prints them (not copied from the heldout45 logs):
- kube-scheduler NodeResourcesFit fit.go fitsRequest "Insufficient %v" for squat/generic-device-plugin's GPU
  resources (squat.ai/dri, squat.ai/dri-render, devic.es/<name>); non-GPU device names stay clean;
- Ray services.py's /dev/shm -> /tmp object-store fallback followed by worker.py init "Started a local Ray instance."
  in a run with no GPU workload: an advisory (note), a cause beside vLLM/NCCL or alone;
- Nextcloud llm2 "Failed to initialize the LLM model on both GPU and CPU." whose CPU error is libcuda.so.1: an app
  build problem, not a container refused its GPU;
- Python's errno-less "can't start new thread" next to OpenBLAS/libgomp/cgo thread creation refused with EPERM: clone3
  under an old seccomp profile, not the pids limit (which returns EAGAIN);
- the OpenCL ICD loader's vendors directory under a prefix (strace open/openat ENOENT) with no platform found.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

# --------------------------------------------------------------------------- generic device plugin resources

SCHED = "Warning  FailedScheduling  3m12s (x4 over 18m)  default-scheduler  "


@pytest.mark.parametrize(
    "line",
    [
        SCHED + "0/1 nodes are available: 1 Insufficient squat.ai/dri. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
        SCHED + "0/3 nodes are available: 3 Insufficient squat.ai/dri-render. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        "0/2 nodes are available: 1 Insufficient devic.es/dri, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.",
        "pod ai/granite-7f9c stuck Pending: 0/1 nodes are available: 1 insufficient squat.ai/gpu.",
    ],
)
def test_insufficient_generic_device_plugin_gpu_resource(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [("k8s.gpu-resource-unavailable", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        # the generic plugin's other devices are no GPU
        SCHED + "0/1 nodes are available: 1 Insufficient squat.ai/serial.",
        SCHED + "0/1 nodes are available: 1 Insufficient squat.ai/audio. preemption: 0/1 nodes are available.",
        # a healthy allocatable listing names the resource without any refusal
        '{"cpu":"2","memory":"3920780Ki","pods":"110","squat.ai/dri":"4"}',
    ],
)
def test_generic_device_plugin_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "k8s.gpu-resource-unavailable" not in causes(tmp_path, line + "\n")
    # ... while the GPU render node of the same plugin is named
    assert "k8s.gpu-resource-unavailable" in causes(tmp_path, SCHED + "0/1 nodes are available: 1 Insufficient squat.ai/dri.\n")


# --------------------------------------------------------------------------- Ray's /dev/shm fallback in a run that worked

RAY_TMP = (
    "2024-03-02 10:01:12,301\tWARNING services.py:1996 -- WARNING: The object store is using /tmp instead of /dev/shm "
    "because /dev/shm has only 67108864 bytes available. This will harm performance! You may be able to free up space "
    "by deleting files in /dev/shm. If you are inside a Docker container, you can increase /dev/shm size by passing "
    "'--shm-size=4.01gb' to 'docker run' (or add it to the run_options list in a Ray cluster config). Make sure to set "
    "this to more than 30% of available RAM.\n"
)
RAY_STARTED = "2024-03-02 10:01:13,447\tINFO worker.py:1821 -- Started a local Ray instance. View the dashboard at 127.0.0.1:8265 \n"


@pytest.mark.parametrize(
    "tail",
    [
        RAY_STARTED,
        RAY_STARTED.replace(" View the dashboard at 127.0.0.1:8265 ", ""),
        RAY_STARTED + "(task pid=5311) hello from a task 0.42\n",
    ],
)
def test_ray_shm_fallback_in_a_plain_ray_run_that_started_is_a_note(tmp_path: Path, tail: str) -> None:
    text = ">>> import ray\n>>> ray.init()\n" + RAY_TMP + tail
    assert causes(tmp_path, text) == []
    assert any("performance warning" in n for n in notes(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        # the warning alone (nothing says the run went on)
        RAY_TMP,
        # Ray started, then vLLM's engine ran on it: the 64 MiB /dev/shm stays the cause
        RAY_TMP + RAY_STARTED + "INFO 03-02 10:01:15 llm_engine.py:161] Initializing an LLM engine (v0.4.3) with config: model='m', tensor_parallel_size=2\n",
        # the instance started before the warning of a second init
        RAY_STARTED + RAY_TMP,
        # NCCL ran next to it
        RAY_TMP + RAY_STARTED + "(RayWorkerWrapper pid=812) host:812:812 [0] NCCL INFO NCCL version 2.20.5+cuda12.4\n",
    ],
)
def test_ray_shm_fallback_stays_a_cause_otherwise(tmp_path: Path, text: str) -> None:
    assert "shm.too-small" in causes(tmp_path, text)
    assert causes(tmp_path, RAY_TMP + RAY_STARTED) == []  # the plain run that started is the note


# --------------------------------------------------------------------------- CPU fallback that still loads libcuda

LLM2 = (
    "Error: ('Error: Failed to initialize the LLM model on both GPU and CPU.', \"Failed to load shared library "
    "'/root/.venv/lib/python3.11/site-packages/llama_cpp/lib/libllama.so': {err}\")\n"
)


@pytest.mark.parametrize(
    "err",
    ["libcuda.so.1: cannot open shared object file: No such file or directory", "libcuda.so: cannot open shared object file: No such file or directory"],
)
def test_cpu_fallback_that_needs_libcuda_is_no_container_cause(tmp_path: Path, err: str) -> None:
    text = "llm2 container (docker socket proxy in CPU mode)\n" + LLM2.format(err=err)
    assert "runtime.nvidia-toolkit-missing" not in causes(tmp_path, text)
    assert any("CPU fallback" in n for n in notes(tmp_path, text))


def test_libcuda_missing_without_the_cpu_fallback_keeps_the_toolkit(tmp_path: Path) -> None:
    text = "$ docker run --rm myimage python -c 'import llama_cpp'\nOSError: libcuda.so.1: cannot open shared object file: No such file or directory\n"
    assert "runtime.nvidia-toolkit-missing" in causes(tmp_path, text)
    assert "runtime.nvidia-toolkit-missing" not in causes(tmp_path, LLM2.format(err="libcuda.so.1: cannot open shared object file: No such file or directory"))


# --------------------------------------------------------------------------- thread creation: EPERM is not the pids limit


@pytest.mark.parametrize(
    "eperm",
    [
        "OpenBLAS blas_thread_init: pthread_create failed for thread 3 of 8: Operation not permitted\nOpenBLAS blas_thread_init: RLIMIT_NPROC -1 current, -1 max\n",
        "libgomp: Thread creation failed: Operation not permitted\n",
        "runtime/cgo: pthread_create failed: Operation not permitted\n",
    ],
)
def test_cant_start_new_thread_beside_eperm_is_clone3_not_pids(tmp_path: Path, eperm: str) -> None:
    text = "web-1  | Traceback (most recent call last):\n" + eperm + "web-1  | RuntimeError: can't start new thread\n"
    got = causes(tmp_path, "$ docker compose up\n" + text)
    assert got[:1] == ["seccomp.clone3-eperm"]
    assert "limits.pids-exhausted" not in got


def test_cant_start_new_thread_beside_eagain_keeps_pids(tmp_path: Path) -> None:
    text = (
        "$ docker compose up\n"
        "OpenBLAS blas_thread_init: pthread_create failed for thread 3 of 8: Resource temporarily unavailable\n"
        "RuntimeError: can't start new thread\n"
    )
    assert causes(tmp_path, text)[:1] == ["limits.pids-exhausted"]
    eperm = text.replace("Resource temporarily unavailable", "Operation not permitted")
    assert "limits.pids-exhausted" not in causes(tmp_path, eperm)


# --------------------------------------------------------------------------- OpenCL ICD loader reading a prefix's vendors dir

PREFIX = "/cvmfs/soft.example.org/gentoo/2023/x86-64-v3"


@pytest.mark.parametrize(
    ("probe", "trace"),
    [
        (
            "Number of platforms                               0\n",
            f'openat(AT_FDCWD, "{PREFIX}/etc/OpenCL/vendors", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = -1 ENOENT (No such file or directory)\n',
        ),
        (
            "pyopencl._cl.LogicError: clGetPlatformIDs failed: PLATFORM_NOT_FOUND_KHR\n",
            'open("/nix/store/8x1c-ocl-icd-2.3.2/etc/OpenCL/vendors/", O_RDONLY|O_NONBLOCK|O_DIRECTORY|O_CLOEXEC) = -1 ENOENT (No such file or directory)\n',
        ),
    ],
)
def test_icd_loader_looking_under_a_prefix_names_the_icd(tmp_path: Path, probe: str, trace: str) -> None:
    text = "$ strace -f -e trace=open,openat clinfo\n" + trace + probe
    assert findings(tmp_path, text)[:1] == [("nvidia.opencl-icd-missing", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # the prefix's vendors directory is absent but a platform was found (another loader path worked)
        f'openat(AT_FDCWD, "{PREFIX}/etc/OpenCL/vendors", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = -1 ENOENT (No such file or directory)\n'
        "Number of platforms                               1\n",
        # the prefix's directory exists (fd returned), no platform: nothing says where the loader failed
        f'openat(AT_FDCWD, "{PREFIX}/etc/OpenCL/vendors", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 3\n'
        "Number of platforms                               0\n",
    ],
)
def test_icd_prefix_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "nvidia.opencl-icd-missing" not in causes(tmp_path, text)
    named = text.replace("platforms                               1", "platforms                               0").replace(") = 3", ") = -1 ENOENT (No such file or directory)")
    assert "nvidia.opencl-icd-missing" in causes(tmp_path, named)
