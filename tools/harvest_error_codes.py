"""Regenerate src/tpdoctor/data/error_codes/*.yaml from the upstream headers (run by hand).

Every code of each table is written with its name, number, the string the library prints and a
classification from CLASSES below: `cause` (a container/host cause id), `not-container` (a program,
model or hardware error that no container setting changes) or `unknown` (it can be either; the
meaning is shown). The sources are read, never guessed:

  cuda        CUDA 13.0 include/driver_types.h (names, numbers, doc comments) and
              libcudart.so.13 cudaGetErrorName/cudaGetErrorString (the printed strings);
              CUDA <= 10.0 numbers from CUDA 7.5 driver_types.h (`legacy` numbers)
  cu_driver   CUDA 13.0 include/cuda.h (CUresult)
  hip         ROCm/HIP include/hip/hip_runtime_api.h @c5e11fc; strings ROCm/clr
              hipamd/src/hip_error.cpp @f9f995c; HSA: ROCm/ROCR-Runtime hsa.h, hsa_ext_amd.h and
              core/runtime/hsa.cpp (hsa_status_string) @c7785a6
  ze          oneapi-src/level-zero include/ze_api.h @d3b3efb (spec 1.17.24) and v1.9.9;
              Unified Runtime include/ur_api.h (v0.12-r0 as shipped in the intel-sycl-rt 2026.2.0 wheel,
              include/unified-runtime/ur_api.h: oneapi-src/unified-runtime @9fdd9d9 plus the graph-capture
              codes 72-77, no number changed; tags v0.6 v0.7 v0.8.0 v0.9.0 v0.10.0 v0.11.0 as ur_api_<tag>.h for removed and
              renumbered codes); SYCL PI error codes from intel/llvm
              sycl/include/sycl/detail/pi_error.def @29f6beee as pi_error.def

Usage: python3 tools/harvest_error_codes.py HARVEST_DIR [TABLE...]   (HARVEST_DIR holds the files named
below; TABLE: cuda cu_driver hip ze, default all); then python3 tools/compile_data.py
"""

from __future__ import annotations

import ctypes
import re
import sys
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent.parent / "src/tpdoctor/data/error_codes"

