"""Issue 13, gnew33c: cause ids for container/host causes heldout33's collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- nvidia.profiling-restricted: Nsight Compute's '==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to
  access NVIDIA GPU Performance Counters on the target device %d.' and nvprof's '==%d== Warning: ERR_NVGPUCTRPERM - The
  user does not have permission to profile on the target device.' (NVIDIA's ERR_NVGPUCTRPERM page); CUPTI's result
  name for code 35 (cupti_result.h CUPTI_ERROR_INSUFFICIENT_PRIVILEGES, returned by cuptiGetResultString) as XLA's
  cupti tracer ('function %s failed with error %s'), kineto's CUPTI_CALL ('function {} failed with error {} ({})') and
  CUPTI.jl ('CUPTIError: %s (code %d, %s)') print it; DCGM's DCGM_ST_REQUIRES_ROOT string 'Host engine is running as
  non-root' (dcgmlib/src/dcgm_errors.c) under dcgm-exporter's 'Failed to watch metrics: Error watching fields: %s';
  dcgm-exporter's entrypoint warning 'dcgm-exporter doesn't have sufficient privileges to expose profiling metrics.'
- runtime.visible-devices-env-ignored: nvidia-container-toolkit internal/config/image/cuda_image.go VisibleDevices
  ('Ignoring devices requested by environment variable(s) in unprivileged container: %v', v1.18+),
  internal/modifier/cdi.go ('Ignoring devices specified in NVIDIA_VISIBLE_DEVICES: %v', v1.14-1.17) and the legacy
  hook's 'Ignoring devices specified in NVIDIA_VISIBLE_DEVICES (privileged=%v, %v=%v) '.
- nvidia.cc-ready-state-unset: nvidia-smi conf-compute -grs 'Confidential Compute GPUs Ready state: %s' (ready /
  not-ready) and -q's 'CC GPUs Ready State : Not Ready'; -f's 'CC status: ON'; nvtrust's local GPU verifier
  (cc_admin.py: '\tSetting the GPU Ready State to {ready_str}', '\tGPU Ready state is already {ready_str}'); CUDA's
  802 as torch's c10 prints it ('... Error 802: system not yet initialized').
- device.nvidia-fs-missing: cufile.h's cufileop_status_error strings (5001 'nvidia-fs driver is not loaded', 5010
  'nvidia-fs driver ioctl error', 5030 'internal error') under kvikio's CUFILE_TRY ('cuFile error at: %s:%d: %s') and
  CUDA.jl's CUFILEError; fastsafetensors' init_gds ('init_gds: cuFileDriverOpen returned an error = %d').
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from explain_helpers import notes as _notes

_PROF = "nvidia.profiling-restricted"
_ENV = "runtime.visible-devices-env-ignored"
_CC = "nvidia.cc-ready-state-unset"
_FM = "nvidia.fabric-manager-not-running"
_GDS = "device.nvidia-fs-missing"

_TORCH_802 = (
    "/usr/local/lib/python3.10/dist-packages/torch/cuda/__init__.py:128: UserWarning: CUDA initialization: Unexpected "
    "error from cudaGetDeviceCount(). Did you run some cuda functions before calling NumCudaDevices() that might have "
    "already set an error? Error 802: system not yet initialized (Triggered internally at "
    "../c10/cuda/CUDAFunctions.cpp:108.)\n"
    "  return torch._C._cuda_getDeviceCount() > 0\n"
)


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "nvprof.gpu-counters-permission", "cupti.insufficient-privileges", "dcgm.host-engine-non-root",
        "dcgm-exporter.profiling-privileges-warning", "nvidia-smi.cc-ready-state-not-ready",
        "nvtrust.gpu-ready-state-not-ready", "cufile.nvidia-fs-not-loaded", "cufile.driver-internal-error",
        "fastsafetensors.cufile-driver-open-failed", "cc-mode-on", "cc-ready-state-named", "cc-not-ready-cuda-failed",
        "cc-mode-cuda-failed", "cc-ready-named-cuda-failed", "cc-not-ready-not-fabric-manager",
        "cc-mode-not-fabric-manager", "cc-ready-named-not-fabric-manager", "envvar-ignored-not-mask",
    ):
        assert sid in got, sid


# --- nvidia.profiling-restricted ----------------------------------------------------------------------------------

_PROF_PROVES = {
    # Nsight Compute (ncu) as a profiled process ends
    "ncu": (
        "==PROF== Connected to process 4242 (/usr/bin/python3.10)\n"
        "==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU Performance Counters on "
        "the target device 0. For instructions on enabling permissions and to get more information see "
        "https://developer.nvidia.com/ERR_NVGPUCTRPERM\n"
        "==PROF== Disconnected from process 4242\n"
        "==WARNING== No kernels were profiled.\n"
    ),
    # nvprof (CUDA <= 11), NVIDIA/nvidia-docker#1041
    "nvprof": (
        "==1423== NVPROF is profiling process 1423, command: ./matrixMul\n"
        "==1423== Warning: ERR_NVGPUCTRPERM - The user does not have permission to profile on the target device. See "
        "the following link for instructions to enable permissions and get more information: "
        "https://developer.nvidia.com/ERR_NVGPUCTRPERM\n"
    ),
    # TensorFlow / JAX (XLA's cupti tracer), openxla/xprof#63
    "xla-cupti-tracer": (
        "2024-03-01 10:00:00.000000: E external/local_xla/xla/backends/profiler/gpu/cupti_error_manager.cc:201] "
        "function cupti_interface_->Subscribe( &subscriber_, (CUpti_CallbackFunc)ApiCallback, this)failed with error "
        "CUPTI_ERROR_INSUFFICIENT_PRIVILEGES\n"
    ),
    # torch.profiler through kineto's CUPTI_CALL
    "kineto": (
        "WARNING:2024-03-01 10:00:00 1234:1234 CuptiActivityApi.cpp:77] function "
        "cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) failed with error "
        "CUPTI_ERROR_INSUFFICIENT_PRIVILEGES (35)\n"
    ),
    # CUPTI.jl's showerror
    "cupti-jl": "ERROR: CUPTIError: insufficient privileges (code 35, CUPTI_ERROR_INSUFFICIENT_PRIVILEGES)\n",
}


@pytest.mark.parametrize("form", sorted(_PROF_PROVES))
def test_a_profiler_refused_the_counters_proves_the_restriction(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _PROF_PROVES[form])
    assert got and got[0] == (_PROF, "proves"), (form, got)


def test_dcgm_refusing_a_watch_suggests_the_restriction(tmp_path: Path) -> None:
    text = (
        'time="2024-10-25T06:12:40Z" level=info msg="Starting dcgm-exporter"\n'
        'time="2024-10-25T06:12:40Z" level=fatal msg="Failed to watch metrics: Error watching fields: Host engine is '
        'running as non-root"\n'
    )
    got = _findings(tmp_path, text)
    assert got and got[0] == (_PROF, "suggests"), got
    # the exporter's own start-up warning, then the refused watch: the same reading
    warned = (
        "Warning #2: dcgm-exporter doesn't have sufficient privileges to expose profiling metrics. To get profiling "
        "metrics with dcgm-exporter, use --cap-add SYS_ADMIN\n" + text
    )
    assert _findings(tmp_path, warned)[0] == (_PROF, "suggests")


_PROF_CLEAN = {
    # CUPTI's code 40: the hypervisor forbids profiling a vGPU (not the driver's counter restriction)
    "cupti-vgpu-40": (
        "function cupti_interface_->Subscribe( &subscriber_, (CUpti_CallbackFunc)ApiCallback, this)failed with error "
        "CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES\n"
    ),
    # the embedded engine refusing to start as non-root (sdk_samples 'Error starting embedded DCGM engine. Return: %s'):
    # glearn24a's neighbour, no watch of profiling fields refused
    "embedded-engine-start": "Error starting embedded DCGM engine. Return: Host engine is running as non-root\n",
    # nv-hostengine's own start-up notice as a user (main.cpp): a notice, no failure
    "hostengine-notice": "nv-hostengine running as non-root. Some functionality will be limited.\n",
    # an admin setting refused: the GPU-admin cause, not the counters
    "nvidia-smi-power-limit": (
        "Changing power management limit is not supported in current scope for GPU: 00000000:3B:00.0.\n"
        "Failed to set power management limit for GPU 00000000:3B:00.0: Insufficient Permissions\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_PROF_CLEAN))
def test_other_privileges_are_not_the_restriction(tmp_path: Path, form: str) -> None:
    assert _PROF not in _all(tmp_path, _PROF_CLEAN[form]), form
    # the other direction: ncu's refusal is it
    assert _findings(tmp_path, _PROF_PROVES["ncu"])[0][0] == _PROF


_EXPORTER_WARNING = (
    "Warning #2: dcgm-exporter doesn't have sufficient privileges to expose profiling metrics. To get profiling "
    "metrics with dcgm-exporter, use --cap-add SYS_ADMIN\n"
    'time="2024-11-30T07:41:51Z" level=info msg="DCGM successfully initialized!"\n'
)


def test_the_exporters_warning_is_a_note_beside_another_failure(tmp_path: Path) -> None:
    # glearn48a (heldout48, dcgm-exporter#427): alone, the missing profiling metrics are what the log is about (suggests);
    # beside another failure of the exporter (gpu-monitoring-tools#134's MIG SIGABRT) the warning is a note
    assert _findings(tmp_path, _EXPORTER_WARNING)[0] == (_PROF, "suggests")
    crashed = _EXPORTER_WARNING + "SIGABRT: abort\nPC=0x7fef53b6b18b m=0 sigcode=18446744073709551610\n"
    assert _PROF not in _all(tmp_path, crashed)
    notes = _notes(tmp_path, crashed)
    assert any("leaves out the profiling" in n for n in notes), notes


# --- runtime.visible-devices-env-ignored --------------------------------------------------------------------------

_ENV_FORMS = {
    # toolkit v1.18+ (logrus through the runtime)
    "v1.18-runtime": (
        'time="2025-06-01T10:00:00Z" level=warning msg="Ignoring devices requested by environment variable(s) in '
        'unprivileged container: [NVIDIA_VISIBLE_DEVICES]"\n'
    ),
    # v1.14-1.17 CDI modifier
    "v1.17-cdi-modifier": "Ignoring devices specified in NVIDIA_VISIBLE_DEVICES: [all]\n",
    # the legacy hook's log.Printf
    "legacy-hook": (
        "2024/03/01 10:00:00 Ignoring devices specified in NVIDIA_VISIBLE_DEVICES (privileged=false, "
        "accept-nvidia-visible-devices-envvar-when-unprivileged=false) \n"
    ),
    # then the container finds no GPU: the variable was refused, not a wrong mask
    "then-no-gpu": (
        'time="2025-06-01T10:00:00Z" level=warning msg="Ignoring devices requested by environment variable(s) in '
        'unprivileged container: [NVIDIA_VISIBLE_DEVICES]"\n'
        "RuntimeError: No CUDA GPUs are available\n"
    ),
}


@pytest.mark.parametrize("form", sorted(_ENV_FORMS))
def test_the_toolkit_ignoring_the_variable_names_the_refused_request(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _ENV_FORMS[form])
    assert got and got[0] == (_ENV, "suggests"), (form, got)


def test_the_mask_is_not_blamed_when_the_variable_was_ignored(tmp_path: Path) -> None:
    got = [c for c, _ in _findings(tmp_path, _ENV_FORMS["then-no-gpu"])]
    assert got[0] == _ENV and "cuda.visible-devices-mismatch" not in got, got


def test_the_imex_twin_and_a_plain_no_gpu_stay_theirs(tmp_path: Path) -> None:
    imex = (
        'level=warning msg="Ignoring request by environment variable(s) in unprivileged container: '
        '[NVIDIA_IMEX_CHANNELS]"\n'
    )
    assert _findings(tmp_path, imex)[0][0] == "nccl.imex-channel-missing"
    assert _ENV not in _all(tmp_path, imex)
    assert _ENV not in _all(tmp_path, "RuntimeError: No CUDA GPUs are available\n")
    assert _findings(tmp_path, _ENV_FORMS["v1.18-runtime"])[0][0] == _ENV


# --- nvidia.cc-ready-state-unset ----------------------------------------------------------------------------------

_CC_FORMS = {
    # nvidia-smi conf-compute -grs, then torch's 802: the ready state proves it
    "grs-not-ready-then-802": (
        "$ nvidia-smi conf-compute -grs\nConfidential Compute GPUs Ready state: not-ready\n" + _TORCH_802,
        "proves",
    ),
    # nvidia-smi -q's CC block
    "q-not-ready-then-802": ("    CC GPUs Ready State              : Not Ready\n" + _TORCH_802, "proves"),
    # the state alone
    "grs-not-ready-alone": ("Confidential Compute GPUs Ready state: not-ready\n", "suggests"),
    # CC mode on (conf-compute -f) and 802
    "cc-status-on-then-802": ("$ nvidia-smi conf-compute -f\nCC status: ON\n" + _TORCH_802, "suggests"),
    # nvtrust's gpu_cc_tool / nvidia_gpu_tools.py switched CC mode on, then 802
    "cc-mode-set-on-then-802": (
        "2024-05-09,03:02:58.413 INFO     GPU 0000:43:00.0 H100-SXM 0x2330 BAR0 0xab042000000 CC mode set to on. It "
        "will be active after GPU reset.\n" + _TORCH_802,
        "suggests",
    ),
    # the thread names the ready state as the fix (NVIDIA/nvtrust#56's answer), beside 802
    "srs-named-then-802": (
        _TORCH_802 + "You should execute `nvidia-smi conf-compute -srs 1` before you run python code.\n",
        "suggests",
    ),
    # nvtrust's local verifier after a failed attestation
    "verifier-not-ready": (
        "GPU Attestation failed.\n\tSetting the GPU Ready State to NOT READY\n",
        "suggests",
    ),
    "verifier-already-not-ready": ("\tGPU Ready state is already NOT READY\n", "suggests"),
}


@pytest.mark.parametrize("form", sorted(_CC_FORMS))
def test_a_cc_gpu_not_ready_names_the_ready_state(tmp_path: Path, form: str) -> None:
    text, strength = _CC_FORMS[form]
    got = _findings(tmp_path, text)
    assert got and got[0] == (_CC, strength), (form, got)
    if "802" in form:
        assert _FM not in [c for c, _ in got], (form, got)


_CC_CLEAN = {
    # 802 alone: the Fabric Manager keeps it
    "802-alone": _TORCH_802,
    # a GPU that is ready, and CC status OFF
    "ready": "Confidential Compute GPUs Ready state: ready\nCC status: OFF\n",
    # the verifier's success
    "verifier-ready": "\tSetting the GPU Ready State to READY\nGPU Attestation is Successful.\n",
    # CUPTI's confidential-computing refusal is a profiler's, not CUDA's
    "cupti-cc": "function cuptiSubscribe failed with error CUPTI_ERROR_CONFIDENTIAL_COMPUTING_NOT_SUPPORTED (41)\n",
    # CC status: ON on a healthy run
    "cc-on-healthy": "CC status: ON\nCC Environment: PRODUCTION\nConfidential Compute GPUs Ready state: ready\n",
}


@pytest.mark.parametrize("form", sorted(_CC_CLEAN))
def test_a_ready_gpu_or_a_bare_802_is_not_the_ready_state(tmp_path: Path, form: str) -> None:
    assert _CC not in _all(tmp_path, _CC_CLEAN[form]), form
    # the other direction: not-ready with 802 is it
    assert _findings(tmp_path, _CC_FORMS["grs-not-ready-then-802"][0])[0][0] == _CC


def test_a_bare_802_stays_the_fabric_manager(tmp_path: Path) -> None:
    assert _findings(tmp_path, _CC_CLEAN["802-alone"])[0][0] == _FM
    assert _findings(tmp_path, _CC_FORMS["cc-status-on-then-802"][0])[0][0] == _CC


# --- device.nvidia-fs-missing -------------------------------------------------------------------------------------

_GDS_FORMS = {
    # kvikio's CUFILE_TRY in a container without /run/udev (rapidsai/kvikio#33)
    "kvikio-internal-error": (
        "KvikIO config: \n  Compatibility mode: disabled\n"
        "terminate called after throwing an instance of 'kvikio::CUfileException'\n"
        "  what():  cuFile error at: /home/u/kvikio/cpp/include/kvikio/file_handle.hpp:117: internal error\n"
        "Aborted (core dumped)\n"
    ),
    # the Python binding's RuntimeError for CU_FILE_DRIVER_NOT_INITIALIZED
    "kvikio-driver-not-loaded": (
        "RuntimeError: cuFile error at: /opt/conda/include/kvikio/shim/cufile.hpp:98: nvidia-fs driver is not loaded\n"
    ),
    "kvikio-ioctl-error": (
        "RuntimeError: cuFile error at: /opt/conda/include/kvikio/file_handle.hpp:211: nvidia-fs driver ioctl error\n"
    ),
    # CUDA.jl's CUFILEError
    "cuda-jl": "ERROR: CUFILEError: nvidia-fs driver is not loaded (code 5001, CU_FILE_DRIVER_NOT_INITIALIZED)\n",
    # fastsafetensors under vLLM (foundation-model-stack/fastsafetensors#102)
    "fastsafetensors": "init_gds: cuFileDriverOpen returned an error = 5001\n",
}


@pytest.mark.parametrize("form", sorted(_GDS_FORMS))
def test_cufile_failing_in_its_driver_layer_names_the_nvidia_fs_devices(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _GDS_FORMS[form])
    assert got and got[0] == (_GDS, "suggests"), (form, got)


_GDS_CLEAN = {
    # a pip listing with the cuFile wheel
    "pip-cufile-wheel": "[pip3] nvidia-cufile-cu12==1.13.1.3\n",
    # kvikio's config banner in compatibility mode, a healthy read
    "kvikio-compat-banner": "KvikIO config: \n  Compatibility mode: enabled\n  Nthreads: 1\n",
    # another cuFile error: a device pointer not registered is the application's
    "kvikio-pointer": "RuntimeError: cuFile error at: /opt/conda/include/kvikio/file_handle.hpp:211: invalid device pointer\n",
}


@pytest.mark.parametrize("form", sorted(_GDS_CLEAN))
def test_the_cufile_wheel_compat_mode_and_app_errors_are_not_missing_devices(tmp_path: Path, form: str) -> None:
    assert _GDS not in _all(tmp_path, _GDS_CLEAN[form]), form
    # the other direction: kvikio's internal error is it
    assert _findings(tmp_path, _GDS_FORMS["kvikio-internal-error"])[0][0] == _GDS
