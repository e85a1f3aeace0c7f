"""Error codes in every form real programs print them (explain/error_codes.py, the code.*-number
signatures): printed strings whose API is named only by the lines around them, numbers in the
formats of NCCL, cuda-samples, c10, cuInit probes, HIP samples and Level Zero macros, and prose.
Each line below is written from the upstream format string cited next to it."""

from __future__ import annotations

import functools
import io

import pytest

from tpdoctor.explain import explain, scanner
from tpdoctor.explain.correlate import diagnose
from tpdoctor.explain.error_codes import by_name, lookup_number
from tpdoctor.explain.reader import iter_buffers
from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base

# pytorch torch/cuda/__init__.py set_device -> torch._C._cuda_setDevice (v2.x), pasted without the
# "RuntimeError: CUDA error:" prefix, as users often do
SET_DEVICE_FRAMES = (
    "Traceback (most recent call last):\n"
    '  File "/app/train.py", line 431, in <module>\n'
    "    torch.cuda.set_device(device)\n"
    '  File "/usr/local/lib/python3.12/site-packages/torch/cuda/__init__.py", line 476, in set_device\n'
    "    torch._C._cuda_setDevice(device)\n"
)


def _scan(text: str) -> scanner.ScanResult:
    s = Scanner(knowledge_base())
    s.scan_stream(io.BytesIO(text.encode()), "t.log")
    return s.result


def _codes(text: str) -> list[str]:
    return [c.code.name for c in diagnose(_scan(text), knowledge_base()).codes]


def _first_cause(text: str) -> str | None:
    supports = diagnose(_scan(text), knowledge_base()).supports
    return supports[0].cause if supports else None


@pytest.mark.parametrize(
    "last",
    [
        "Invalid device ordinal",
        "invalid device ordinal",
        "RuntimeError: Invalid device ordinal.",
        "Invalid device ordinal!",
        "invalid device ordinal: 3",
        "Invalid device ordinal at /pytorch/c10/cuda/CUDAFunctions.cpp:77",
    ],
)
def test_a_bare_string_counts_when_the_traceback_names_the_api(last: str) -> None:
    text = SET_DEVICE_FRAMES + "\n" + last + "\n"
    assert _codes(text) == ["cudaErrorInvalidDevice"]
    assert _first_cause(text) == "cuda.visible-devices-mismatch"


def test_the_context_may_follow_the_message() -> None:
    # c10/cuda/CUDAException.cpp c10_cuda_check_implementation: what() then "Exception raised from ..."
    text = (
        "terminate called after throwing an instance of 'c10::Error'\n"
        "  what():  \n"
        "Invalid device ordinal\n"
        "Exception raised from c10_cuda_check_implementation at ../c10/cuda/CUDAException.cpp:44\n"
    )
    assert _codes(text) == ["cudaErrorInvalidDevice"]


@pytest.mark.parametrize(
    "text",
    [
        "the server said: invalid device ordinal\n",  # no API anywhere
        "Invalid device ordinal\n",  # alone in the log
        SET_DEVICE_FRAMES + "".join(f"unrelated line {i}\n" for i in range(8)) + "Invalid device ordinal\n",  # too far
        SET_DEVICE_FRAMES + "We saw invalid device ordinal yesterday\n",  # a word in a sentence, not the message
        # strerror(EPERM) is every program's: a bare one near a CUDA path stays unexplained
        "mkdir: cannot create directory '/usr/local/cuda/x'\nOperation not permitted\n",
        SET_DEVICE_FRAMES + "unknown error\n",  # generic strings never count alone
    ],
)
def test_a_bare_string_without_the_api_nearby_is_no_code(text: str) -> None:
    assert _codes(text) == []


def test_hip_strings_need_a_hip_word_nearby() -> None:
    hip = ":1:hip_device_runtime.cpp:651 : 8371 us: hipSetDevice ( 3 ) \nInvalid device ordinal\n"
    assert _codes(hip) == ["hipErrorInvalidDevice"]


def test_the_context_survives_a_block_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner, "iter_buffers", functools.partial(iter_buffers, chunk=128))
    text = "x" * 100 + "\n" + SET_DEVICE_FRAMES + "\n" + "y" * 200 + "\nInvalid device ordinal\n"
    result = _scan(text)
    assert "code.cuda.cudaErrorInvalidDevice.string" in result.signatures