# name -> (class, [cause ids], note). Names not listed are `not-container`.
U = "unknown"
CUDA: dict[str, tuple[str, list[str], str]] = {
    "InitializationError": (U, [], "CUDA could not initialise: in a container usually a missing /dev/nvidia-uvm or /dev/nvidiactl, a driver/library mismatch, or the device cgroup refusing a node"),
    "NotInitialized": (U, [], "cuInit was not called or failed before: look for the first CUDA error above"),
    "StubLibrary": ("cause", ["runtime.nvidia-toolkit-missing"], "the libcuda.so found is the toolkit's stub: the host driver library was not injected into the container"),
    # heldout8 lesson: cudart returns 35 also when no libcuda can be loaded at all (torch's device_count_impl reads
    # driver_version() <= 0 on this code as "Found no NVIDIA driver"): a GPU never passed in, named first
    "InsufficientDriver": ("cause", ["device.nvidia-node-missing", "cuda.driver-too-old"], "no NVIDIA driver library in the process (a container started without a GPU), or the image's CUDA runtime is newer than the host driver"),
    "CallRequiresNewerDriver": ("cause", ["cuda.driver-too-old"], "an API of the image's CUDA needs a newer host driver"),
    "UnsupportedPtxVersion": ("cause", ["cuda.driver-too-old"], "kernels were built by a newer CUDA toolkit than the host driver supports"),
    "DevicesUnavailable": (U, [], "all GPUs are busy or unavailable: exclusive-process compute mode held by another process or container, or a MIG/vGPU setting"),
    "DeviceUnavailable": (U, [], "the GPU is busy or unavailable: exclusive-process compute mode held by another process or container"),
    "NoDevice": ("cause", ["device.nvidia-node-missing", "cuda.visible-devices-mismatch"], "no GPU is visible to the process"),
    "InvalidDevice": ("cause", ["cuda.visible-devices-mismatch", "vllm.tp-exceeds-visible-gpus"], "a GPU index beyond the visible GPUs was used"),
    "PeerAccessUnsupported": ("cause", ["nccl.p2p-unsupported"], "CUDA refuses peer access between these GPUs (consumer GPUs, VMs, PCI ACS)"),
    # gnew23: cudaDeviceEnablePeerAccess documents "a system-wide maximum of eight peer connections" per device
    # (NVIDIA/nccl#51, sjeaugey): a process enabling all-pairs access over more than 8 visible GPUs exhausts it.
    "TooManyPeers": ("cause", ["cuda.too-many-peers"], "a GPU may map at most 8 peers: more than 8 GPUs visible to one process that enables peer access between all of them"),
    "NotPermitted": (U, ["cuda.ipc-pidfd-denied", "nccl.imex-channel-missing"], "an operation was refused: in containers a cuMem/IPC export or import without CAP_SYS_PTRACE, or a fabric handle without an IMEX channel"),
    "OperatingSystem": (U, ["topology.ranks-split-across-containers"], "an OS call failed: for CUDA IPC between processes typically separate IPC/PID namespaces or a refused syscall"),
    "SystemNotReady": ("cause", ["nvidia.fabric-manager-not-running"], "the system is not initialised: on NVSwitch systems the fabric manager is not running or does not match the driver"),
    "SystemDriverMismatch": ("cause", ["cuda.forward-compat-unsupported", "nvidia.driver-library-mismatch"], "the user-mode driver (often the image's CUDA compat libcuda) does not match the host kernel module"),
    "CompatNotSupportedOnDevice": ("cause", ["cuda.forward-compat-unsupported"], "the image's CUDA forward-compatibility package was loaded on a GPU that does not support it"),
    "MpsConnectionFailed": (U, [], "the MPS control daemon or server cannot be reached: its pipe directory is not shared into the container"),
    "MpsServerNotReady": (U, [], "the MPS server is not ready"),
    "MpsRpcFailure": (U, [], "the RPC to the MPS server failed"),
    "MpsClientTerminated": (U, [], "the MPS client was terminated by the server"),
    "MapBufferObjectFailed": (U, ["topology.ranks-split-across-containers"], "mapping a buffer failed: for cudaIpcOpenMemHandle often processes in different containers"),
    "Unknown": (U, [], "the driver gave no reason; look at the lines before it and at dmesg (Xid)"),
    # tensorflow/stream_executor/cuda/cuda_stub.cc GetSymbolNotFoundError (and XLA's) returns it when
    # libcuda.so.1 cannot be loaded; printed as "failed call to cuInit: UNKNOWN ERROR (303)"
    "SharedObjectInitFailed": (U, ["runtime.nvidia-toolkit-missing"], "initialising a shared object failed: TensorFlow/XLA's CUDA stub returns it when libcuda.so.1 cannot be loaded, i.e. the host driver library is not in the container (no --gpus / toolkit hook)"),
    "Timeout": (U, [], "a wait timed out"),
    "ExternalDevice": (U, [], "an error on an external device (NVLink/NVSwitch or IMEX side)"),
    "NvlinkUncorrectable": ("not-container", [], "hardware: an uncorrectable NVLink error (check dmesg Xid)"),
    "ECCUncorrectable": ("not-container", [], "hardware: an uncorrectable ECC error (check nvidia-smi -q -d ECC)"),
    "Contained": ("not-container", [], "hardware: a contained error; the GPU needs a reset"),
    "NotSupported": (U, [], "the operation is not supported on this device or platform (e.g. cuMem IPC handle types inside some VMs/containers)"),
    "IllegalState": (U, [], "the operation cannot be performed in the present state"),
    "DeviceNotLicensed": (U, [], "vGPU or device licensing: the GPU is not licensed for this use"),
}
CU_DRIVER = {  # CUresult names map to the same meanings
    "NOT_INITIALIZED": CUDA["NotInitialized"], "STUB_LIBRARY": CUDA["StubLibrary"],
    "NO_DEVICE": CUDA["NoDevice"], "INVALID_DEVICE": CUDA["InvalidDevice"],
    "PEER_ACCESS_UNSUPPORTED": CUDA["PeerAccessUnsupported"], "NOT_PERMITTED": CUDA["NotPermitted"],
    "OPERATING_SYSTEM": CUDA["OperatingSystem"], "SYSTEM_NOT_READY": CUDA["SystemNotReady"],
    "SYSTEM_DRIVER_MISMATCH": CUDA["SystemDriverMismatch"],
    "COMPAT_NOT_SUPPORTED_ON_DEVICE": CUDA["CompatNotSupportedOnDevice"],
    "MPS_CONNECTION_FAILED": CUDA["MpsConnectionFailed"], "MPS_SERVER_NOT_READY": CUDA["MpsServerNotReady"],
    "MPS_RPC_FAILURE": CUDA["MpsRpcFailure"], "MPS_CLIENT_TERMINATED": CUDA["MpsClientTerminated"],
    "MAP_FAILED": CUDA["MapBufferObjectFailed"], "UNKNOWN": CUDA["Unknown"], "TIMEOUT": CUDA["Timeout"],
    "SHARED_OBJECT_INIT_FAILED": CUDA["SharedObjectInitFailed"],
    "EXTERNAL_DEVICE": CUDA["ExternalDevice"], "NVLINK_UNCORRECTABLE": CUDA["NvlinkUncorrectable"],
    "ECC_UNCORRECTABLE": CUDA["ECCUncorrectable"], "CONTAINED": CUDA["Contained"],
    "NOT_SUPPORTED": CUDA["NotSupported"], "ILLEGAL_STATE": CUDA["IllegalState"],
    "UNSUPPORTED_PTX_VERSION": CUDA["UnsupportedPtxVersion"],
    "DEVICE_UNAVAILABLE": CUDA["DeviceUnavailable"], "DEVICE_NOT_LICENSED": CUDA["DeviceNotLicensed"],
    "INVALID_IMAGE": ("not-container", [], "the kernel image is invalid for this device"),
}
HIP = {
    # From ROCm 5.4 hipGetDeviceCount/hipSetDevice return it when the runtime failed to start (HIP_INIT_API_NO_RETURN
    # then an empty g_devices: ROCm/clr hipamd/src/hip_device_runtime.cpp @rocm-5.7.0..f9f995c): a refused /dev/kfd too.
    "NoDevice": ("cause", ["device.kfd-missing", "rocm.visible-devices-mismatch", "device.group-denied"], "no ROCm GPU is visible: /dev/kfd or /dev/dri not passed or refused (render/video group), or HIP/ROCR_VISIBLE_DEVICES filter them out"),
    # Not CUDA's reading: HIP returns hipErrorInvalidDevice both for an index past the visible GPUs and from every
    # HIP_INIT_API call when the runtime failed to start (ROCm/clr hipamd/src/hip_internal.hpp HIP_INIT:
    # `if (!status && !noReturn) HIP_RETURN(hipErrorInvalidDevice)`, rocm-5.7.0 .. f9f995c; ROCm/hipamd
    # src/hip_internal.hpp HIP_INIT, rocm-4.5.0 .. rocm-5.5.0), and before ROCm 5.4 hipGetDeviceCount did too
    # (HIP_INIT_API, ROCm/hipamd rocm-5.2.0 src/hip_device_runtime.cpp): no /dev/kfd, no render group, no amdgpu
    # or a GPU the ROCm release does not support. The name alone names no cause; torch's "HIP error: invalid
    # device ordinal" (set_device after the count check) does: signature hip.c10-invalid-device-ordinal.
    "InvalidDevice": (U, ["rocm.visible-devices-mismatch", "device.kfd-missing", "device.group-denied", "vllm.tp-exceeds-visible-gpus"], "a GPU index beyond the visible GPUs, or (any HIP call, and hipGetDeviceCount before ROCm 5.4) the HIP runtime failed to start: /dev/kfd or /dev/dri missing or refused, amdgpu not loaded, or a GPU this ROCm release does not support"),
    "PeerAccessUnsupported": CUDA["PeerAccessUnsupported"],
    "InsufficientDriver": (U, [], "the ROCm user space is newer than the host's amdgpu kernel driver supports"),
    "NotInitialized": (U, [], "HIP could not initialise: in a container usually /dev/kfd or /dev/dri missing or not accessible (render/video group)"),
    "InitializationError": (U, [], "HIP could not initialise: in a container usually /dev/kfd or /dev/dri missing or not accessible (render/video group)"),
    "OperatingSystem": CUDA["OperatingSystem"], "Unknown": CUDA["Unknown"],
    "NotSupported": CUDA["NotSupported"], "IllegalState": CUDA["IllegalState"],
    "RuntimeOther": (U, [], "a ROCr runtime call other than memory failed (often HSA init: /dev/kfd access)"),
    "RuntimeMemory": (U, [], "a ROCr memory call failed"),
    # 205 has two names; the header documents hipErrorMapBufferObjectFailed as "the IPC memory
    # attach failed from ROCr": ranks in different containers, or ROCm IPC without the
    # CAP_SYS_PTRACE AMD documents for it
    "MapFailed": (U, ["topology.ranks-split-across-containers", "rocm.ipc-ptrace-missing"], "attaching another process's GPU memory (hipIpcOpenMemHandle) failed: ranks in different containers/IPC namespaces, or ROCm IPC without CAP_SYS_PTRACE"),
    "MapBufferObjectFailed": (U, ["topology.ranks-split-across-containers", "rocm.ipc-ptrace-missing"], "attaching another process's GPU memory (hipIpcOpenMemHandle) failed: ranks in different containers/IPC namespaces, or ROCm IPC without CAP_SYS_PTRACE"),
    "ECCNotCorrectable": ("not-container", [], "hardware: an uncorrectable ECC error (check amd-smi metric --ecc / rocm-smi --showrasinfo)"),
    "Tbd": ("not-container", [], "a placeholder after the last HIP code; no API returns it"),
}
HSA = {
    "ERROR_OUT_OF_RESOURCES": (U, ["device.kfd-missing", "device.group-denied"], "the runtime could not get resources: at start in a container usually /dev/kfd or /dev/dri missing or not accessible (HIP reports 'hip device lost')"),
    "ERROR_NOT_INITIALIZED": (U, [], "the HSA runtime is not initialised"),
    "ERROR": (U, [], "a generic HSA error"),
    "ERROR_FATAL": (U, [], "a fatal HSA runtime error"),
    "ERROR_INVALID_RUNTIME_STATE": (U, [], "the runtime is in an invalid state"),
    "ERROR_EXCEPTION": (U, [], "a HSAIL/GPU exception (memory violation, illegal instruction)"),
    "ERROR_MEMORY_APERTURE_VIOLATION": ("not-container", [], "the kernel accessed memory outside its aperture"),
    "ERROR_MEMORY_FAULT": ("not-container", [], "a GPU page fault (kernel bug or bad pointer)"),
    "ERROR_RESOURCE_BUSY": (U, [], "the resource is busy"),
    # statuses that are not errors (listed so that a log naming them is never unexplained)
    "INFO_BREAK": ("not-container", [], "not an error: an iteration callback asked to stop early"),
    "CU_MASK_REDUCED": ("not-container", [], "not an error: a queue's CU mask was reduced to the CUs that exist (a warning)"),
}
ZE = {
    "ERROR_UNINITIALIZED": ("cause", ["device.render-node-missing", "device.group-denied"], "Level Zero found no usable driver/device: /dev/dri render nodes missing or not accessible"),
    "ERROR_DEVICE_LOST": ("cause", ["xpu.device-lost"], "the device hung, was reset or removed"),
    "ERROR_INSUFFICIENT_PERMISSIONS": ("cause", ["device.group-denied", "device.cgroup-denied"], "insufficient permissions to the device"),
    "ERROR_NOT_AVAILABLE": (U, [], "the device or resource is not available (in use or disabled)"),
    "ERROR_DEPENDENCY_UNAVAILABLE": (U, [], "a dependency (driver component) is not available"),
    "ERROR_UNSUPPORTED_VERSION": (U, [], "the driver does not support the requested API version: the image's Level Zero loader is newer than the driver"),
    "ERROR_UNKNOWN": CUDA["Unknown"],
    "ERROR_DEVICE_REQUIRES_RESET": ("not-container", [], "the device needs a reset (GPU hang)"),
    "ERROR_DEVICE_IN_LOW_POWER_STATE": (U, [], "the device is in a low-power state"),
    "ERROR_OUT_OF_DEVICE_MEMORY": ("not-container", [], "out of device memory: lower gpu-memory-utilization, batch or context length"),
    "ERROR_OUT_OF_HOST_MEMORY": (U, [], "out of host memory (container memory limit?)"),
    "ERROR_INVALID_DEVICE": (U, [], "an invalid device was named (ZE_AFFINITY_MASK / ONEAPI_DEVICE_SELECTOR outside the visible GPUs)"),
    "ERROR_ADAPTER_SPECIFIC": (U, [], "an adapter-specific error; the adapter's own message comes before it"),
    "NOT_READY": ("not-container", [], "not an error: a synchronisation primitive is not signalled yet"),
}
# SYCL Plugin Interface (DPC++ before Unified Runtime, 2022-2024: "Native API returns: -N (PI_ERROR_...)")
PI = {
    "ERROR_DEVICE_NOT_FOUND": (U, ["device.render-node-missing", "device.group-denied"], "no device matched: in a container /dev/dri render nodes not passed or not accessible (render group), or ONEAPI_DEVICE_SELECTOR filters them out"),
    "ERROR_PLATFORM_NOT_FOUND_KHR": (U, ["device.render-node-missing"], "no OpenCL/Level Zero platform: the GPU runtime (ICD, libze_intel_gpu) is not in the image, or no render node is visible"),
    "ERROR_DEVICE_NOT_AVAILABLE": (U, [], "the device reports itself unavailable: in use, reset or disabled"),
    "ERROR_OUT_OF_RESOURCES": (U, [], "the plugin ran out of a driver resource (most often device memory)"),
    "ERROR_OUT_OF_HOST_MEMORY": (U, [], "out of host memory (container memory limit?)"),
    "ERROR_INVALID_DEVICE": (U, [], "an invalid device was named (ONEAPI_DEVICE_SELECTOR / ZE_AFFINITY_MASK outside the visible GPUs)"),
    "ERROR_PLUGIN_SPECIFIC_ERROR": (U, [], "a backend-specific error; the backend's own message comes before it"),
    "ERROR_COMMAND_EXECUTION_FAILURE": (U, ["xpu.device-lost"], "a command failed on the device: often a GPU hang or reset (check dmesg for i915/xe resets), or a kernel error"),
    "ERROR_UNINITIALIZED": (U, [], "the backend is lost or was already unloaded (process teardown)"),
    "ERROR_UNKNOWN": CUDA["Unknown"],
}

