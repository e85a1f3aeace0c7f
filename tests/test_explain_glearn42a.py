"""Issue 13, heldout42 lessons (glearn42a): the NVIDIA container stack's own words read too eagerly.

Lines are written from the code that prints them (not copied from the heldout42 logs):
- libcuda opened, its own dependency not found: the loader names libnvidia-fatbinaryloader.so.<release> (linked by
  libcuda before driver 440, mounted beside it: libnvidia-container src/nvc_info.c compute_libs), numba's
  DRIVER_LOAD_ERROR_MSG listing each candidate's dlerror -> nvidia.driver-libs-off-library-path, not a missing toolkit;
- OptiX's loader code 7804 (OPTIX_ERROR_LIBRARY_NOT_FOUND) as Blender Cycles (device_optix_init) and the SDK samples
  print it, and a bare "OptiX initialization failed" in a container given a GPU -> the graphics capability;
- a toolkit binary whose dependency exists but is another libc's build ("invalid ELF header", glibc open_verify):
  a packaging conflict (siderolabs/extensions#380), not runtime.nvidia-toolkit-missing;
- the hook's driver helper crashing (audit ANOM_ABEND comm="nvc:[driver]" sig=11, or the kernel's segfault line):
  "driver error: failed to process request" is then the crash (OE4T/tegra-demo-distro#177);
- the toolkit's CDI generator ran and failed ("failed to generate CDI spec: %v"): a later "unresolvable CDI devices"
  does not mean the toolkit is missing (nixpkgs#451912);
- numba's cuInit frame raising under WSL2 with the error line cut off -> host.wsl-linux-driver-installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import notes as _notes

# numba numba/cuda/cudadrv/driver.py DRIVER_LOAD_ERROR_MSG, then '\n'.join(str(e) for e in driver_load_error)
NUMBA_LOAD = (
    "numba.cuda.cudadrv.error.CudaSupportError: Error at driver init: \n"
    "\n"
    "Possible CUDA driver libraries are found but error occurred during load:\n"
    "libcuda.so: cannot open shared object file: No such file or directory\n"
    "/usr/lib/x86_64-linux-gnu/libcuda.so: cannot open shared object file: No such file or directory\n"
    "{dep}\n"
)


@pytest.mark.parametrize(
    "dep",
    [
        "libnvidia-fatbinaryloader.so.418.87.01: cannot open shared object file: No such file or directory",
        "libnvidia-fatbinaryloader.so.396.37: cannot open shared object file: No such file or directory",
    ],
)
def test_libcuda_dependency_not_found_is_off_the_library_path(tmp_path: Path, dep: str) -> None:
    got = _causes(tmp_path, NUMBA_LOAD.format(dep=dep))
    assert got and got[0] == "nvidia.driver-libs-off-library-path"
    assert "runtime.nvidia-toolkit-missing" not in got


HEALTHY_FATBIN = [
    "\tlibnvidia-fatbinaryloader.so.418.87.01 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-fatbinaryloader.so.418.87.01",
    "I0101 00:00:00.000123 4321 nvc_info.c:152] selecting /usr/lib/x86_64-linux-gnu/libnvidia-fatbinaryloader.so.418.87.01",
    "-rwxr-xr-x 1 root root 331704 Jan 1 00:00 /usr/lib/x86_64-linux-gnu/libnvidia-fatbinaryloader.so.418.87.01",
]


def test_libcuda_dependency_in_a_ctypes_oserror_and_its_clean_neighbours(tmp_path: Path) -> None:
    text = "OSError: libnvidia-fatbinaryloader.so.410.79: cannot open shared object file: No such file or directory\n"
    assert _causes(tmp_path, text) == ["nvidia.driver-libs-off-library-path"]
    # libcuda itself missing keeps its own reading
    text = (
        "Possible CUDA driver libraries are found but error occurred during load:\n"
        "libcuda.so.1: cannot open shared object file: No such file or directory\n"
    )
    assert "nvidia.driver-libs-off-library-path" not in _causes(tmp_path, text)
    # the library named in healthy listings (ldconfig -p, nvidia-container-cli --debug, ls)
    for line in HEALTHY_FATBIN:
        assert _causes(tmp_path, line + "\n") == []


@pytest.mark.parametrize(
    "line",
    [
        # Blender Cycles intern/cycles/device/optix/device.cpp (VLOG, glog prefix)
        "I1107 10:12:01.123456 4242 device.cpp:57] OptiX initialization failed with error code 7804",
        "OptiX initialization failed with error code 7804",
        # OptiX SDK-style sample: "OptiX initialization failed with code: " << optixRes
        "OptiX initialization failed with code: 7804",
    ],
)
def test_optix_library_not_found_code_names_the_graphics_capability(tmp_path: Path, line: str) -> None:
    got = _causes(tmp_path, line + "\n")
    assert got and got[0] == "nvidia.driver-capabilities-missing"
    # other codes: 7805 (entry symbol not found) and the ABI check are a driver older than the SDK
    for other in (line.replace("7804", "7805"), "OptiX initialization failed because driver does not support ABI version 87"):
        assert "nvidia.driver-capabilities-missing" not in _causes(tmp_path, other + "\n")


BARE_OPTIX = [
    "OptiX initialization failed.",
    "Unknown OptixResult code: Compatible device(s) not found / OptiX not initialized.",
]


@pytest.mark.parametrize("line", BARE_OPTIX)
def test_bare_optix_failure_in_a_gpu_container_names_the_graphics_capability(tmp_path: Path, line: str) -> None:
    text = "$ docker run --rm -it --gpus all myrender:latest python render.py\n" + line + "\n"
    assert _causes(tmp_path, text) == ["nvidia.driver-capabilities-missing"]
    text = "ENV NVIDIA_VISIBLE_DEVICES=all\n" + line + "\n"
    assert _causes(tmp_path, text) == ["nvidia.driver-capabilities-missing"]
    # outside a container, or with the graphics capability given: no cause
    assert _causes(tmp_path, line + "\n") == []
    text = (
        "docker run --rm --gpus all -e NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics myrender python r.py\n"
        + line
        + "\n"
    )
    assert "nvidia.driver-capabilities-missing" not in _causes(tmp_path, text)
    text = "docker run --rm --gpus all -e NVIDIA_DRIVER_CAPABILITIES=all myrender python r.py\n" + line + "\n"
    assert "nvidia.driver-capabilities-missing" not in _causes(tmp_path, text)


HOOK = (
    "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime "
    "create failed: runc create failed: unable to start container process: error during container init: error running "
    "hook #0: error running hook: exit status 127, stdout: , stderr: {stderr}: unknown."
)


@pytest.mark.parametrize(
    "stderr",
    [
        "/usr/bin/nvidia-container-cli: error while loading shared libraries: /usr/lib/libtirpc.so.3: invalid ELF header",
        "nvidia-container-cli: error while loading shared libraries: /usr/local/lib/libc.so: invalid ELF header",
        "nvidia-container-cli: error while loading shared libraries: /usr/lib/libtirpc.so.3: wrong ELF class: ELFCLASS32",
    ],
)
def test_toolkit_binary_with_a_foreign_library_is_not_a_missing_toolkit(tmp_path: Path, stderr: str) -> None:
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, HOOK.format(stderr=stderr) + "\n")
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, stderr + "\n")
    # the same binary missing a library still names the partly installed toolkit
    for missing in ("libnvidia-container.so.1", "libtirpc.so.3"):
        head = stderr.split(": error while loading shared libraries: ")[0]
        gone = f"{head}: error while loading shared libraries: {missing}: cannot open shared object file: No such file or directory"
        assert _causes(tmp_path, HOOK.format(stderr=gone) + "\n")[0] == "runtime.nvidia-toolkit-missing"


DRIVER_RPC = HOOK.replace("exit status 127", "exit status 1").format(
    stderr="nvidia-container-cli: initialization error: driver error: failed to process request"
)


@pytest.mark.parametrize(
    "crash",
    [
        # kernel/auditsc.c audit_core_dumps (ANOM_ABEND), the helper named by prctl(PR_SET_NAME, "nvc:[driver]")
        'audit: type=1701 audit(1700000000.123:41): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=5123 comm="nvc:[driver]" exe="/usr/bin/nvidia-container-cli" sig=11',
        'audit: type=1701 audit(1700000000.123:41): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=5123 comm="nvc:[driver]" exe="/usr/bin/nvidia-container-cli" sig=11 res=1',
        # arch/x86/mm/fault.c show_signal_msg
        "[  812.345678] nvc:[driver][5123]: segfault at 0 ip 00007f1e2a3b4c5d sp 00007ffd1a2b3c40 error 4 in libnvidia-container.so.1.7.0[7f1e2a390000+40000]",
    ],
)
def test_driver_rpc_failure_after_the_helper_crashed_is_not_a_missing_toolkit(tmp_path: Path, crash: str) -> None:
    text = crash + "\n" + DRIVER_RPC + "\n"
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, text)
    assert any("nvc:[driver]" in n for n in _notes(tmp_path, text))
    # without the crash (or with the helper only named by an Xid line) the reading stays
    assert _causes(tmp_path, DRIVER_RPC + "\n")[0] == "runtime.nvidia-toolkit-missing"
    # the helper named in an Xid line is not a crash of it
    text = "NVRM: Xid (PCI:0000:01:00): 79, pid=5123, name=nvc:[driver], GPU has fallen off the bus.\n" + DRIVER_RPC + "\n"
    assert "runtime.nvidia-toolkit-missing" in _causes(tmp_path, text)


UNRESOLVABLE = "docker: Error response from daemon: CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=all"


@pytest.mark.parametrize(
    "gen",
    [
        # cmd/nvidia-ctk/cdi/generate/generate.go run: fmt.Errorf("failed to generate CDI spec: %v", err)
        "nvidia-ctk[812]: time=\"2025-10-12T08:01:02Z\" level=error msg=\"failed to generate CDI spec: failed to create device CDI specs: failed to initialize NVML: Driver Not Loaded\"",
        "ERRO[0000] failed to generate CDI spec: failed to create device CDI specs: failed to initialize NVML: Driver Not Loaded",
    ],
)
def test_cdi_generator_that_ran_and_failed_is_not_a_missing_toolkit(tmp_path: Path, gen: str) -> None:
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, gen + "\n" + UNRESOLVABLE + "\n")
    # the engine's line alone still names the toolkit
    assert _causes(tmp_path, UNRESOLVABLE + "\n") == ["runtime.nvidia-toolkit-missing"]


NUMBA_CUINIT = (
    "CudaAPIError                              Traceback (most recent call last)\n"
    "~/miniconda3/envs/rapids/lib/python3.8/site-packages/numba/cuda/cudadrv/driver.py in initialize(self)\n"
    "    235         try:\n"
    "    236             _logger.info('init')\n"
    "--> 237             self.cuInit(0)\n"
    "    238         except CudaAPIError as e:\n"
)


@pytest.mark.parametrize(
    "where",
    [
        "I installed RAPIDS on WSL2 (Ubuntu 20.04); cuDF works but numba does not.\n",
        "Running under Windows Subsystem for Linux, Ubuntu 22.04.\n",
    ],
)
def test_numba_cuinit_raising_under_wsl_names_the_linux_driver(tmp_path: Path, where: str) -> None:
    assert _causes(tmp_path, where + NUMBA_CUINIT) == ["host.wsl-linux-driver-installed"]
    plain = where + '  File "/opt/conda/lib/python3.10/site-packages/numba/cuda/cudadrv/driver.py", line 293, in initialize\n    self.cuInit(0)\n'
    assert _causes(tmp_path, plain) == ["host.wsl-linux-driver-installed"]
    # outside WSL2 the frame alone names nothing
    assert _causes(tmp_path, NUMBA_CUINIT) == []



# cmd/nvidia-ctk/cdi/generate/generate.go ("failed to generate CDI spec: %v") around pkg/nvcdi/lib-nvml.go
# ("failed to create device CDI specs: ...", "failed to initialize NVML: %v" with go-nvml's code name)
CTK_NVML = "ERRO[0000] failed to generate CDI spec: failed to create device CDI specs: failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND"


def test_ctk_generate_without_nvml_under_a_driver_container_is_the_driver_root(tmp_path: Path) -> None:
    text = (
        "$ sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml\n"
        + CTK_NVML
        + "\n$ ls /run/nvidia/driver/usr/lib64/libnvidia-ml.so.1\n/run/nvidia/driver/usr/lib64/libnvidia-ml.so.1\n"
    )
    got = _causes(tmp_path, text)
    assert got and got[0] == "nvidia.toolkit-driver-root-wrong"
    assert "runtime.nvidia-toolkit-missing" not in got


def test_ctk_generate_without_nvml_is_not_a_missing_toolkit(tmp_path: Path) -> None:
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, CTK_NVML + "\n")
    # the device plugin's own NVML failure keeps its reading
    plugin = "E0101 00:00:00.000000       1 factory.go:77] Failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND.\n"
    assert _causes(tmp_path, plugin)[0] == "runtime.nvidia-toolkit-missing"
