"""Issue 13, heldout43 lessons (glearn43b): files, caches, libraries and notebook platforms.

Lines are written from the code that prints them (not copied from the heldout43 logs):
- glibc's loader (elf/dl-load.c "cannot stat shared object" / "cannot open shared object file" / "cannot read file
  data", elf/dl-load.h "failed to map segment from shared object", dlerror "<path>: <message>: <strerror>") with
  ESTALE's strerror ("Stale file handle"; "Stale NFS file handle" before glibc 2.17) for a module of Triton's cache:
  the cache is on a network filesystem shared between nodes (fs.jit-cache-shared-fs);
- the same loader's map-segment failure for Triton's helper modules quoted apart from the path, and TorchInductor's
  own re-raise (torch/_inductor/codecache.py "... is mounted with noexec (e.g., by default Docker mounts tmp file
  systems as noexec)") (fs.jit-cache-noexec);
- Triton's libcuda_dirs ("libcuda.so cannot found!", python/triton/common/build.py v2, backends/nvidia/driver.py v3):
  an `ldconfig -p` lookup after torch already loaded libcuda (nvidia.driver-libs-off-library-path first);
- an "Unknown runtime" error told without the name, beside a quoted --runtime=nvidia; "/dev/shm is only 64M";
  LD_LIBRARY_PATH said to be missing with GKE's /usr/local/nvidia/lib64;
- neighbours kept clean: the autoscaler's NotTriggerScaleUp naming cpu/memory too, ldconfig killed by SIGKILL /
  SIGSYS in libnvidia-container's hook, libmpi.so.12 missing for mpi4py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings

# --- fs.jit-cache-shared-fs: the loader's ESTALE on a Triton cache module -----------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # dl-load.c: fstat of the opened object (the form Python's import prints)
        "ImportError: /home/ana/.triton/cache/4f1c0d9e2b7a6c5e/__triton_launcher.cpython-311-x86_64-linux-gnu.so: "
        "cannot stat shared object: Stale file handle",
        # open_verify: open() of the object
        "[rank12]: ImportError: /nfs/home/li/.triton/cache/ZK3Q9/cuda_utils.cpython-310-x86_64-linux-gnu.so: "
        "cannot open shared object file: Stale file handle",
        # open_verify: read() of the ELF header, glibc before 2.17's strerror
        "ImportError: /mnt/shared/triton_cache/7AB2C/__triton_launcher.so: cannot read file data: Stale NFS file handle",
        # _dl_map_segments under TorchInductor's cache tree
        "ImportError: /shared/tmp/torchinductor_ana/triton/0/9ad2/cuda_utils.so: failed to map segment from shared "
        "object: Stale file handle",
    ],
)
def test_loader_estale_on_a_triton_cache_module_is_the_shared_cache(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[0] == ("fs.jit-cache-shared-fs", "proves")


def test_loader_estale_ranks_before_the_hang_it_causes(tmp_path: Path) -> None:
    text = (
        "The multi-node run on our cluster then hangs after the NCCL watchdog fires on the other ranks.\n"
        "ImportError: /home/ana/.triton/cache/4f1c/__triton_launcher.so: cannot stat shared object: Stale file handle\n"
    )
    got = causes(tmp_path, text)
    assert got[0] == "fs.jit-cache-shared-fs"


ESTALE_TWIN = "ImportError: /home/ana/.triton/cache/4f1c/cuda_utils.so: cannot stat shared object: Stale file handle\n"


@pytest.mark.parametrize(
    "line",
    [
        # a system library on NFS after a reinstall: not a JIT cache
        "ImportError: libcrypto.so.3: cannot stat shared object: Stale file handle",
        "ImportError: /nfs/conda/envs/a/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so: cannot open shared "
        "object file: Stale file handle",
        # a JIT cache module that failed for another reason
        "ImportError: /home/ana/.triton/cache/4f1c/__triton_launcher.so: cannot open shared object file: No such file or directory",
    ],
)
def test_loader_errors_outside_a_jit_cache_or_not_estale_are_not_the_shared_cache(tmp_path: Path, line: str) -> None:
    assert "fs.jit-cache-shared-fs" not in causes(tmp_path, line + "\n")
    assert causes(tmp_path, ESTALE_TWIN)[:1] == ["fs.jit-cache-shared-fs"]


# --- fs.jit-cache-noexec: quoted apart, and TorchInductor's own guidance -------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Loading the cached `cuda_utils.so` from the tmpfs at /tmp errors with `failed to map segment from shared object`",
        "ImportError while importing __triton_launcher.cpython-312-x86_64-linux-gnu.so (failed to map segment from shared object)",
        "hip_utils.so, failed to map segment from shared object",
        # TorchInductor re-raises with its guidance; the cache path is a custom TORCHINDUCTOR_CACHE_DIR
        "OSError: /scratch/cache/inductor/q3/cq3abcdef.so: failed to map segment from shared object.  The most common "
        "reason this may occur is if the /scratch/tmp folder is mounted with noexec (e.g., by default Docker mounts tmp "
        "file systems as noexec).  Please remount /scratch/tmp with exec enabled, or set another temporary directory "
        "with TORCHINDUCTOR_CACHE_DIR environment variable.",
    ],
)
def test_triton_helper_map_segment_forms_name_noexec(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == ["fs.jit-cache-noexec"]


@pytest.mark.parametrize(
    "line",
    [
        # an address-space limit, not noexec
        "cuda_utils.so: failed to map segment from shared object: Cannot allocate memory",
        # PyInstaller's bundle, not a JIT cache
        "[PYI-1234:ERROR] Failed to load Python shared library '/tmp/_MEIxk2/libpython3.10.so.1.0': "
        "failed to map segment from shared object",
        # a prose mention of the module name without the error
        "Triton writes cuda_utils.so into ~/.triton/cache on first use and reuses it afterwards",
    ],
)
def test_map_segment_neighbours_stay_off_noexec(tmp_path: Path, line: str) -> None:
    assert "fs.jit-cache-noexec" not in causes(tmp_path, line + "\n")
    twin = "the cached cuda_utils.so in /tmp, failed to map segment from shared object\n"
    assert causes(tmp_path, twin)[:1] == ["fs.jit-cache-noexec"]


# --- nvidia.driver-libs-off-library-path: Triton's ld-cache lookup --------------------------------------------------

TRITON_NONE = (
    "AssertionError: libcuda.so cannot found!\n"
    'Please make sure GPU is set up and then run "/sbin/ldconfig" (requires sudo) to refresh the linker cache.\n'
)


@pytest.mark.parametrize(
    "text",
    [
        "AssertionError: libcuda.so cannot found!\n",
        TRITON_NONE,
        '  File "/usr/local/lib/python3.10/dist-packages/triton/common/build.py", line 32, in libcuda_dirs\n'
        "    assert any(os.path.exists(os.path.join(path, 'libcuda.so')) for path in dirs), msg\n"
        "AssertionError: libcuda.so cannot found!\n",
    ],
)
def test_triton_libcuda_lookup_names_the_ld_cache_first(tmp_path: Path, text: str) -> None:
    got = causes(tmp_path, text)
    assert got[0] == "nvidia.driver-libs-off-library-path"


def test_dlopen_of_libcuda_still_reads_as_a_missing_driver(tmp_path: Path) -> None:
    line = "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory\n"
    assert causes(tmp_path, line)[0] == "runtime.nvidia-toolkit-missing"
    assert causes(tmp_path, TRITON_NONE)[0] == "nvidia.driver-libs-off-library-path"


# --- runtime.nvidia-toolkit-missing: "Unknown runtime" told without the name ---------------------------------------


def test_unknown_runtime_prose_with_runtime_nvidia_command(tmp_path: Path) -> None:
    text = (
        "docker run --runtime=nvidia --rm -it -p 8888:8888 nvcr.io/nvidia/pytorch:24.01-py3\n"
        "Running it exits at once with an unknown runtime error.\n"
    )
    assert causes(tmp_path, text)[:1] == ["runtime.nvidia-toolkit-missing"]


@pytest.mark.parametrize(
    "text",
    [
        # no --runtime=nvidia in the log: the words alone name nothing
        "docker run --gpus all --rm -it myimage\nThe page shows an Unknown runtime error in the browser console.\n",
        "Unknown runtime error\n",
    ],
)
def test_unknown_runtime_words_alone_stay_clean(tmp_path: Path, text: str) -> None:
    assert "runtime.nvidia-toolkit-missing" not in causes(tmp_path, text)
    twin = "docker run --runtime nvidia -it rapids/notebooks\nit stops with an Unknown runtime error\n"
    assert causes(tmp_path, twin)[:1] == ["runtime.nvidia-toolkit-missing"]


# --- shm.too-small: "/dev/shm is only 64M" ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "On the custom VM the shm value is only 64M.",
        "The shm size of the runtime is only 64MB.",
        "shared memory was only 64 MiB on the custom VM",
    ],
)
def test_shm_only_64m_prose_names_shm(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == ["shm.too-small"]


@pytest.mark.parametrize(
    "line",
    [
        "The shm is only 640MB after the change",
        "The model uses only 64MB of GPU memory",
    ],
)
def test_other_only_sizes_stay_clean(tmp_path: Path, line: str) -> None:
    assert "shm.too-small" not in causes(tmp_path, line + "\n")
    assert causes(tmp_path, "The shm is only 64MB.\n")[:1] == ["shm.too-small"]


# --- nvidia.driver-libs-off-library-path: LD_LIBRARY_PATH lost on GKE ---------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "The notebook kernel sees no GPU because LD_LIBRARY_PATH is missing; it must be /usr/local/nvidia/lib:/usr/local/nvidia/lib64",
        "After the launcher starts, LD_LIBRARY_PATH was cleared and no longer holds /usr/local/nvidia/lib64",
        "The server's LD_LIBRARY_PATH does not include /usr/local/nvidia/lib64",
    ],
)
def test_ld_library_path_lost_with_gke_driver_dir(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == ["nvidia.driver-libs-off-library-path"]


@pytest.mark.parametrize(
    "line",
    [
        "LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64\n",
        # TensorFlow's dso_loader prints the path it searched: no report that it was lost (a loose twin, not a match)
        "I tensorflow/stream_executor/dso_loader.cc:99] Couldn't open CUDA library libcudnn.so.5. LD_LIBRARY_PATH: "
        "/usr/local/nvidia/lib:/usr/local/nvidia/lib64:\n",
    ],
)
def test_ld_library_path_that_holds_the_gke_dir_is_clean(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line) == []
    twin = "In JupyterLab LD_LIBRARY_PATH is unset, although the pod spec sets /usr/local/nvidia/lib64\n"
    assert causes(tmp_path, twin)[:1] == ["nvidia.driver-libs-off-library-path"]


# --- neighbours kept clean -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Normal  NotTriggerScaleUp  3m (x5 over 8m)  cluster-autoscaler  pod didn't trigger scale-up (it wouldn't fit if "
        "a new node is added): 1 Insufficient nvidia.com/gpu, 1 Insufficient cpu",
        "Normal  NotTriggerScaleUp  40s  cluster-autoscaler  pod didn't trigger scale-up: 2 Insufficient nvidia.com/gpu, "
        "1 Insufficient memory",
    ],
)
def test_autoscaler_naming_cpu_or_memory_too_is_not_a_missing_gpu(tmp_path: Path, line: str) -> None:
    assert "k8s.gpu-resource-unavailable" not in causes(tmp_path, line + "\n")


def test_gpu_only_shortage_still_names_the_gpu_resource(tmp_path: Path) -> None:
    line = "Normal  NotTriggerScaleUp  40s  cluster-autoscaler  pod didn't trigger scale-up: 3 Insufficient nvidia.com/gpu"
    assert causes(tmp_path, line + "\n")[:1] == ["k8s.gpu-resource-unavailable"]
    sizing = line + ", 1 Insufficient cpu"
    assert "k8s.gpu-resource-unavailable" not in causes(tmp_path, sizing + "\n")


@pytest.mark.parametrize("sig", ["9", "31"])
def test_ldconfig_killed_from_outside_is_not_the_ldconfig_setting(tmp_path: Path, sig: str) -> None:
    line = f"nvidia-container-cli: ldcache error: process /usr/bin/ldconfig terminated with signal {sig}\n"
    assert "nvidia.toolkit-ldconfig-wrong" not in causes(tmp_path, line)


def test_ldconfig_crash_still_names_the_setting(tmp_path: Path) -> None:
    line = "stderr: nvidia-container-cli: ldcache error: process /sbin/ldconfig terminated with signal 11: unknown\n"
    assert causes(tmp_path, line)[:1] == ["nvidia.toolkit-ldconfig-wrong"]
    killed = line.replace("signal 11", "signal 9")
    assert "nvidia.toolkit-ldconfig-wrong" not in causes(tmp_path, killed)


def test_libmpi_missing_for_mpi4py_is_not_oneapi(tmp_path: Path) -> None:
    text = (
        '  File "/home/u/.local/lib/python3.11/site-packages/app/main.py", line 53, in run\n'
        "    from mpi4py import MPI\n"
        "ImportError: libmpi.so.12: cannot open shared object file: No such file or directory\n"
    )
    assert "oneccl.env-not-sourced" not in causes(tmp_path, text)


def test_oneccl_library_missing_still_names_setvars(tmp_path: Path) -> None:
    line = "ImportError: libccl.so.1: cannot open shared object file: No such file or directory\n"
    assert causes(tmp_path, line)[:1] == ["oneccl.env-not-sourced"]
    mpi = line.replace("libccl.so.1", "libmpi.so.40")
    assert "oneccl.env-not-sourced" not in causes(tmp_path, mpi)