# Unified Runtime names that share a Level Zero meaning
UR = {"ERROR_DEVICE_LOST": ZE["ERROR_DEVICE_LOST"], "ERROR_UNINITIALIZED": ZE["ERROR_UNINITIALIZED"],
      "ERROR_INVALID_DEVICE": ZE["ERROR_INVALID_DEVICE"], "ERROR_OUT_OF_DEVICE_MEMORY": ZE["ERROR_OUT_OF_DEVICE_MEMORY"],
      "ERROR_OUT_OF_HOST_MEMORY": ZE["ERROR_OUT_OF_HOST_MEMORY"], "ERROR_DEVICE_REQUIRES_RESET": ZE["ERROR_DEVICE_REQUIRES_RESET"],
      "ERROR_UNKNOWN": ZE["ERROR_UNKNOWN"], "ERROR_ADAPTER_SPECIFIC": ZE["ERROR_ADAPTER_SPECIFIC"],
      "ERROR_DEVICE_IN_LOW_POWER_STATE": ZE["ERROR_DEVICE_IN_LOW_POWER_STATE"],
      "ERROR_UNSUPPORTED_VERSION": ZE["ERROR_UNSUPPORTED_VERSION"], "ERROR_DEPENDENCY_UNAVAILABLE": ZE["ERROR_DEPENDENCY_UNAVAILABLE"],
      # SYCL maps "no device matched the selector" to DEVICE_NOT_FOUND: in a container the render
      # nodes were not passed or are not accessible, or ONEAPI_DEVICE_SELECTOR filters them out
      "ERROR_DEVICE_NOT_FOUND": (U, ["device.render-node-missing", "device.group-denied"], "no device matched: in a container /dev/dri render nodes not passed or not accessible (render group), or ONEAPI_DEVICE_SELECTOR / ZE_AFFINITY_MASK filter them out"),
      "ERROR_DEVICE_NOT_AVAILABLE": (U, [], "the device reports itself unavailable (UR_DEVICE_INFO_AVAILABLE false): in use, reset or disabled"),
      "ERROR_OUT_OF_RESOURCES": (U, [], "the adapter ran out of a driver resource (most often device memory)"),
      "ERROR_INVALID_KERNEL_ARGS": ("not-container", [], "kernel argument values were not specified (deprecated: now undefined behaviour)")}


