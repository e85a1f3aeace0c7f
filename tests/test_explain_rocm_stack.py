"""AMD's ROCm stack as explain reads it (issue #13, gamd): HIP, HSA/libhsakmt, rocminfo, amd-smi, RCCL, the AMD
container toolkit and device plugin, Ollama and vLLM's ROCm detection.

Every line is written from the upstream format string named next to it (docs/explain-inventory-rocm.md lists
the versions read). A form that maps to a cause must rank it first; a form with no container cause (a GPU the
ROCm release does not support, a host kernel error) must leave the log clean.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain
from tpdoctor.explain.error_codes import by_name, lookup_number

FIRST_CAUSE = [
    # ROCR-Runtime amd_topology.cpp:148 (gnew11: the host driver older than the image's ROCm, now an id)
    ("HSA Error:  Incompatible kernel and userspace, Vega 20 disabled. Upgrade amdgpu.", "rocm.driver-too-old"),
    # pytorch c10/hip (hipified C10_CUDA_CHECK) after hipSetDevice past the count
    ("RuntimeError: HIP error: invalid device ordinal", "rocm.visible-devices-mismatch"),
    ("torch.AcceleratorError: HIP error: invalid device ordinal", "rocm.visible-devices-mismatch"),
    # ROCR-Runtime libhsakmt/src/fmm.c:2798 pr_err("Failed to set mem policy for GPU [0x%x]\n", gpu_id)
    ("Failed to set mem policy for GPU [0x6b0d]", "device.render-node-missing"),
    # libhsakmt/src/fmm.c:2103 pr_info("Check user is in \"video\" group\n") after EACCES on a render node
    ('Check user is in "video" group', "device.group-denied"),
    # rocminfo.cc CheckInitialState: printf("%sROCk module is NOT live, possibly no GPU devices%s\n", ...)
    ("ROCk module is NOT live, possibly no GPU devices", "device.no-driver"),
    # amdsmi_cli amdsmi_commands.py logging.error(...)
    (
        "ERROR:root:Unable to get devices, driver not initialized (amdgpu not found in modules)",
        "device.no-driver",
    ),
    (
        "ERROR:root:Unable to detect any GPU devices, check amdgpu version and module status (sudo modprobe amdgpu)",
        "device.render-node-missing",
    ),
    # k8s-device-plugin internal/pkg/amdgpu/amdgpu.go glog.Warningf("amdgpu driver unavailable: %s", err)
    (
        "W1201 10:00:00.000000       1 amdgpu.go:90] amdgpu driver unavailable: stat /sys/module/amdgpu/drivers/: "
        "no such file or directory",
        "device.no-driver",
    ),
    # container-toolkit internal/runtime/runtime.go fmt.Errorf("update OCI spec (add GPU devices): %w", err)
    (
        'time=2025-01-01T00:00:00.000Z level=ERROR msg="Failed to run container runtime" '
        'error="update OCI spec (add GPU devices): stat /dev/kfd: no such file or directory"',
        "device.host-node-absent",
    ),
    # container-toolkit internal/gpu-tracker/gpu-tracker.go:761 slog.Warn("Ignoring GPUs as they are invalid", ...)
    (
        'time=2025-06-01T10:00:00.000Z level=WARN msg="Ignoring GPUs as they are invalid" gpus="[4 5]"',
        "rocm.visible-devices-mismatch",
    ),
    ("bash: amd-ctk: command not found", "runtime.amd-toolkit-missing"),
    # kubevirt device-plugin-manager dpm/plugin.go:157-158 (vendored by the AMD device plugin)
    (
        "E1201 10:00:00.000000       1 plugin.go:158] gpu: Make sure that the DevicePlugins feature gate is enabled "
        "and kubelet running",
        "k8s.gpu-resource-unavailable",
    ),
    # ollama discover/amd_linux.go verifyKFDDriverAccess: fs.ErrPermission is EACCES or EPERM; the errno decides
    (
        'level=ERROR source=amd_linux.go:402 msg="amdgpu devices detected but permission problems block access: '
        "permissions not set up properly.  Either run ollama as root, or add you user account to the render group. "
        'open /dev/kfd: operation not permitted"',
        "device.cgroup-denied",
    ),
    (
        'level=ERROR source=amd_linux.go:402 msg="amdgpu devices detected but permission problems block access: '
        'permissions not set up properly.  Either run ollama as root, or add you user account to the render group."',
        "device.group-denied",
    ),
    # vllm/platforms/__init__.py rocm_platform_plugin logger.debug(...)
    (
        "DEBUG 05-29 01:16:05 [__init__.py:113] ROCm platform is not available because no GPU is found.",
        "device.render-node-missing",
    ),
]

CLEAN = [
    # c10 device_count_impl on ROCm < 5.4: hipGetDeviceCount returned hipErrorInvalidDevice because the runtime
    # did not start (hipamd HIP_INIT); an old ROCm without the GPU's target prints exactly this
    "/home/u/.local/lib/python3.8/site-packages/torch/cuda/__init__.py:88: UserWarning: HIP initialization: "
    "Unexpected error from hipGetDeviceCount(). Did you run some cuda functions before calling NumHipDevices() that "
    "might have already set an error? Error 101: hipErrorInvalidDevice (Triggered internally at "
    "../c10/hip/HIPFunctions.cpp:110.)",
    # the same with the HIP string instead of the name
    "RuntimeError: Unexpected error from hipGetDeviceCount(). Did you run some cuda functions before calling "
    "NumHipDevices() that might have already set an error? Error 101: invalid device ordinal",
    # (a HIP sample's CHECK line 'error: ''%s''(%d) at %s:%d' now names the no-GPU causes as guesses: grocm7,
    # tests/test_explain_grocm7.py; with an "Unsupported HSA device" line it stays clean there)
    # rocminfo.cc:1251 with a kernel-side errno
    "Unable to open /dev/kfd read-write: Invalid argument",
    "Unable to open /dev/kfd read-write: Cannot allocate memory",
    # rocminfo.cc:1276 (no login name inside a container)
    "Failed to get user name to check for render group membership",
    # clr rocdevice.cpp:703 at AMD_LOG_LEVEL>=1
    ":1:rocdevice.cpp            :703 : 0151340546 us: [pid:1 tid:0x7f] Unsupported HSA device gfx1100 "
    "(PCI ID 744c) for ISA amdgcn-amd-amdhsa--gfx1100",
    # ollama amd_linux.go: unsupported gfx target, then no GPU
    'level=WARN source=amd_linux.go:296 msg="amdgpu is not supported (supported types:[gfx1030 gfx1100])" '
    "gpu_type=gfx1031 gpu=0 library=/usr/lib/ollama",
    'level=INFO source=amd_linux.go:361 msg="no compatible amdgpu devices detected"',
    # rocBLAS tensile_host.cpp (ROCBLAS_TENSILE_SEPARATE_ARCH)
    "rocBLAS error: Cannot read /opt/rocm-6.4.0/lib/rocblas/library/TensileLibrary.dat: No such file or directory "
    "for GPU arch : gfx906",
]


def _causes(tmp_path: Path, text: str) -> list[str]:
    log = tmp_path / "x.log"
    log.write_text(text + "\n")
    return [f.cause for f in explain([str(log)]).findings if f.severity.value != "notice"]


@pytest.mark.parametrize(("line", "cause"), FIRST_CAUSE)
def test_rocm_form_names_its_cause_first(tmp_path: Path, line: str, cause: str) -> None:
    assert _causes(tmp_path, line)[:1] == [cause]


@pytest.mark.parametrize("line", CLEAN)
def test_rocm_form_without_container_cause_stays_clean(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line) == []


def test_hipified_warning_number_is_not_read_as_cuda() -> None:
    # c10's warning keeps "cuda functions" in its prose; the code after "Error 101: " is HIP's
    assert (
        lookup_number("cuda_code", "101", "hipErrorInvalidDevice (Triggered internally at x.cpp:1.)") is None
    )
    code = lookup_number("cuda_code", "101", "invalid device ordinal")
    assert code is not None and code.name == "cudaErrorInvalidDevice"


def test_hip_invalid_device_by_name_is_classified_without_a_cause() -> None:
    code = by_name("hipErrorInvalidDevice")
    assert code is not None and code.klass == "unknown"
    assert "rocm.visible-devices-mismatch" in code.causes and "device.kfd-missing" in code.causes


def test_hsa_failure_after_mem_policy_is_not_a_missing_kfd(tmp_path: Path) -> None:
    # pytorch#91031's rocminfo output: /dev/kfd opened, one GPU's render node absent
    text = "\n".join(
        [
            "ROCk module is loaded",
            "Failed to set mem policy for GPU [0x6b0d]",
            "hsa api call failure at: /src/rocminfo/rocminfo.cc:1140",
            "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed to allocate the necessary "
            "resources. This error may also occur when the core runtime library needs to spawn threads or create "
            "internal OS-specific events.",
        ]
    )
    causes = _causes(tmp_path, text)
    assert causes[:1] == ["device.render-node-missing"]
    assert "device.kfd-missing" not in causes


RCCL_ORDINAL = "node01:123:123 [0] /src/transport/p2p.cc:292 NCCL WARN Cuda failure 'invalid device ordinal'"


def test_rccl_cuda_wording_is_read_as_rocm_on_amd(tmp_path: Path) -> None:
    # ROCm/rccl src/include/checks.h CUDACHECK: WARN("Cuda failure '%s'", hipGetErrorString(err))
    text = "node01:123:123 [0] NCCL INFO RCCL version 2.20.5+hip6.2 HEAD:a3f2b1c\n" + RCCL_ORDINAL
    assert _causes(tmp_path, text)[:1] == ["rocm.visible-devices-mismatch"]


def test_cuda_wording_stays_cuda_without_amd_stack(tmp_path: Path) -> None:
    assert _causes(tmp_path, RCCL_ORDINAL)[:1] == ["cuda.visible-devices-mismatch"]


def test_cuda_wording_stays_cuda_when_the_log_shows_nvidia(tmp_path: Path) -> None:
    # an nvidia-smi row next to a ROCm-looking version string: the stack is ambiguous, nothing is renamed. (A mask
    # selects the GPUs: with one nvidia-smi row and nothing selecting GPUs, glearn46c reads the ordinal as the program's
    # own index, a note.)
    text = "\n".join(
        [
            "export CUDA_VISIBLE_DEVICES=0",
            "NCCL version 2.18.3+hip6.0",
            "|   0  NVIDIA H100 80GB HBM3          On  | 00000000:18:00.0 Off |                    0 |",
            RCCL_ORDINAL,
        ]
    )
    assert _causes(tmp_path, text)[:1] == ["cuda.visible-devices-mismatch"]


def test_cuda_mask_on_rocm_is_named_as_related(tmp_path: Path) -> None:
    # HIP reads CUDA_VISIBLE_DEVICES when HIP_VISIBLE_DEVICES is unset (clr rocdevice.cpp Device::init)
    log = tmp_path / "x.log"
    log.write_text("export CUDA_VISIBLE_DEVICES=4,5\nRuntimeError: No HIP GPUs are available\n")
    findings = explain([str(log)]).findings
    assert findings and "rocm.visible-devices-mismatch" in findings[0].related


def test_hcc_no_device_takes_the_node_the_command_left_out(tmp_path: Path) -> None:
    # ROCm/hcc kalmar_runtime.h get_default_dev; the quoted command passes /dev/kfd but no /dev/dri
    text = "docker run -it --device=/dev/kfd rocm/rocm-terminal\nThere is no device can be used to do the computation"
    assert _causes(tmp_path, text)[:1] == ["device.render-node-missing"]


def test_no_cuda_gpus_under_a_rocr_mask_is_the_rocm_mask(tmp_path: Path) -> None:
    # ROCm builds that print CUDA's words, with a ROCm mask in the log: the mask cause is named in ROCm's terms
    text = "ROCR_VISIBLE_DEVICES=4,5,6,7\nRuntimeError: No CUDA GPUs are available"
    causes = _causes(tmp_path, text)
    assert "rocm.visible-devices-mismatch" in causes
    assert "cuda.visible-devices-mismatch" not in causes


def test_amd_smi_without_amdgpu_is_expected_under_wsl(tmp_path: Path) -> None:
    # ROCm on WSL2 uses the Windows driver (/dev/dxg): amd-smi's amdgpu messages are no cause there
    text = (
        "Linux host 5.15.167.4-microsoft-standard-WSL2 #1 SMP\n"
        "ERROR:root:Unable to detect any GPU devices, check amdgpu version and module status (sudo modprobe amdgpu)"
    )
    assert _causes(tmp_path, text) == []

