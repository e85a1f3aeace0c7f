"""AMD's current stack as explain reads it (issue #13, grocm7): ROCm 6.0-7.x HIP, RCCL 2.2x, the AMD Container
Toolkit, the ROCm k8s device plugin, Docker Desktop's VM.

Every line is written from the upstream format string cited next to it (docs/explain-inventory-rocm7.md lists the
versions read). A form that maps to a cause must rank it first; a form with no container cause must leave the
log clean.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain

# ROCm/rccl-tests src/common.h HIPCHECK: printf("%s: Test HIP failure %s:%d '%s'\n", hostname, __FILE__, __LINE__,
# hipGetErrorString(e)); up to ROCm 6.1 a HIP runtime that cannot start returns hipErrorInvalidDevice from every
# HIP_INIT_API call, from 6.2 hipErrorNoDevice (ROCm/clr hipamd/src/hip_internal.hpp HIP_INIT / HIP_INIT_API).
RCCL_TESTS = [
    "node01: Test HIP failure common.cu:1129 'invalid device ordinal'",
    "Test HIP failure common.cu:892 'hipErrorInvalidDevice'",
    "gpu-node-3: Test HIP failure common.cu:903 'no ROCm-capable device is detected'",
]
# ROCm/hip-tests samples/0_Intro/square/square.hipref.cpp CHECK:
# fprintf(stderr, "error: '%s'(%d) at %s:%d\n", hipGetErrorString(error), error, __FILE__, __LINE__)
HIP_SAMPLE = [
    "error: 'hipErrorInvalidDevice'(101) at square.cpp:60",
    "error: 'invalid device ordinal'(101) at vadd_hip.cpp:48",
    "error: 'no ROCm-capable device is detected'(100) at main.hip:21",
]

FIRST_CAUSE = [
    *((line, "device.kfd-missing") for line in RCCL_TESTS),
    *((line, "device.group-denied") for line in HIP_SAMPLE),
    # ROCm/k8s-device-plugin internal/pkg/amdgpu/amdgpu.go openAMDGPU: fmt.Errorf("Fail to open %s: %s", devPath, err),
    # logged by DevFunctional with glog.Errorf("%s", err)
    (
        "E0811 10:00:00.000000       1 amdgpu.go:393] Fail to open /dev/dri/card1: open /dev/dri/card1: "
        "no such file or directory",
        "k8s.gpu-resource-unavailable",
    ),
    (
        "E0811 10:00:00.000000       1 amdgpu.go:393] Fail to open /dev/dri/card0: open /dev/dri/card0: "
        "permission denied",
        "k8s.gpu-resource-unavailable",
    ),
    # ROCm/container-toolkit cmd/amd-ctk/cdi/validate/validate.go: fmt.Println("CDI spec is invalid\nPlease
    # regenerate CDI spec")
    ("Validating CDI spec: /etc/cdi/amd.json\nCDI spec is invalid\nPlease regenerate CDI spec", "device.host-node-absent"),
    # ROCm/clr rocclr/device/rocm/rocdevice.cpp Device::init LogPrintfError("hsa_init failed with %x", status)
    # (rocm-6.1.0+; ClPrint's ':%d:%-25s:%-4d: %010lld us: [pid:%-5d tid:0x%lx] ' prefix at AMD_LOG_LEVEL>=1)
    (
        ":1:rocdevice.cpp            :483 : 0151340546 us:  [pid:7     tid:0x7f3a] hsa_init failed with 1008",
        "device.kfd-missing",
    ),
    # ROCm/rocm-systems projects/rccl src/include/debug.h rcclCudaErrorHandler: ERROR("HIP failure: '%s'",
    # cudaGetErrorString(err)) (RCCL 2.27+, replacing checks.h's WARN("Cuda failure '%s'"))
    ("nodeA:123:456 [0] NCCL ERROR HIP failure: 'no ROCm-capable device is detected'", "device.kfd-missing"),
    # pytorch torch/cuda/__init__.py _parse_visible_devices / _get_amdsmi_device_index / _get_amdsmi_handler
    ("RuntimeError: HIP_VISIBLE_DEVICES contains more devices than ROCR_VISIBLE_DEVICES", "rocm.visible-devices-mismatch"),
    ("RuntimeError: device 2 is not visible (HIP_VISIBLE_DEVICES=[0, 1])", "rocm.visible-devices-mismatch"),
    ("RuntimeError: amdsmi driver can't be loaded, requires >=ROCm6.0 installation", "device.no-driver"),
    # sgl-project/sglang srt/utils.py get_device: raise RuntimeError("No accelerator (...) is available."), with the
    # ROCm build of torch named (fact amd_stack: 'ROCM used to build PyTorch') the AMD twin of the missing node
    (
        "ROCM used to build PyTorch: 6.3.42131\n"
        "RuntimeError: No accelerator (CUDA, XPU, HPU, NPU, MUSA, MPS) or platform plugin is available.",
        "device.kfd-missing",
    ),
    ("RuntimeError: No accelerator (CUDA, XPU, HPU) is available.", "device.nvidia-node-missing"),
    # moby daemon/errors.go incompatibleDeviceRequest ('could not select device driver %q with capabilities: %v');
    # daemon/devices_amd_linux.go registers AMD's driver without a name, with the capabilities gpu and amd
    (
        'Error response from daemon: could not select device driver "amd" with capabilities: [[gpu]]',
        "runtime.gpu-request-invalid",
    ),
    (
        'docker: Error response from daemon: could not select device driver "" with capabilities: [[amd]].',
        "runtime.amd-toolkit-missing",
    ),
    # ollama discover/amd_linux.go verifyKFDDriverAccess's third branch, logged by AMDGetGPUInfo
    (
        'level=ERROR source=amd_linux.go:402 msg="amdgpu devices detected but permission problems block access: '
        'failed to check permission on /dev/kfd: open /dev/kfd: no such device or address"',
        "device.no-driver",
    ),
    # the NVIDIA forms keep their reading
    (
        'Error response from daemon: could not select device driver "nvidia" with capabilities: [[gpu utility]]',
        "runtime.nvidia-toolkit-missing",
    ),
    # ROCm/k8s-device-plugin cmd/k8s-device-plugin/main.go getResourceList + glog.Errorf("Error occured: %v", err)
    (
        "E0811 10:00:00.000000       1 main.go:145] Error occured: Partitions of different styles across GPUs in a "
        "node is not supported with single strategy. Please start device plugin with mixed strategy",
        "k8s.gpu-resource-unavailable",
    ),
    (
        "nodeA:123:456 [0] NCCL ERROR HIP failure: 'peer access is not supported between these two devices'",
        "nccl.p2p-unsupported",
    ),
]

CLEAN = [
    # docker/cli info: the Docker Desktop VM alone is no failure
    " Kernel Version: 6.10.14-linuxkit",
    " Context:    desktop-linux",
    # AMD_VISIBLE_DEVICES without --runtime=amd is only a finding when ROCm then sees no GPU
    "docker run -it --rm -e AMD_VISIBLE_DEVICES=0,1 rocm/pytorch:latest python3 train.py",
    # amd-ctk cdi validate on a fresh spec
    "Validating CDI spec: /etc/cdi/amd.json\nCDI spec is valid",
    # a HIP sample failing on a GPU this ROCm release does not support (clr rocdevice.cpp 'Unsupported HSA device')
    ":1:rocdevice.cpp            :703 : 0151340546 us: [pid:1 tid:0x7f] Unsupported HSA device gfx1100 "
    "(PCI ID 744c) for ISA amdgcn-amd-amdhsa--gfx1100\nerror: 'hipErrorInvalidDevice'(101) at square.cpp:60",
    # rccl-tests failing in a collective for a reason of its own, not the device
    "node01: Test NCCL failure common.cu:1005 'unhandled cuda error (run with NCCL_DEBUG=INFO for details)'",
]


def _causes(tmp_path: Path, text: str) -> list[str]:
    log = tmp_path / "x.log"
    log.write_text(text + "\n")
    return [f.cause for f in explain([str(log)]).findings if f.severity.value != "notice"]


@pytest.mark.parametrize(("line", "cause"), FIRST_CAUSE)
def test_rocm7_form_names_its_cause_first(tmp_path: Path, line: str, cause: str) -> None:
    assert _causes(tmp_path, line)[:1] == [cause]


@pytest.mark.parametrize("line", CLEAN)
def test_rocm7_form_without_container_cause_stays_clean(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line) == []


@pytest.mark.parametrize("line", RCCL_TESTS)
def test_rccl_tests_device_failure_offers_the_mask_too(tmp_path: Path, line: str) -> None:
    # the same text is an index past the visible GPUs: the reading says so, and the finding only suggests
    log = tmp_path / "x.log"
    log.write_text(line + "\n")
    finding = explain([str(log)]).findings[0]
    assert finding.confidence == "suggests"
    assert "HIP_VISIBLE_DEVICES" in finding.message


def test_docker_desktop_vm_names_the_vm_not_the_group(tmp_path: Path) -> None:
    # torch's "No HIP GPUs are available" alone ranks the render group first (torch.no-hip-gpus); under Docker
    # Desktop's VM (docker info ' Kernel Version: ...-linuxkit') there is no AMD GPU at all
    alone = _causes(tmp_path, "RuntimeError: No HIP GPUs are available")
    assert alone[:1] == ["device.group-denied"]
    vm = _causes(tmp_path, " Kernel Version: 6.10.14-linuxkit\nRuntimeError: No HIP GPUs are available")
    assert vm[:1] == ["device.kfd-missing"]
    assert "device.group-denied" not in vm


def test_amd_visible_devices_needs_the_amd_runtime(tmp_path: Path) -> None:
    # ROCm/container-toolkit internal/oci/oci.go getAMDEnv: only the amd runtime reads AMD_VISIBLE_DEVICES
    no_runtime = _causes(
        tmp_path,
        "$ docker run -it --rm -e AMD_VISIBLE_DEVICES=0,1 rocm/pytorch:latest python3 -c x\n"
        "RuntimeError: No HIP GPUs are available",
    )
    assert no_runtime[:1] == ["runtime.amd-toolkit-missing"]
    # with --runtime=amd the GPUs were requested: neither the toolkit nor a missing /dev/kfd is read from the command
    with_runtime = _causes(
        tmp_path,
        "$ docker run -it --rm --runtime=amd -e AMD_VISIBLE_DEVICES=0,1 rocm/pytorch:latest python3 -c x\n"
        "RuntimeError: No HIP GPUs are available",
    )
    assert "runtime.amd-toolkit-missing" not in with_runtime
    assert with_runtime[:1] == ["device.group-denied"]
    # /dev/kfd passed by hand: AMD_VISIBLE_DEVICES is not how this container gets its GPUs
    by_hand = _causes(
        tmp_path,
        "$ docker run --device /dev/kfd --device /dev/dri -e AMD_VISIBLE_DEVICES=0 rocm/pytorch python3 -c x\n"
        "RuntimeError: No HIP GPUs are available",
    )
    assert "runtime.amd-toolkit-missing" not in by_hand


@pytest.mark.parametrize(
    "platform_line",
    [
        # vllm/platforms/__init__.py resolve_current_platform_cls_qualname: logger.info("Automatically detected platform %s.")
        "INFO 06-01 10:00:00 [__init__.py:256] Automatically detected platform rocm.",
        # rocm-smi / torch.cuda.get_device_name on an Instinct GPU
        "GPU[0]\t\t: Card Series: \t\tAMD Instinct MI300X",
        # a traceback through the default ROCm prefix
        'File "/opt/rocm-6.3.1/lib/python3/site-packages/x.py", line 1, in <module>',
    ],
)
def test_amd_platform_lines_rename_cuda_worded_guesses(tmp_path: Path, platform_line: str) -> None:
    # a vendor-neutral no-GPU line names NVIDIA's missing node first; the AMD platform line makes it the ROCm twin
    plain = _causes(tmp_path, "RuntimeError: No accelerator (CUDA, XPU, HPU, NPU) is available.")
    assert plain[:1] == ["device.nvidia-node-missing"]
    amd = _causes(tmp_path, platform_line + "\nRuntimeError: No accelerator (CUDA, XPU, HPU, NPU) is available.")
    assert amd[:1] == ["device.kfd-missing"]
    assert "device.nvidia-node-missing" not in amd


def test_command_without_kfd_turns_the_hip_sample_line_into_kfd_missing(tmp_path: Path) -> None:
    # the quoted command passes no AMD device: the HIP_CHECK line is a no-GPU symptom (differential.HIP_NONE)
    got = _causes(
        tmp_path,
        "$ docker run --rm -it rocm/dev-ubuntu-22.04 ./square\nerror: 'hipErrorInvalidDevice'(101) at square.cpp:60",
    )
    assert got[:1] == ["device.kfd-missing"]