def _clean(text: str) -> str:
    text = re.sub(r"\\(?:deprecated|note|p|ref|brief)\b", "", text)
    text = re.sub(r"::|\[Core\]\s*|\[Sysman\]\s*|\[Tools\]\s*|\[Validation\]\s*", "", text)
    text = " ".join(text.replace("*", " ").split())
    first = re.split(r"(?<=[a-z0-9)])\.\s", text + " ", maxsplit=1)[0].strip().rstrip(".")
    return first[:240]


def _entry(name: str, code: int, string: str, meaning: str, cls: tuple[str, list[str], str] | None) -> dict:
    klass, causes, note = cls or ("not-container", [], "")
    out: dict = {"name": name, "code": code}
    if string:
        out["string"] = string
    out["meaning"] = note or meaning or string
    out["class"] = klass
    if causes:
        out["causes"] = list(causes)
    return out


def _preceding_comments(src: str, pattern: str) -> list[tuple[str, int, str]]:
    """(name, value, comment) for enumerators documented with /** ... */ before them."""
    out = []
    for m in re.finditer(r"(/\*\*(?:(?!\*/).)*?\*/)\s*(" + pattern + r")\s*=\s*(0x[0-9A-Fa-f]+|\d+)", src, re.S):
        out.append((m.group(2), int(m.group(3), 0), _clean(m.group(1)[3:-2])))
    return out


