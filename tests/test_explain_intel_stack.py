"""Intel's current GPU stack as explain reads it (issue #13, gintel).

Every line is written from the upstream format string cited next to it (compute-runtime, the Level Zero loader,
intel/llvm SYCL, Unified Runtime's loader, oneCCL's environment parser, torch/vLLM XPU, the Linux i915/xe drivers,
xpu-smi, intel_gpu_top); docs/explain-inventory-intel.md lists the versions read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain
from tpdoctor.explain.fallback import layer_of


def _findings(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    """(cause, confidence) above notice, first cause first."""
    log = tmp_path / "intel.log"
    log.write_text(text + "\n")
    return [(f.cause, f.confidence) for f in explain([str(log)]).findings if f.severity.value != "notice"]


# intel/compute-runtime shared/source/os_interface/linux/drm_neo.cpp Drm::setupHardwareInfo:
# "WARNING: Small BAR detected for device %s\n" (25.18-25.44) / "WARNING: Resizable BAR not detected for device %s\n"
# (25.48+); pytorch c10/xpu/XPUFunctions.cpp "No XPU devices are available." after it.
@pytest.mark.parametrize(
    "warning",
    ["WARNING: Small BAR detected for device 0000:03:00.0", "WARNING: Resizable BAR not detected for device 0000:83:00.0"],
)
def test_small_bar_then_no_device_proves_resizable_bar(tmp_path: Path, warning: str) -> None:
    text = f"{warning}\nTraceback (most recent call last):\nRuntimeError: No XPU devices are available."
    assert _findings(tmp_path, text)[0] == ("xpu.resizable-bar-disabled", "proves")


def test_small_bar_alone_is_a_note(tmp_path: Path) -> None:
    # on the i915 path compute-runtime keeps the device (isSmallBarConfigAllowed() true): not a failure by itself
    assert _findings(tmp_path, "WARNING: Small BAR detected for device 0000:03:00.0") == []
    # a Level Zero error after it keeps it as a guess
    text = "WARNING: Small BAR detected for device 0000:03:00.0\nzeInit failed: ZE_RESULT_ERROR_UNINITIALIZED"
    assert ("xpu.resizable-bar-disabled", "suggests") in _findings(tmp_path, text)


def test_small_bar_pattern_needs_the_device_clause(tmp_path: Path) -> None:
    assert _findings(tmp_path, "Small BAR detected") == []


# oneCCL src/common/env/env_parser.hpp enum_by_str: CCL_THROW(env_name, ": unexpected value: ", str,
# ", expected values: ", expected_values), wrapped by CCL_THROW as "oneCCL: <file>:<line> <function>: EXCEPTION: ..."
@pytest.mark.parametrize(
    "line",
    [
        "RuntimeError: oneCCL: env_parser.hpp:115 enum_by_str: EXCEPTION: CCL_ZE_IPC_EXCHANGE: unexpected value: socket, expected values: none, drmfd, pidfd, sockets",
        "  what():  oneCCL: env.hpp:473 enum_by_str: EXCEPTION: CCL_ATL_TRANSPORT: unexpected value: ofi2, expected values: mpi, ofi",
        "oneCCL: env_parser.hpp:49 env_2_type: EXCEPTION: CCL_ATL_SHM: unexpected value: yes, expected values: 0, 1",
    ],
)
def test_oneccl_refused_env_value_proves_invalid_value(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line)[0] == ("env.invalid-value", "proves")


# intel/llvm sycl/source/detail/device_filter.cpp Parse_ONEAPI_DEVICE_SELECTOR / Parse_ODS_Device and
# oneapi-src/unified-runtime source/loader/ur_lib.cpp urDeviceGetSelected
@pytest.mark.parametrize(
    "line",
    [
        "  what():  Incomplete selector!  Try 'level_zero:*' if all devices under the backend was original intention.",
        "terminate called after throwing an instance of 'sycl::_V1::exception' what():  Incomplete selector! Backend and device must be specified.",
        'RuntimeError: Error parsing selector string "level_zero:gpu:0"  Too many colons (:)',
        "RuntimeError: error parsing device number: xpu0",
        "what():  error parsing sub-device index: a",
        "what():  sub-devices can only be requested when parent device is specified by number or wildcard, not a device type like 'gpu'",
        "what():  All negative(discarding) filters must appear after all positive(accepting) filters!",
        "<LOADER>[ERROR]: ERROR: could not parse ONEAPI_DEVICE_SELECTOR string",
        "<LOADER>[ERROR]: ERROR: missing backend, format of filter = '[!]backend:filterStrings'",
        "<LOADER>[ERROR]: too many dots in filterString, format of filterString = 'root[.sub[.subsub]]'",
        "<LOADER>[ERROR]: invalid wildcard in filterString, '*.' => '*.*'",
        'what():  ONEAPI_DEVICE_SELECTOR parsing error. Backend is required but missing from "0"',
        "what():  ONEAPI_DEVICE_SELECTOR parsing error. Empty input before ',' delimiter is not allowed.",
    ],
)
def test_device_selector_syntax_proves_invalid_value(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line)[0] == ("env.invalid-value", "proves")


def test_oneccl_pidfd_fallback_then_hang_suggests_pidfd(tmp_path: Path) -> None:
    # oneCCL src/comm/comm.cpp (2021.14+): CCL_WARN "pidfd is not supported, fallbacks to drmfd exchange mode"
    warn = "2025:03:01-10:00:00:(  532) |CCL_WARN| pidfd is not supported, fallbacks to drmfd exchange mode"
    assert _findings(tmp_path, warn) == []
    hang = f"{warn}\nThe two ranks then hang in init_process_group and never return."
    assert _findings(tmp_path, hang)[0] == ("oneccl.pidfd-unsupported", "suggests")
    # torch ProcessGroupXCCL's watchdog text ("Work timed out after N milliseconds") after the fallback
    timeout = f"{warn}\n[rank0]: RuntimeError: Work timed out after 600000 milliseconds"
    assert ("oneccl.pidfd-unsupported", "suggests") in _findings(tmp_path, timeout)


def test_loader_without_compute_runtime_is_not_a_container_cause(tmp_path: Path) -> None:
    # oneapi-src/level-zero source/loader/ze_loader.cpp init_driver: "init driver " + name + " failed, Load Library
    # of " + name + " failed with " + dlerror(), after the "ZE_LOADER_DEBUG_TRACE:" prefix
    text = (
        "ZE_LOADER_DEBUG_TRACE:init driver libze_intel_gpu.so.1 failed, Load Library of libze_intel_gpu.so.1 failed "
        "with libze_intel_gpu.so.1: cannot open shared object file: No such file or directory\n"
        "RuntimeError: No XPU devices are available."
    )
    assert _findings(tmp_path, text) == []
    # without that line the same error keeps its container guesses
    assert _findings(tmp_path, "RuntimeError: No XPU devices are available.")[0][0] == "device.render-node-missing"


@pytest.mark.parametrize(
    "line",
    [
        # drivers/gpu/drm/i915/i915_pci.c i915_pci_probe
        "[    3.104] i915 0000:03:00.0: Your graphics device 56a0 is not properly supported by i915 in this kernel version. To force driver probe anyway, use i915.force_probe=56a0 module parameter or CONFIG_DRM_I915_FORCE_PROBE=56a0 configuration option, or (recommended) check for kernel updates.",
        # drivers/gpu/drm/xe/xe_pci.c xe_pci_probe (its dev_info wraps across lines)
        "[183989.512652] xe 0000:00:02.0: Your graphics device a780 is not officially supported",
        "                by xe driver in this kernel version. To force Xe probe,",
    ],
)
def test_kernel_force_probe_suggests_no_driver(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line) == [("device.no-driver", "suggests")]


def test_other_not_officially_supported_text_is_not_a_kernel_gate(tmp_path: Path) -> None:
    assert _findings(tmp_path, "WARNING 05-01 [config.py:400] Model architecture X is not officially supported") == []


def test_vllm_xpu_device_index_out_of_range(tmp_path: Path) -> None:
    # vllm/platforms/xpu.py get_mem_info_wrapper: f"Invalid device index {device}, must be in range [0, {device_count})"
    assert _findings(tmp_path, "ValueError: Invalid device index 1, must be in range [0, 1)")[0] == (
        "xpu.visible-devices-mismatch",
        "suggests",
    )


@pytest.mark.parametrize(
    "line",
    [
        # torch/xpu/__init__.py _lazy_init
        "AssertionError: Torch not compiled with XPU enabled",
        "RuntimeError: Cannot re-initialize XPU in forked subprocess. To use XPU with multiprocessing, you must use the 'spawn' start method",
        # vllm/platforms/xpu.py get_device_communicator_cls
        "WARNING 06-01 10:00:00 [xpu.py:300] xccl is not enabled in this torch build, communication is not available.",
        # compute-runtime IoctlHelper::writeCcsMode: no effect on serving (intel_gpu_top's refused PMU is
        # capability.perfmon-missing since gnew48: tests/test_explain_gnew48.py; a GPU without the PMU stays clean)
        "No read and write permissions for /sys/class/drm/card1/device/tile0/gt0/ccs_mode, System administrator needs to grant permissions to allow modification of this file from user space",
        "Failed to initialize PMU! (No such file or directory)",
        # c10 DeviceGuardImplInterface.h; torch < 2.4 without IPEX; IPEX's and transformers' version checks
        "RuntimeError: PyTorch is not linked with support for xpu devices",
        "AttributeError: module 'torch' has no attribute 'xpu'",
        "ERROR! Intel® Extension for PyTorch* needs to work with PyTorch 2.8.*, but PyTorch 2.6.0+cu124 is found. Please switch to the matching version and run again.",
        "UserWarning: Intel Extension for PyTorch 2.1 needs to work with PyTorch 2.1.*, but PyTorch 2.3.0 is found. Please switch to the matching version and run again.",
    ],
)
def test_not_container_or_harmless_lines_stay_clean(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line) == []


def test_xpu_smi_no_device_discovered(tmp_path: Path) -> None:
    # intel/xpumanager cli comlet_discovery.cpp showBasicInfo: out << "No device discovered" << std::endl
    assert _findings(tmp_path, "$ xpu-smi discovery\nNo device discovered")[0] == (
        "device.render-node-missing",
        "suggests",
    )
    assert _findings(tmp_path, "No device discovered yet, retrying in 5 s") == []


@pytest.mark.parametrize(
    "line",
    [
        "Abort was called at 291 line in file:",
        "ZE_LOADER_DEBUG_TRACE:ze_lib Context Init() Loader Init Failed with ZE_RESULT_ERROR_UNINITIALIZED",
        "zeInit returned an error",
    ],
)
def test_compute_runtime_and_loader_lines_belong_to_level_zero(line: str) -> None:
    assert layer_of(line) == "Level Zero/SYCL"


def test_xccl_set_device_failed(tmp_path: Path) -> None:
    # intel/torch-xpu-ops src/xccl/ProcessGroupXCCL.cpp: "xccl: onecclSetDevice(", index, ") failed"
    assert _findings(tmp_path, "RuntimeError: xccl: onecclSetDevice(1) failed")[0] == (
        "xpu.visible-devices-mismatch",
        "suggests",
    )


def test_ray_intel_selector_without_level_zero_prefix(tmp_path: Path) -> None:
    # ray python/ray/_private/accelerators/intel_gpu.py: the traceback through the split of "level_zero:"
    text = (
        'File "/usr/local/lib/python3.10/site-packages/ray/_private/accelerators/intel_gpu.py", line 41, in '
        "get_current_process_visible_accelerator_ids\n"
        '    return list(oneapi_visible_devices.split(prefix)[1].split(","))\n'
        "IndexError: list index out of range"
    )
    assert _findings(tmp_path, text)[0] == ("env.invalid-value", "suggests")


def test_bypath_absent_counts_only_when_oneccl_fails_or_hangs(tmp_path: Path) -> None:
    ls = "ls: cannot access '/dev/dri/by-path': No such file or directory"
    assert _findings(tmp_path, ls) == []
    assert _findings(tmp_path, f"{ls}\nvLLM with TP=2 hangs at startup")[0] == ("oneccl.bypath-missing", "suggests")


def test_oneccl_mnic_filter_without_provider(tmp_path: Path) -> None:
    # oneCCL src/atl/ofi/atl_ofi_helper.cpp atl_ofi_open_nw_provs LOG_ERROR
    line = (
        "2025:01:01-00:00:00:(  100) |CCL_ERROR| atl_ofi_helper.cpp:1269 atl_ofi_open_nw_provs: name filter: can not "
        "find network providers, include names: mlx5_0, exclude names: "
    )
    assert _findings(tmp_path, line)[0] == ("env.invalid-value", "suggests")


def test_mpich_shm_allocation_failure(tmp_path: Path) -> None:
    # pmodels/mpich "**alloc_shar_mem" -> "unable to allocate shared memory" in the "FUNC(LINE)....: text" stack
    text = (
        "Abort(1091343) on node 0: Fatal error in internal_Init_thread: Other MPI error, error stack:\n"
        "MPIR_Init_thread(193)........:\n"
        "MPIDU_Init_shm_init(179).............: unable to allocate shared memory"
    )
    assert _findings(tmp_path, text)[0] == ("shm.too-small", "suggests")


@pytest.mark.parametrize(
    "line",
    [
        # openvino src/plugins/intel_gpu/src/plugin/plugin.cpp Plugin::get_property
        "Check '!m_device_map.empty()' failed at src/plugins/intel_gpu/src/plugin/plugin.cpp:528:",
        "[GPU] Can't get PERFORMANCE_HINT property as no supported devices found or an error happened during devices query.",
        # llama.cpp ggml-sycl.cpp ggml_sycl_init: "%s: found %d SYCL devices:\n"
        "ggml_sycl_init: found 0 SYCL devices:",
    ],
)
def test_openvino_and_llamacpp_see_no_intel_gpu(tmp_path: Path, line: str) -> None:
    found = _findings(tmp_path, line)
    if "m_device_map" in line:
        assert found == []  # the assert's location alone says nothing
    else:
        assert found[0] == ("device.render-node-missing", "suggests")


def test_llamacpp_with_devices_is_healthy(tmp_path: Path) -> None:
    assert _findings(tmp_path, "ggml_sycl_init: found 10 SYCL devices:") == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # i915 intel_uc_fw.c (6.x, %pe) and xe xe_uc_fw.c uc_fw_request (%d)
        ("i915 0000:03:00.0: [drm] *ERROR* GT0: GuC firmware i915/dg2_guc_70.bin: fetch failed -ENOENT", ["device.no-driver"]),
        ("xe 0000:03:00.0: [drm] GuC firmware xe/bmg_guc_70.bin: fetch failed with error -2", ["device.no-driver"]),
        # a missing HuC only costs media decode: not a compute failure
        ("i915 0000:00:02.0: [drm] HuC firmware i915/tgl_huc.bin: fetch failed with error -2", []),
    ],
)
def test_host_guc_firmware_missing(tmp_path: Path, line: str, expected: list[str]) -> None:
    assert [cause for cause, _ in _findings(tmp_path, line)] == expected


LISTING = "crw-rw---- 1 root render 226, 128 Jan  1 00:00 renderD128\n"


@pytest.mark.parametrize(
    ("id_line", "first"),
    [
        # coreutils id: every group named, none render/video, non-root
        ("uid=1000(ubuntu) gid=1000(ubuntu) groups=1000(ubuntu),27(sudo)", "device.group-denied"),
        # the user has the render group, or a bare GID (possibly the host's render GID), or is root
        ("uid=1000(ubuntu) gid=1000(ubuntu) groups=1000(ubuntu),109(render)", "device.render-node-missing"),
        ("uid=1000(ubuntu) gid=1000(ubuntu) groups=1000(ubuntu),110", "device.render-node-missing"),
        ("uid=0(root) gid=0(root) groups=0(root)", "device.render-node-missing"),
    ],
)
def test_no_xpu_with_node_listed_and_user_outside_its_group(tmp_path: Path, id_line: str, first: str) -> None:
    text = f"$ id\n{id_line}\n$ ls -l /dev/dri\n{LISTING}RuntimeError: No XPU devices are available."
    assert _findings(tmp_path, text)[0][0] == first


def test_affinity_mask_beyond_the_render_nodes_passed(tmp_path: Path) -> None:
    # Level Zero numbers the root devices it can open from 0; two render nodes passed -> indices 0..1
    cmd = "$ docker run --rm --device /dev/dri/renderD128 --device /dev/dri/renderD129 -e ZE_AFFINITY_MASK={} img\n"
    err = "RuntimeError: No XPU devices are available."
    assert _findings(tmp_path, cmd.format("2,3") + err)[0] == ("xpu.visible-devices-mismatch", "suggests")
    assert _findings(tmp_path, cmd.format("0.0,1") + err)[0][0] == "device.render-node-missing"


def test_no_xpu_in_a_container_started_without_dri(tmp_path: Path) -> None:
    # the quoted command (explain/differential.py no_gpu) selects the cause for Intel's own "no device" words
    log = tmp_path / "cmd.log"
    log.write_text("$ docker run --rm -it intel/vllm:latest\nggml_sycl_init: found 0 SYCL devices:\n")
    first = explain([str(log)]).findings[0]
    assert (first.cause, first.confidence) == ("device.render-node-missing", "suggests")
    assert "started without /dev/dri" in first.message


def test_tp_larger_than_the_affinity_mask_leaves(tmp_path: Path) -> None:
    # c10/xpu check_device: "device is out of range, device is N, total number of device is M."
    text = (
        "export ZE_AFFINITY_MASK=0\n"
        "vllm serve /models/qwen --tensor-parallel-size 2\n"
        "RuntimeError: device is out of range, device is 1, total number of device is 1."
    )
    assert _findings(tmp_path, text)[0] == ("vllm.tp-exceeds-visible-gpus", "suggests")
    # the mask leaves enough devices: the differential does not pick the TP size
    wide = text.replace("ZE_AFFINITY_MASK=0", "ZE_AFFINITY_MASK=0,1")
    assert _findings(tmp_path, wide)[0][0] != "vllm.tp-exceeds-visible-gpus"
