"""Intel's current multi-GPU stack as explain reads it (issue #13, gxccl).

Lines come from two kinds of source, cited next to each test:
- oneCCL's v2 loader (libccl.so.2 of the oneccl 2021.17.2 / 2022.2.0 wheels on PyPI), whose lines were PRINTED here by
  calling onecclGetVersion()/onecclGetUniqueId() through ctypes on this GPU-less machine (docs/explain.md, "gxccl",
  gives the command); those blocks are copied verbatim, timestamps and pids included;
- format strings read in upstream code (pytorch, the Level Zero loader, Unified Runtime, vLLM, SGLang) or, for the
  oneCCL 2022.x sources that are not public, in the strings of the wheel's libccl.so.1 grouped by source file.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tpdoctor.explain import explain
from tpdoctor.explain.correlate import diagnose
from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base


def _findings(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    """(cause, confidence) above notice, first cause first."""
    log = tmp_path / "xpu.log"
    log.write_text(text + "\n")
    return [(f.cause, f.confidence) for f in explain([str(log)]).findings if f.severity.value != "notice"]


def _signatures(text: str) -> set[str]:
    scanner = Scanner(knowledge_base())
    scanner.scan_stream(io.BytesIO((text + "\n").encode()), "t.log")
    return set(scanner.result.signatures)


# Printed by oneccl 2022.2.0's libccl.so.2 with libsycl and the UR Level Zero adapter on the library path and no GPU
# (LD_LIBRARY_PATH=<wheel lib>:<intel-sycl-rt 2026.2 lib>... python3 -c 'ctypes ... onecclGetVersion()').
V2_NO_GPU = """\
2026-12-02 04:39:54:(7218) |ERROR| [__safe_call_impl:53] [init_library_without_override] caught std::exception: No device of requested type available. Please check https://software.intel.com/content/www/us/en/develop/articles/intel-oneapi-dpcpp-system-requirements.html
  [oneCCL ERROR Stacktrace]:
  [oneCCL ERROR Stacktrace End]