def cuda(d: Path) -> dict:
    src = (d / "driver_types.h").read_text()
    lib = ctypes.CDLL(str(d / "libcudart.so"))
    lib.cudaGetErrorString.restype = ctypes.c_char_p
    legacy = {n: int(v) for n, v in re.findall(r"(\w+) = (\d+)", (d / "cuda75_enum.txt").read_text())}
    codes = []
    for name, value, comment in _preceding_comments(src, r"cudaError\w+"):
        e = _entry(name, value, lib.cudaGetErrorString(value).decode(), comment, CUDA.get(name[9:]))
        if legacy.get(name, value) != value:
            e["legacy_code"] = legacy[name]
        codes.append(e)
    for name, value in legacy.items():  # removed before 13.0
        if all(c["name"] != name for c in codes):
            codes.append(_entry(name, value, "", "a CUDA <= 10.0 code", CUDA.get(name[9:])) | {"legacy_only": True})
    return {"table": "cuda", "layer": "CUDA", "title": "CUDA runtime cudaError_t",
            "source": "CUDA 13.0 include/driver_types.h + libcudart.so.13 cudaGetErrorString; CUDA 7.5 driver_types.h for the numbers used up to CUDA 10.0",
            "codes": codes}


def cu_driver(d: Path) -> dict:
    src = (d / "cuda.h").read_text()
    codes = [_entry(n, v, "", c, CU_DRIVER.get(n[11:])) for n, v, c in _preceding_comments(src, r"CUDA_ERROR_\w+")]
    return {"table": "cu_driver", "layer": "CUDA", "title": "CUDA driver CUresult",
            "source": "CUDA 13.0 include/cuda.h (enum cudaError_enum)", "codes": codes}