@pytest.mark.parametrize(
    ("line", "name"),
    [
        # NVIDIA/nccl src/include/checks.h CUDACHECK / CUCHECK: "Cuda failure %d '%s'"
        ("h:1:2 [0] transport/p2p.cc:136 NCCL WARN Cuda failure 217 'peer access is not supported between these two devices'", "cudaErrorPeerAccessUnsupported"),
        ("h:1:2 [0] NCCL WARN Cuda failure 802 'system not yet initialized'", "cudaErrorSystemNotReady"),
        # NVIDIA/cuda-samples Common/helper_cuda.h check(): "CUDA error at %s:%d code=%d(%s) \"%s\""
        ('CUDA error at simpleP2P.cu:92 code=101(cudaErrorInvalidDevice) "cudaSetDevice(gpuid[0])" ', "cudaErrorInvalidDevice"),
        ('CUDA error at main.cpp:30 code=3(CUDA_ERROR_NOT_INITIALIZED) "cuDeviceGet(&dev, 0)" ', "CUDA_ERROR_NOT_INITIALIZED"),
        # pytorch THC THCudaCheck: "cuda runtime error (%d) : %s at %s:%d"
        ("RuntimeError: cuda runtime error (100) : no CUDA-capable device is detected at /pytorch/aten/src/THC/THCGeneral.cpp:50", "cudaErrorNoDevice"),
        # THC on CUDA <= 10.0 printed the old numbers: the string picks the code (cuda.yaml legacy_code)
        ("RuntimeError: cuda runtime error (30) : unknown error at /pytorch/aten/src/THC/THCGeneral.cpp:87", "cudaErrorUnknown"),
        ("RuntimeError: cuda runtime error (10) : invalid device ordinal at torch/csrc/cuda/Module.cpp:32", "cudaErrorInvalidDevice"),
        ("RuntimeError: cuda runtime error (38) : no CUDA-capable device is detected at THCGeneral.cpp:74", "cudaErrorNoDevice"),
        # caffe include/caffe/util/device_alternate.hpp CUDA_CHECK: glog CHECK_EQ(error, cudaSuccess) << " " << cudaGetErrorString
        ("F0101 00:00:00.000000  1 common.cpp:152] Check failed: error == cudaSuccess (10 vs. 0)  invalid device ordinal", "cudaErrorInvalidDevice"),
        ("F1213 06:10:43.716547   365 im2col.cu:61] Check failed: error == cudaSuccess (209 vs. 0)  no kernel image is available for execution on the device", "cudaErrorNoKernelImageForDevice"),
        ("F0101 syncedmem.cpp:47] Check failed: cudaSuccess == err (0 vs. 100) ", "cudaErrorNoDevice"),
        # CHECK_RT / CU_CHECK macros: "CUDA runtime error %d at %s:%d: %s", "CUDA Driver error %d at %s:%d"
        ("CUDA runtime error 804 at gemm.cu:88: forward compatibility was attempted on non supported HW", "cudaErrorCompatNotSupportedOnDevice"),
        ("CUDA Driver error 999 at kernel.cu:40", "CUDA_ERROR_UNKNOWN"),
        # ollama discover: "cuInit err: %d"; device queries after it
        ("cuInit err: 802", "CUDA_ERROR_SYSTEM_NOT_READY"),
        ("cuInit returned 999", "CUDA_ERROR_UNKNOWN"),
        ("cuDeviceGet failed with error 101", "CUDA_ERROR_INVALID_DEVICE"),
        # tensorflow/stream_executor cuda_driver ToString(CUresult): "UNKNOWN ERROR (%d)" when cuGetErrorName fails
        ("W tensorflow/stream_executor/cuda/cuda_driver.cc:263] failed call to cuInit: UNKNOWN ERROR (303)", "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED"),
        (
            "E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:152] failed call to cuInit: INTERNAL: "
            "CUDA error: Failed call to cuInit: UNKNOWN ERROR (34)",
            "CUDA_ERROR_STUB_LIBRARY",
        ),
        # c10/cuda/CUDAFunctions.cpp device_count_impl, as vLLM logs print the UserWarning
        (
            "UserWarning: CUDA initialization: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions "
            "before calling NumCudaDevices() that might have already set an error? Error 802: system not yet initialized",
            "cudaErrorSystemNotReady",
        ),
        # HIP samples HIP_CHECK: "error: '%s'(%d) at %s:%d"; hwloc_hip_discover: "hwloc/hip: hipGetDeviceCount failed: %d"
        ("error: 'no ROCm-capable device is detected'(100) at main.cpp:31", "hipErrorNoDevice"),
        ("hwloc/hip: hipGetDeviceCount failed: 100", "hipErrorNoDevice"),
        ("HIP error: no ROCm-capable device is detected (100)", "hipErrorNoDevice"),
        # Level Zero: 0x%x, std::hex without 0x, and %d (Intel libomptarget Level0 CALL_ZE_RET "%s:%s failed with error code %d, %s")
        ("zeInit failed with error code 0x78000001", "ZE_RESULT_ERROR_UNINITIALIZED"),
        ("Level Zero Error: 70000001 at zeCommandQueueSynchronize(queue, UINT64_MAX)", "ZE_RESULT_ERROR_DEVICE_LOST"),
        ("ZE error at bench.c:41: 1879048193", "ZE_RESULT_ERROR_DEVICE_LOST"),
        ("Target LEVEL0 RTL --> Error: findDevices:zeInit failed with error code 2013265921, ZE_RESULT_ERROR_UNINITIALIZED", "ZE_RESULT_ERROR_UNINITIALIZED"),
        # prose: a number after an error word that follows a CUDA/HIP word
        ("CUDA initialization fails with 802 system error owing to lack of nvidia-fabricmanager install", "cudaErrorSystemNotReady"),
        ("after resume I get cuda error 999 on every call", "cudaErrorUnknown"),
        ("cuda init failed: error 100", "cudaErrorNoDevice"),
        ("HIP init failed with error 100", "hipErrorNoDevice"),
    ],
)
def test_numbers_in_every_printed_form(line: str, name: str) -> None:
    assert name in _codes(line + "\n")