2026-12-02 04:39:54:(7218) |ERROR| [init_library_without_override:360] oneCCL could not be initialized! Could not load any plugin. Please rerun with `CCL_LOG_LEVEL=info`.
  ONECCL_LEGACY: platform evaluation failed
  ONECCL_LEGACY_CPU: skipped, conflicts with a loaded plugin
  dlopen(libccl_null.so): libccl_null.so: cannot open shared object file: No such file or directory
  [oneCCL ERROR Stacktrace]:
  [oneCCL ERROR Stacktrace End]"""

# The same wheel without libsycl on the library path (only the wheel's lib directory).
V2_NO_SYCL = """\
2026-12-02 04:41:51:(12845) |ERROR| [init_library_without_override:360] oneCCL could not be initialized! Could not load any plugin. Please rerun with `CCL_LOG_LEVEL=info`.
  dlopen(/opt/venv/lib/libccl_legacy.so): libsycl.so.9: cannot open shared object file: No such file or directory
  dlopen(libccl_legacy.so): libsycl.so.9: cannot open shared object file: No such file or directory
  dlopen(libexternal_Soneccl_Slibccl_Ulegacy.so): libexternal_Soneccl_Slibccl_Ulegacy.so: cannot open shared object file: No such file or directory
  dlopen(/opt/venv/lib/libccl_legacy_cpu.so): libsycl.so.9: cannot open shared object file: No such file or directory
  dlopen(libccl_legacy_cpu.so): libsycl.so.9: cannot open shared object file: No such file or directory
  dlopen(libccl_null.so): libccl_null.so: cannot open shared object file: No such file or directory
  [oneCCL ERROR Stacktrace]:
  [oneCCL ERROR Stacktrace End]"""

# oneccl 2021.17.2's libccl.so.2 at the default log level prints no reasons under the summary (no GPU here too).
V2_2021_17 = """\
2026-12-02 04:39:53:(7155) |ERROR| [init_library_without_override:258] oneCCL could not be initialized! Could not load any plugin. Please rerun with `CCL_LOG_LEVEL=info`.
  [oneCCL ERROR Stacktrace]:
  [oneCCL ERROR Stacktrace End]"""


def test_v2_loader_without_gpu_names_the_render_node(tmp_path: Path) -> None:
    found = _findings(tmp_path, V2_NO_GPU)
    assert found[0] == ("device.render-node-missing", "suggests")
    # the GPU was the problem, not the library path: the no-plugin line's second cause must not come first
    assert found[0][0] != "oneccl.env-not-sourced"
    assert {"oneccl.v2-platform-evaluation-failed", "oneccl.v2-no-plugin"} <= _signatures(V2_NO_GPU)


def test_v2_loader_without_sycl_names_the_library_path_only(tmp_path: Path) -> None:
    found = _findings(tmp_path, V2_NO_SYCL)
    assert found[0] == ("oneccl.env-not-sourced", "suggests")
    # correlation oneccl-v2-no-plugin-is-library-path: no render-node guess next to a library that cannot be opened
    assert "device.render-node-missing" not in [c for c, _ in found]
    # libccl_null.so is never shipped: its dlopen line is in every summary and must not be a cause of its own
    assert _findings(tmp_path, "  dlopen(libccl_null.so): libccl_null.so: cannot open shared object file: No such file or directory") == []


def test_v2_loader_summary_alone_is_a_downstream_guess(tmp_path: Path) -> None:
    found = _findings(tmp_path, V2_2021_17)
    assert found[0] == ("device.render-node-missing", "suggests")
    assert all(conf == "suggests" for _, conf in found)  # a summary without its reasons proves nothing


def test_v2_ccl_plugin_override_failing_is_the_variable(tmp_path: Path) -> None:
    # libccl.so.2 strings: "oneCCL could not initialize plugin provided in CCL_PLUGIN.%s"
    line = "2026-12-02 05:00:00:(42) |ERROR| [init_library_with_override:230] oneCCL could not initialize plugin provided in CCL_PLUGIN."
    assert _findings(tmp_path, line)[0] == ("env.invalid-value", "suggests")


# oneCCL 2022.x src/common/api_wrapper/api_wrapper.cpp, CCL_THROW_IF_NOT as "<file>:<line> <fn>: EXCEPTION: <text>"
def test_requested_transport_library(tmp_path: Path) -> None:
    line = "oneCCL: api_wrapper.cpp:42 api_wrappers_init: EXCEPTION: could not initialize the requested transport library"
    assert _findings(tmp_path, line)[0] == ("oneccl.env-not-sourced", "suggests")


# oneCCL 2021.17+/2022.x src/exec/thread/base_thread.cpp: "pthread_attr_setaffinity_np failed with error: " << ret
def test_worker_attr_affinity(tmp_path: Path) -> None:
    line = "2026:12:02-05:00:00:(  42) |CCL_ERROR| base_thread.cpp:44 start: EXCEPTION: pthread_attr_setaffinity_np failed with error: 22"
    assert _findings(tmp_path, line)[0] == ("oneccl.worker-affinity", "suggests")


# oneCCL 2022.x src/comm/comm.cpp init_ipc_exchange_mode
def test_fabric_handle_type_needs_ipc_exchange_none(tmp_path: Path) -> None:
    line = "oneCCL: comm.cpp:318 init_ipc_exchange_mode: EXCEPTION: ipc exchange mode must set to 'none' if fabric handle type is used"
    assert _findings(tmp_path, line)[0] == ("env.invalid-value", "proves")


def test_ipc_handle_with_properties_is_the_image(tmp_path: Path) -> None:
    line = "oneCCL: comm.cpp:312 init_ipc_exchange_mode: EXCEPTION: level-zero runtime does not support ipc handle with properties, aborting"
    assert "oneccl.ipc-handle-properties-unsupported" in _signatures(line)
    assert _findings(tmp_path, line) == []  # root not-container: the image's Level Zero runtime is too old


# uxlfoundation/oneCCL src/atl/ofi/atl_ofi_helper.cpp setup_shared_memory: LOG_ERROR("Failed to open shared memory
# file: ", strerror(errno)) / LOG_ERROR("Non-root rank failed to open shared memory file: ", strerror(errno))
@pytest.mark.parametrize(
    "line",
    [
        "|CCL_ERROR| atl_ofi_helper.cpp:1423 setup_shared_memory: Failed to open shared memory file: Read-only file system",
        "|CCL_ERROR| atl_ofi_helper.cpp:1448 setup_shared_memory: Non-root rank failed to open shared memory file: Permission denied",
    ],
)
def test_ofi_endpoint_file_in_dev_shm_refused(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line)[0] == ("shm.not-writable", "proves")


def test_ofi_endpoint_file_other_errno_is_not_shm_not_writable(tmp_path: Path) -> None:
    line = "|CCL_ERROR| atl_ofi_helper.cpp:1448 setup_shared_memory: Non-root rank failed to open shared memory file: No such file or directory"
    assert "oneccl.ofi-shm-file-denied" not in _signatures(line)
    # the same words from another program (no oneCCL function prefix) are not oneCCL's /dev/shm file
    assert "oneccl.ofi-shm-file-denied" not in _signatures("pulse: Failed to open shared memory file: Permission denied")


def test_occp_hostname(tmp_path: Path) -> None:
    line = "|CCL_ERROR| atl_ofi.cpp:120 resolve_hostname_to_ip: Could not resolve OCCP server hostname to IP"
    assert _findings(tmp_path, line)[0] == ("network.wrong-interface", "suggests")


# oneapi-src/level-zero source/loader/ze_loader.cpp context_t::init: debug_trace_message("0 Drivers Discovered")
# ("ZE_LOADER_DEBUG_TRACE:" prefix) and zel_logger->log_error; pytorch c10/xpu "No XPU devices are available."
def test_zero_level_zero_drivers_is_the_image_not_the_node(tmp_path: Path) -> None:
    text = "ZE_LOADER_DEBUG_TRACE:0 Drivers Discovered\nRuntimeError: No XPU devices are available."
    causes = [c for c, _ in _findings(tmp_path, text)]
    assert "device.render-node-missing" not in causes
    assert "device.group-denied" not in causes
    # without the loader line the same torch error keeps its render-node guess (the correlation is what drops it)
    assert "device.render-node-missing" in [c for c, _ in _findings(tmp_path, "RuntimeError: No XPU devices are available.")]


def test_driver_count_is_read_whole(tmp_path: Path) -> None:
    assert "ze-loader.zero-drivers" not in _signatures("ZE_LOADER_DEBUG_TRACE:10 Drivers Discovered")
    assert "ze-loader.zero-drivers" in _signatures("[ze_loader] [error] 0 Drivers Discovered")


# intel/llvm unified-runtime adapters/level_zero (DPC++ 2026.2 libur_adapter_level_zero.so strings)
def test_level_zero_loader_too_old_is_the_image(tmp_path: Path) -> None:
    line = "ERROR: Level Zero Loader version older than 1.8.0 is not supported (current version: 1.3.0). Please update Intel GPU compute drivers."
    assert "ur.level-zero-loader-too-old" in _signatures(line)
    assert _findings(tmp_path, line) == []


# unified-runtime source/common/ur_util.cpp ur_duplicate_fd: logger::error("__NR_pidfd_open") /
# logger::error("__NR_pidfd_getfd"); adapters/level_zero usm.cpp: UR_LOG(ERR, "duplicating file descriptor from IPC
# handle failed"); UR's logger prints "<LEVEL_ZERO>[ERROR]: <message>"
@pytest.mark.parametrize(
    "line", ["<LEVEL_ZERO>[ERROR]: duplicating file descriptor from IPC handle failed", "<LEVEL_ZERO>[ERROR]: __NR_pidfd_getfd"]
)
def test_ur_ipc_fd_duplicate(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line)[0] == ("oneccl.pidfd-ptrace-denied", "suggests")


def test_ur_ipc_pidfd_open(tmp_path: Path) -> None:
    assert _findings(tmp_path, "<LEVEL_ZERO>[ERROR]: __NR_pidfd_open")[0] == (
        "topology.ranks-split-across-containers",
        "suggests",
    )
    # the syscall name inside other text is not the UR log line
    assert "ur.ipc-pidfd-open-failed" not in _signatures("checking __NR_pidfd_open support")


# vllm/platforms/xpu.py get_device_communicator_cls (2026): "xccl is not enabled in this torch build; multi-XPU
# communication is not available."
def test_vllm_xccl_missing_is_the_wheel(tmp_path: Path) -> None:
    line = "WARNING 09-01 10:00:00 [xpu.py:512] xccl is not enabled in this torch build; multi-XPU communication is not available."
    assert "vllm.xpu-xccl-unavailable" in _signatures(line)
    assert _findings(tmp_path, line) == []


# sgl-project/sglang python/sglang/srt/utils.py get_device: raise RuntimeError("No accelerator (CUDA, XPU, HPU) is
# available.") and its later forms with NPU, MUSA, MPS
@pytest.mark.parametrize(
    "line",
    [
        "RuntimeError: No accelerator (CUDA, XPU, HPU) is available.",
        "RuntimeError: No accelerator (CUDA, XPU, HPU, NPU) is available.",
        "RuntimeError: No accelerator (CUDA, XPU, HPU, NPU, MUSA, MPS) is available.",
    ],
)
def test_sglang_no_accelerator(tmp_path: Path, line: str) -> None:
    found = _findings(tmp_path, line)
    assert found and found[0][1] == "suggests"
    assert found[0][0] in {"device.nvidia-node-missing", "runtime.nvidia-toolkit-missing", "device.kfd-missing", "device.render-node-missing"}


def test_sglang_no_accelerator_with_xpu_count_zero_is_benign(tmp_path: Path) -> None:
    # torch/xpu/__init__.py device_count warning "XPU device count is zero!" next to it: the image's SYCL libraries
    text = (
        "/usr/local/lib/python3.12/site-packages/torch/xpu/__init__.py:60: UserWarning: XPU device count is zero! "
        "(Triggered internally at /pytorch/c10/xpu/XPUFunctions.cpp:115.)\n"
        "RuntimeError: No accelerator (CUDA, XPU, HPU) is available."
    )
    assert "sglang.get-device-no-accelerator" in _signatures(text)
    assert [c for c, _ in _findings(tmp_path, text)] == []


# pytorch/pytorch torch/csrc/distributed/c10d/ProcessGroupXCCL.cpp @6c648cdb WorkXCCL::synchronizeInternal
def test_xccl_work_ran_for_timeout(tmp_path: Path) -> None:
    line = "RuntimeError: Work ran for 1800042 milliseconds before timing out."
    assert "xccl.work-ran-timeout" in _signatures(line)
    assert _findings(tmp_path, line)[0] == ("oneccl.bypath-missing", "suggests")


def test_nccl_watchdog_is_not_the_xccl_timeout() -> None:
    line = (
        "[Rank 0] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1, OpType=ALLREDUCE, NumelIn=1, "
        "NumelOut=1, Timeout(ms)=600000) ran for 600123 milliseconds before timing out."
    )
    assert "xccl.work-ran-timeout" not in _signatures(line)


# intel/intel-device-plugins-for-kubernetes cmd/gpu_plugin/gpu_plugin.go: klog.Warningf("failed to read by-path dir:
# %+v", err) with Go's "open /dev/dri/by-path: no such file or directory"
PLUGIN_BYPATH = "W0615 10:00:00.000000       1 gpu_plugin.go:257] failed to read by-path dir: open /dev/dri/by-path: no such file or directory"


def test_device_plugin_without_bypath_alone_is_a_note(tmp_path: Path) -> None:
    assert "intel-gpu-plugin.bypath-unreadable" in _signatures(PLUGIN_BYPATH)
    assert _findings(tmp_path, PLUGIN_BYPATH) == []


def test_device_plugin_without_bypath_then_oneccl_fails(tmp_path: Path) -> None:
    # oneCCL src/common/global/ze/ze_fd_manager.cpp init_device_fds (CCL_THROW): the pod's oneCCL then fails
    text = PLUGIN_BYPATH + "\nRuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: could not open device directory"
    assert _findings(tmp_path, text)[0][0] == "oneccl.bypath-missing"


# Unified Runtime include/ur_api.h v0.12-r0 (intel-sycl-rt 2026.2.0): graph-capture codes 72-77, new since @9fdd9d9.
# SYCL prints "UR error: <name>" / "... failed with error: <number> (<name>)"; all are program errors, not containers.
@pytest.mark.parametrize(
    ("name", "number"),
    [("UR_RESULT_ERROR_GRAPH_CAPTURE_UNSUPPORTED", 72), ("UR_RESULT_ERROR_GRAPH_INTERNAL_EVENT", 77)],
)
def test_new_ur_graph_codes_are_classified(tmp_path: Path, name: str, number: int) -> None:
    line = f"RuntimeError: level_zero backend failed with error: {number} ({name})"
    scanner = Scanner(knowledge_base())
    scanner.scan_stream(io.BytesIO((line + "\n").encode()), "t.log")
    codes = [c.code.name for c in diagnose(scanner.result, knowledge_base()).codes]
    assert name in codes
    assert _findings(tmp_path, line) == []


# A healthy TP=2 start of the same stack: vLLM's XPU env auto-configuration (vllm/platforms/xpu_env.py
# configure_ccl_env: "Set CCL env %s=%s"; xpu_utils.py Battlemage workaround), the v2 loader's INFO lines at
# CCL_LOG_LEVEL=info as printed here by oneccl 2022.2.0 (the same run minus its no-GPU failure lines; the wheel's path
# shortened to /opt/venv/lib; libccl_null.so is never shipped), oneCCL's "pidfd exchange mode is verified
# successfully" / "auto ipc mode is selected" (2022.2.0 strings of src/comm/comm.cpp) and its 2022.x topology warnings
# (topo_manager.cpp: unknown device family, PCIe-only with the CCL_TOPO_FABRIC_VERTEX_CONNECTION_CHECK hint). Nothing
# above notice.
HEALTHY = """\
INFO 09-01 10:00:00 [xpu_env.py:40] No XeLink indicators found; assuming PCIe topology.
INFO 09-01 10:00:00 [xpu_env.py:80] Set CCL env CCL_ATL_TRANSPORT=ofi
INFO 09-01 10:00:00 [xpu_env.py:80] Set CCL env FI_PROVIDER=shm
INFO 09-01 10:00:00 [xpu_env.py:80] Set CCL env CCL_TOPO_FABRIC_VERTEX_CONNECTION_CHECK=0
INFO 09-01 10:00:00 [xpu_env.py:80] Set CCL env CCL_ZE_IPC_EXCHANGE=sockets
INFO 09-01 10:00:00 [xpu_utils.py:50] XPU platform: detected multi-GPU Intel Battlemage/Xe2 setup; setting CCL_ZE_CACHE_OPEN_IPC_HANDLES=0.
INFO 09-01 10:00:00 [xpu.py:420] XPU platform: set server shutdown_timeout=5.
2026-12-02 04:39:48:(7061) |INFO| [init_library_without_override:269] Proceeding without CCL_PLUGIN override.
2026-12-02 04:39:49:(7061) |INFO| [load_plugin:158] Loaded plugin library: /opt/venv/lib/libccl_legacy.so
2026-12-02 04:39:49:(7061) |INFO| [init_library_without_override:296] Failed to load plugin type: ONECCL_LEGACY_CPU due to conflicts with previously loaded plugins.
2026-12-02 04:39:49:(7061) |INFO| [load_plugin:152] Cannot open plugin library: libccl_null.so: cannot open shared object file: No such file or directory
2026-12-02 04:39:49:(7061) |INFO| [init_library_without_override:314] Failed to load plugin, type: ONECCL_NULL
2026:12:02-04:39:50:(7061) |CCL_INFO| pidfd exchange mode is verified successfully
2026:12:02-04:39:50:(7061) |CCL_INFO| auto ipc mode is selected
WARNING 09-01 10:00:00 [xpu_env.py:55] Failed to query XPU device properties for interconnect detection; defaulting to PCIe topology.
2026:12:02-04:39:50:(7061) |CCL_WARN| device_family is unknown, topology discovery could be incorrect, it might result in suboptimal performance
2026:12:02-04:39:50:(7061) |CCL_WARN| topology recognition shows PCIe connection between devices. If this is not correct, you can disable topology recognition, with CCL_TOPO_FABRIC_VERTEX_CONNECTION_CHECK=0. This will assume XeLinks across devices
INFO 09-01 10:00:10 [parallel_state.py:1200] rank 0 in world size 2 is assigned as DP rank 0, PP rank 0, TP rank 0
"""


def test_healthy_xpu_start_is_clean(tmp_path: Path) -> None:
    assert _findings(tmp_path, HEALTHY) == []


# libccl.so.2 load_plugin: "Cannot open plugin library: %s" (dlerror); the summary's "  dlopen(<name>): <dlerror>"
def test_v2_plugin_itself_missing_is_the_library_path(tmp_path: Path) -> None:
    text = (
        "2026-12-02 05:10:00:(42) |ERROR| [init_library_without_override:360] oneCCL could not be initialized! Could not load any plugin. Please rerun with `CCL_LOG_LEVEL=info`.\n"
        "  dlopen(libccl_legacy.so): libccl_legacy.so: cannot open shared object file: No such file or directory\n"
        "  dlopen(libccl_null.so): libccl_null.so: cannot open shared object file: No such file or directory"
    )
    found = _findings(tmp_path, text)
    assert found[0] == ("oneccl.env-not-sourced", "suggests")
    assert "oneccl.v2-plugin-library-missing" in _signatures(text)


def test_v2_plugin_name_retried_in_a_healthy_run_is_benign(tmp_path: Path) -> None:
    # at info level a name that fails before the next one loads, with no failure after it
    text = (
        "2026-12-02 05:10:00:(42) |INFO| [load_plugin:152] Cannot open plugin library: libccl_legacy.so: cannot open shared object file: No such file or directory\n"
        "2026-12-02 05:10:00:(42) |INFO| [load_plugin:158] Loaded plugin library: /opt/venv/lib/libccl_legacy.so"
    )
    assert "oneccl.v2-plugin-library-missing" in _signatures(text)
    assert _findings(tmp_path, text) == []
    assert "oneccl.v2-plugin-library-missing" not in _signatures("  dlopen(libccl_null.so): libccl_null.so: cannot open shared object file")