def hip(d: Path) -> dict:
    hdr = (d / "hip_runtime_api.h").read_text()
    strings = dict(re.findall(r"case (hipError\w+):\s*return \"([^\"]+)\";", (d / "hip_error.cpp").read_text().split("ihipGetErrorString")[1]))
    codes, seen = [], set()
    body = hdr[: hdr.index("} hipError_t;")]
    body = body[body.rindex("typedef enum") :]
    last = -1
    for name, value, comment in re.findall(r"^\s*(hipError\w+)\s*(?:=\s*(\d+))?,?\s*(?:///<\s*(.*))?$", body, re.M):
        last = int(value) if value else last + 1  # an enumerator without "= N" follows the previous one
        if name in seen:
            continue
        seen.add(name)
        codes.append(_entry(name, last, strings.get(name, ""), _clean(comment), HIP.get(name[8:])))
    hsa_src = (d / "hsa.cpp").read_text()
    hsa_strings = dict(re.findall(r"case (HSA_STATUS_\w+):\s*\*status_string\s*=\s*((?:\"[^\"]*\"\s*)+);", hsa_src))
    for hdr_name in ("hsa.h", "hsa_ext_amd.h"):
        for name, value in re.findall(r"^\s*(HSA_STATUS_\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+),?", (d / hdr_name).read_text(), re.M):
            if name in seen or name == "HSA_STATUS_SUCCESS":
                continue
            seen.add(name)
            text = "".join(re.findall(r"\"([^\"]*)\"", hsa_strings.get(name, "")))
            meaning = text.split(": ", 1)[1] if ": " in text else text
            codes.append(_entry(name, int(value, 0), "", _clean(meaning), HSA.get(name[11:])) | {"api": "hsa"})
    return {"table": "hip", "layer": "ROCm", "title": "HIP hipError_t and HSA hsa_status_t",
            "source": "ROCm/HIP include/hip/hip_runtime_api.h @c5e11fc; ROCm/clr hipamd/src/hip_error.cpp @f9f995c; ROCm/ROCR-Runtime hsa.h, hsa_ext_amd.h, core/runtime/hsa.cpp @c7785a6",
            "codes": codes}