@pytest.mark.parametrize(
    "line",
    [
        "Using CUDA 12.4 with error handling enabled",  # a version, no error number
        "CUDA driver version 12040, error code 0",  # 0 is success: in no table
        "CUDA kernel errors might be asynchronously reported at some other API call",
        # a cuBLAS status in cuda-samples' check(): another library's number
        'CUDA error at gemm.cu:12 code=1(CUBLAS_STATUS_NOT_INITIALIZED) "cublasCreate(&handle)" ',
        "the run failed with error 100 after 3 epochs",  # no API word
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has 3 GiB",
    ],
)
def test_numbers_without_an_api_error_word_are_no_code(line: str) -> None:
    assert _codes(line + "\n") == []


def test_the_printed_name_picks_the_table_that_shares_the_format() -> None:
    # 3 is cudaErrorInitializationError in the runtime and CUDA_ERROR_NOT_INITIALIZED in the driver
    assert lookup_number("cuda_code", "3") == by_name("cudaErrorInitializationError")
    assert lookup_number("cuda_code", "3", "CUDA_ERROR_NOT_INITIALIZED") == by_name("CUDA_ERROR_NOT_INITIALIZED")
    assert lookup_number("cuda_code", "1", "CUBLAS_STATUS_NOT_INITIALIZED") is None
    assert lookup_number("ze_code", "78000001") == by_name("ZE_RESULT_ERROR_UNINITIALIZED")
    assert lookup_number("ze_code", "2013265921") == by_name("ZE_RESULT_ERROR_UNINITIALIZED")
    # CUDA <= 10.0 numbering: by its string, or alone where the modern table has no such number
    assert lookup_number("cuda_code", "8", "invalid device function") == by_name("cudaErrorInvalidDeviceFunction")
    assert lookup_number("cuda_code", "8") == by_name("cudaErrorProfilerAlreadyStopped")
    assert lookup_number("cuda_code", "38") == by_name("cudaErrorNoDevice")


def test_a_code_line_is_the_first_error_and_its_layer_is_the_tables(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # not-container code, no error word on its line: only the code makes it an error line
    log = tmp_path / "a.log"
    log.write_text(
        "INFO starting\n" + SET_DEVICE_FRAMES + "An illegal memory access was encountered\n"
        "WARNING some later warning failed softly\n"
    )
    report = explain([str(log)])
    assert not [f for f in report.findings if f.severity.value != "notice"]
    first = report.facts["first_error"]
    assert first["text"] == "An illegal memory access was encountered"
    assert first["layer"] == "CUDA"


def test_an_nccl_line_with_a_cuda_code_is_raised_by_cuda(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "a.log"
    log.write_text("h:1:2 [0] NCCL WARN Cuda failure 700 'an illegal memory access was encountered'\n")
    report = explain([str(log)])
    assert report.facts["first_error"]["layer"] == "CUDA"
    assert report.facts["error_codes"][0]["name"] == "cudaErrorIllegalAddress"


def test_tensorflows_303_is_a_guess_at_the_missing_driver_library(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # tensorflow/stream_executor/cuda/cuda_stub.cc GetSymbolNotFoundError: CUDA_ERROR_SHARED_OBJECT_INIT_FAILED
    # when libcuda.so.1 cannot be loaded. Not proof of a container cause: a note with a guess, no finding.
    log = tmp_path / "tf.log"
    log.write_text("W tensorflow/stream_executor/cuda/cuda_driver.cc:263] failed call to cuInit: UNKNOWN ERROR (303)\n")
    report = explain([str(log)])
    assert not [f for f in report.findings if f.severity.value != "notice"]
    assert any("CUDA_ERROR_SHARED_OBJECT_INIT_FAILED" in n and "runtime.nvidia-toolkit-missing" in n for n in report.notes)
