"""Issue 13, gnew36: cause ids for container/host causes the blind rounds named no id for (heldout35's list).

Lines are written from the format strings of the code that prints them (not copied from any log):

- fs.jit-cache-noexec: glibc elf/dl-load.h DL_MAP_SEGMENTS_ERROR_MAP_SEGMENT ("failed to map segment from shared
  object"; before 2.20 with strerror appended), raised by Python as 'ImportError: <path>: <dlerror>'; Triton's
  launcher modules (cuda_utils, __triton_launcher) in its cache, TorchInductor's torchinductor_<user> tree;
  mount(8)'s 'SOURCE on TARGET type FSTYPE (OPTIONS)'; moby daemon/oci_linux.go (a --tmpfs starts from noexec).
- host.wsl-linux-driver-installed: numba numba/cuda/cudadrv/driver.py ('Call to %s results in %s', CudaAPIError
  '[%d] %s', 'Error at driver init: %s (%d)'), numba/cuda/cudadrv/libs.py test ('\\tMapped libcuda.so paths:' and
  one path a line); TF/XLA cuda_driver.cc ('failed call to cuInit: ' + the CUresult's name and string).
- nvidia.opencl-icd-missing: boostorg/compute no_device_found::what() ('No OpenCL device found'), LightGBM's
  Log::Fatal frame ('[LightGBM] [Fatal] %s'); clinfo's 'Number of platforms' row; ls(1)'s "cannot access '%s'".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.model.facts import MountEntry
from tpdoctor.rules.jit_cache import jit_cache_exec

_NOEXEC = "fs.jit-cache-noexec"
_WSLDRV = "host.wsl-linux-driver-installed"
_OCL = "nvidia.opencl-icd-missing"


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "jit.so-map-segment-failed", "jit.so-map-segment-eperm", "cuda.init-no-device-100", "opencl.no-device-found",
        "jit-noexec-mount", "linux-libcuda-release", "wsl-linux-driver-package", "wsl-libcuda-mapped", "cuda-compat-lib-named",
        "nvidia-opencl-icd-file-absent", "opencl-vendors-dir-absent", "jit-map-segment-noexec-mount",
        "jit-map-segment-address-space-limit", "jit-map-segment-not-noexec-under-limit", "wsl-no-device-linux-libcuda",
        "wsl-no-device-linux-driver-package", "wsl-no-device", "nvidia-opencl-icd-absent-boost",
        "nvidia-opencl-vendors-dir-clinfo", "nvidia-opencl-smi-driver-boost", "nvidia-opencl-wsl-clinfo",
    ):
        assert sid in got, sid


# --- fs.jit-cache-noexec ---------------------------------------------------------------------------------------------

_SO_LINES = {
    "inductor-triton": "ImportError: /tmp/torchinductor_root/triton/0/7b9e1d3f5a/cuda_utils.so: failed to map segment "
    "from shared object\n",
    "triton-home": "ImportError: /home/u/.triton/cache/1f3e5a7c9b/cuda_utils.cpython-311-x86_64-linux-gnu.so: failed "
    "to map segment from shared object\n",
    "launcher": "ImportError: /scratch/jit/triton/5d7f9b1c/__triton_launcher.cpython-312-x86_64-linux-gnu.so: failed "
    "to map segment from shared object\n",
    "extension": "ImportError: /root/.cache/torch_extensions/py311_cu124/fused_adam/fused_adam.so: failed to map "
    "segment from shared object\n",
}
_MOUNTS = {
    "mount": "tmpfs on /tmp type tmpfs (rw,nosuid,nodev,noexec,relatime,size=65536k)\n",
    "proc-mounts": "tmpfs /tmp tmpfs rw,nosuid,nodev,noexec,relatime 0 0\n",
    "findmnt": "/tmp   tmpfs  tmpfs  rw,nosuid,nodev,noexec,relatime\n",
    "docker-tmpfs": "docker run --rm --gpus all --tmpfs /tmp -e TRITON_CACHE_DIR=/tmp/triton img\n",
    "docker-tmpfs-opts": "docker run --gpus all --tmpfs=/tmp:rw,size=8g,mode=1777 img\n",
    "words": "our /tmp is mounted noexec by the security baseline\n",
}


@pytest.mark.parametrize("form", sorted(_SO_LINES))
def test_a_jit_so_that_cannot_be_mapped_suggests_it(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _SO_LINES[form])
    assert got and got[0] == (_NOEXEC, "suggests"), (form, got)


@pytest.mark.parametrize("mount", sorted(_MOUNTS))
def test_with_a_noexec_mount_in_the_log_it_is_proved(tmp_path: Path, mount: str) -> None:
    got = _findings(tmp_path, _MOUNTS[mount] + _SO_LINES["inductor-triton"])
    assert got and got[0] == (_NOEXEC, "proves"), (mount, got)


def test_the_old_glibc_eperm_proves_it_alone(tmp_path: Path) -> None:
    text = _SO_LINES["triton-home"].rstrip("\n") + ": Operation not permitted\n"
    assert _findings(tmp_path, text)[0] == (_NOEXEC, "proves")


@pytest.mark.parametrize(
    "text",
    [
        # ENOMEM: an address-space limit, not noexec
        _SO_LINES["triton-home"].rstrip("\n") + ": Cannot allocate memory\n",
        # a PyInstaller bundle on a noexec /tmp: no JIT cache
        "[77] Error loading Python lib '/tmp/_MEIab12/libpython3.10.so.1.0': dlopen: /tmp/_MEIab12/libpython3.10.so"
        ".1.0: failed to map segment from shared object\n" + _MOUNTS["mount"],
        # a --tmpfs with exec, and /dev/shm's usual noexec: no noexec cache named
        "docker run --tmpfs /tmp:rw,exec,mode=1777 img\nshm on /dev/shm type tmpfs (rw,nosuid,nodev,noexec)\n",
    ],
)
def test_noexec_neighbours_stay_clean_of_it(tmp_path: Path, text: str) -> None:
    assert _NOEXEC not in _all(tmp_path, text)


def test_the_bare_line_under_a_named_ulimit_is_the_address_space_limit(tmp_path: Path) -> None:
    got = _all(tmp_path, "ulimit -v 16000000\n" + _SO_LINES["inductor-triton"])
    assert "limits.address-space-too-low" in got and _NOEXEC not in got, got


def _facts(env: dict[str, str], *mounts: tuple[str, list[str]]) -> Facts:
    f = Facts()
    f.env.update(env)
    f.mounts.append(MountEntry(source="overlay", target="/", fstype="overlay", options=["rw"]))
    f.mounts.extend(MountEntry(source="tmpfs", target=t, fstype="tmpfs", options=o) for t, o in mounts)
    return f


def test_check_names_a_variable_on_a_noexec_tmpfs_as_a_blocker() -> None:
    facts = _facts({"HOME": "/root", "TRITON_CACHE_DIR": "/tmp/triton"}, ("/tmp", ["rw", "nosuid", "noexec"]))
    got = list(jit_cache_exec(facts, CheckOptions()))
    assert len(got) == 1 and got[0].severity.value == "blocker" and got[0].confidence == "proves"
    assert "/tmp/triton" in got[0].message


def test_check_leaves_a_default_cache_on_a_noexec_tmp_unjudged() -> None:
    # `--tmpfs /tmp` is noexec by default and is what generate writes for oneCCL's sockets (the container matrix
    # runs it as expected clean): only a directory a variable names is judged
    facts = _facts({"HOME": "/root"}, ("/tmp", ["rw", "noexec"]))
    assert list(jit_cache_exec(facts, CheckOptions())) == []
    facts = _facts({"HOME": "/root", "TMPDIR": "/tmp"}, ("/tmp", ["rw", "noexec"]))  # Slurm sets TMPDIR per job
    assert list(jit_cache_exec(facts, CheckOptions())) == []
    facts = _facts({"HOME": "/root", "TORCHINDUCTOR_CACHE_DIR": "/tmp/ind"}, ("/tmp", ["rw", "noexec"]))
    (got,) = jit_cache_exec(facts, CheckOptions())
    assert got.severity.value == "blocker" and "TORCHINDUCTOR_CACHE_DIR" in got.message


@pytest.mark.parametrize(
    "env,mounts",
    [
        ({"HOME": "/root"}, [("/dev/shm", ["rw", "noexec"])]),
        ({"HOME": "/tmp", "TRITON_CACHE_DIR": "/tmp/.triton"}, [("/tmp", ["rw", "nosuid", "nodev"])]),
        ({"TRITON_CACHE_DIR": "/jit/triton", "TORCHINDUCTOR_CACHE_DIR": "/jit/ind"}, [("/tmp", ["rw", "noexec"])]),
    ],
)
def test_check_stays_quiet_on_exec_caches(env: dict[str, str], mounts: list[tuple[str, list[str]]]) -> None:
    assert list(jit_cache_exec(_facts(env, *mounts), CheckOptions())) == []


# --- host.wsl-linux-driver-installed ---------------------------------------------------------------------------------

_NUMBA_NEW = (
    "numba.cuda.cudadrv.error.CudaSupportError: Error at driver init: Call to cuInit results in CUDA_ERROR_NO_DEVICE "
    "(100)\n"
)
_NUMBA_OLD = "numba.cuda.cudadrv.driver.CudaAPIError: [100] Call to cuInit results in CUDA_ERROR_NO_DEVICE\n"
_TF = (
    "2023-10-18 10:12:01.123456: E tensorflow/compiler/xla/stream_executor/cuda/cuda_driver.cc:268] failed call to "
    "cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected\n"
)
_WSL_KERNEL = "Python platform: Linux-5.15.167.4-microsoft-standard-WSL2-x86_64-with-glibc2.35\n"


@pytest.mark.parametrize("line", [_NUMBA_NEW, _NUMBA_OLD, _TF])
def test_no_device_under_wsl2_with_a_linux_libcuda_mapped_proves_it(tmp_path: Path, line: str) -> None:
    text = _WSL_KERNEL + "\tMapped libcuda.so paths:\n\t\t/usr/lib/x86_64-linux-gnu/libcuda.so.545.23.08\n" + line
    got = _findings(tmp_path, text)
    assert got and got[0] == (_WSLDRV, "proves"), got


@pytest.mark.parametrize(
    "install",
    ["$ sudo apt-get install -y cuda-drivers\n", "$ sudo apt install nvidia-driver-535\n",
     "ii  libnvidia-compute-550:amd64   550.120-0ubuntu1   amd64   NVIDIA libcompute package\n"],
)
def test_no_device_under_wsl2_with_a_driver_package_proves_it(tmp_path: Path, install: str) -> None:
    got = _findings(tmp_path, "running in WSL2\n" + install + _NUMBA_NEW)
    assert got and got[0] == (_WSLDRV, "proves"), got


def test_no_device_under_wsl2_alone_suggests_it(tmp_path: Path) -> None:
    got = _findings(tmp_path, _WSL_KERNEL + _NUMBA_NEW)
    assert got and got[0] == (_WSLDRV, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # a Linux host: the versioned libcuda is the driver itself
        "/usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05\n" + _NUMBA_NEW,
        # WSL2 with the WSL library mapped: not shadowed
        _WSL_KERNEL + "\tMapped libcuda.so paths:\n\t\t/usr/lib/wsl/lib/libcuda.so.1.1\n" + _NUMBA_NEW,
        # the CUDA forward-compat library on WSL2 (text-embeddings-inference#870): cuda.forward-compat-unsupported's
        _WSL_KERNEL + "prepends /usr/local/cuda/compat (cuda-compat-12-9, libcuda.so.575.57.08) to LD_LIBRARY_PATH\n"
        + _NUMBA_NEW,
        # another init error under WSL2 beside a Linux libcuda
        _WSL_KERNEL + "/usr/lib/x86_64-linux-gnu/libcuda.so.545.23.08\n"
        "numba.cuda.cudadrv.error.CudaSupportError: Error at driver init: Call to cuInit results in "
        "CUDA_ERROR_OPERATING_SYSTEM (304)\n",
    ],
)
def test_wsl_driver_neighbours_stay_clean_of_it(tmp_path: Path, text: str) -> None:
    assert _WSLDRV not in _all(tmp_path, text)


# --- nvidia.opencl-icd-missing ---------------------------------------------------------------------------------------

_SMI = "| NVIDIA-SMI 550.90.07              Driver Version: 550.90.07      CUDA Version: 12.4     |\n"
_NO_DEVICE = {
    "lightgbm": "[LightGBM] [Fatal] No OpenCL device found\n",
    "lightgbm-python": "lightgbm.basic.LightGBMError: No OpenCL device found\n",
    "boost-terminate": "terminate called after throwing an instance of 'boost::compute::no_device_found'\n"
    "  what():  No OpenCL device found\n",
    "clinfo": "Number of platforms                               0\n",
}


@pytest.mark.parametrize("form", sorted(_NO_DEVICE))
def test_no_opencl_device_beside_a_working_nvidia_smi_suggests_it(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _SMI + _NO_DEVICE[form])
    assert got and got[0] == (_OCL, "suggests"), (form, got)


@pytest.mark.parametrize(
    "shown",
    ["ls: cannot access '/etc/OpenCL/vendors/nvidia.icd': No such file or directory\n",
     "cat: /etc/OpenCL/vendors/nvidia.icd: No such file or directory\n"],
)
def test_the_nvidia_icd_shown_missing_proves_it(tmp_path: Path, shown: str) -> None:
    got = _findings(tmp_path, shown + _NO_DEVICE["lightgbm"])
    assert got and got[0] == (_OCL, "proves"), got


def test_the_vendors_dir_missing_beside_nvidia_smi_proves_it(tmp_path: Path) -> None:
    text = _SMI + "ls: cannot access '/etc/OpenCL/vendors': No such file or directory\n" + _NO_DEVICE["clinfo"]
    assert _findings(tmp_path, text)[0] == (_OCL, "proves")


@pytest.mark.parametrize(
    "text",
    [
        _NO_DEVICE["lightgbm"],  # no GPU named at all: a CPU-only box or wheel
        # an Intel image without any ICD: no NVIDIA driver in the log
        "ls: cannot access '/etc/OpenCL/vendors': No such file or directory\n" + _NO_DEVICE["clinfo"],
        # WSL2: no NVIDIA OpenCL there
        _WSL_KERNEL + _SMI + _NO_DEVICE["lightgbm"],
        # a device found: clinfo's non-zero count
        _SMI + "Number of platforms                               1\n",
    ],
)
def test_opencl_neighbours_stay_clean_of_it(tmp_path: Path, text: str) -> None:
    assert _OCL not in _all(tmp_path, text)