def ze(d: Path) -> dict:
    codes, seen = [], set()
    for hdr_name in ("ze_api.h", "ze_api_v1.9.9.h"):
        p = d / hdr_name
        if not p.exists():
            continue
        for name, value, comment in re.findall(r"^\s*(ZE_RESULT_\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+),?\s*(?:///<\s*(.*))?$", p.read_text(), re.M):
            if name in seen or name in ("ZE_RESULT_SUCCESS", "ZE_RESULT_FORCE_UINT32"):
                continue
            seen.add(name)
            codes.append(_entry(name, int(value, 0), "", _clean(comment), ZE.get(name[10:])) | {"hex": hex(int(value, 0))})
    ur = (d / "ur_api.h").read_text()
    current: dict[str, int] = {}
    for comment, name, value in re.findall(r"((?:^[ \t]*///.*\n)+)[ \t]*(UR_RESULT_\w+)(?:\s*\[\[deprecated\]\])?\s*=\s*(0x[0-9A-Fa-f]+|\d+),", ur, re.M):
        comment = " ".join(line.strip().lstrip("/").strip() for line in comment.splitlines())
        if name in seen or name in ("UR_RESULT_SUCCESS", "UR_RESULT_FORCE_UINT32"):
            continue
        seen.add(name)
        current[name] = int(value, 0)
        codes.append(_entry(name, int(value, 0), "", _clean(comment), UR.get(name[10:])) | {"api": "ur"})
    # older releases (ur_api_v0.6.h ... from oneapi-src/unified-runtime tags): UR renumbered codes
    # up to v0.7 and removed some; a log of an old DPC++ prints the old number next to the name
    for p in sorted(d.glob("ur_api_v*.h"), key=lambda q: [int(x) for x in re.findall(r"\d+", q.stem)]):
        for name, value, comment in re.findall(r"^\s*(UR_RESULT_\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+),?\s*(?:///<\s*(.*))?$", p.read_text(), re.M):
            number = int(value, 0)
            if name in ("UR_RESULT_SUCCESS", "UR_RESULT_FORCE_UINT32"):
                continue
            if name in current:
                entry = next(c for c in codes if c["name"] == name)
                if number != current[name]:
                    entry.setdefault("legacy_code", number)
                continue
            if name in seen:
                continue
            seen.add(name)
            codes.append(_entry(name, number, "", _clean(comment or ""), UR.get(name[10:]))
                         | {"api": "ur", "legacy_only": True, "since": p.stem.split("_")[-1]})
    pi = d / "pi_error.def"  # intel/llvm sycl/include/sycl/detail/pi_error.def @29f6beee (removed with PI)
    if pi.exists():
        for name, value, msg in re.findall(r"_PI_ERRC(?:_WITH_MSG)?\((PI_\w+), (-?\d+)(?:, \"([^\"]*)\")?\)", pi.read_text()):
            if name == "PI_SUCCESS" or name in seen:
                continue
            seen.add(name)
            codes.append(_entry(name, int(value), "", msg or "an OpenCL-numbered SYCL PI error", PI.get(name[3:])) | {"api": "pi"})
    return {"table": "ze", "layer": "Level Zero", "title": "Level Zero ze_result_t and Unified Runtime ur_result_t",
            "source": "oneapi-src/level-zero include/ze_api.h @d3b3efb (spec 1.17.24) and v1.9.9; Unified Runtime include/ur_api.h v0.12-r0 (intel-sycl-rt 2026.2.0; @9fdd9d9 + codes 72-77), tags v0.6-v0.11 for removed and renumbered codes; intel/llvm sycl/include/sycl/detail/pi_error.def @29f6beee (SYCL PI)",
            "codes": codes}


def main() -> None:
    d = Path(sys.argv[1])
    only = set(sys.argv[2:])  # table names to rewrite (default: all)
    OUT.mkdir(parents=True, exist_ok=True)
    for fn in (cuda, cu_driver, hip, ze):
        if only and fn.__name__ not in only:
            continue
        table = fn(d)
        header = f"# Generated by tools/harvest_error_codes.py from {table['source']}.\n# Edit the classification there, not here.\n"
        (OUT / f"{table['table']}.yaml").write_text(header + yaml.safe_dump(table, sort_keys=False, allow_unicode=True, width=140))
        print(table["table"], len(table["codes"]))


if __name__ == "__main__":
    main()
