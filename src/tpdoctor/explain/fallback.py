"""When no known cause matches: the first real error, the layer that raised it, and guesses.

A wrong confident answer is worse than none, so nothing here becomes a finding: the layer comes
from the words of the line (who prints such text), and the nearest known causes are the
signatures whose example lines share the most words with it, always labelled as guesses.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from tpdoctor.explain.downstream import is_generic
from tpdoctor.explain.normalize import strip_prefixes
from tpdoctor.explain.signatures import KnowledgeBase

# First match wins: the most specific layer first. Each pattern is text that layer prints.
LAYERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "container runtime",
        re.compile(
            r"nvidia-container-cli|OCI runtime|Error response from daemon|\bcrun:|\brunc\b|\bCDI\b|podman|docker:"
        ),
    ),
    (
        "NCCL/RCCL",
        re.compile(
            r"\bNCCL\b|\bRCCL\b|ncclSystemError|ncclUnhandled|ncclInternalError|ncclInvalidUsage|ncclRemoteError"
        ),
    ),
    # torch's XCCL backend (ProcessGroupXCCL) and torch-ccl (oneccl_bindings_for_pytorch) wrap oneCCL.
    (
        "oneCCL",
        re.compile(
            # oneCCL <= 2021.5 logged "|ERROR|" / "|WARN|" (src/common/log/log.hpp), 2021.6+ "|CCL_ERROR|".
            r"CCL_ERROR|CCL_WARN|\(\s*\d+\) \|(?:ERROR|WARN)\||oneCCL|\bccl\b|atl_ofi|atl_mpi|ze_fd_manager|ze_handle"
            r"|\bXCCL\b|\bxccl\b|ProcessGroupXCCL|ProcessGroupCCL|oneccl_bindings|torch_ccl|\blibccl\b"
        ),
    ),
    (
        "Level Zero/SYCL",
        # compute-runtime (NEO) aborts with shared/source/helpers/debug_helpers.cpp "Abort was called at %d line in
        # file:"; the Level Zero loader traces with "ZE_LOADER_DEBUG_TRACE:" (source/loader/ze_loader.cpp).
        re.compile(
            r"UR_RESULT_|ZE_RESULT_|PI_ERROR_|Native API|level_zero|\bSYCL\b|\bxpu\b|XPU"
            r"|ZE_LOADER_DEBUG_TRACE|\bzeInit\b|libze_|Abort was called at \d+ line in file|ONEAPI_DEVICE_SELECTOR"
        ),
    ),
    (
        "ROCm/HIP",
        re.compile(
            r"\bHIP\b|hipError|HSA_STATUS|\bROCm\b|\bhsa\b|/dev/kfd|hsa_init|rocdevice\.cpp|amdsmi|AMDSMI"
            r"|rocminfo|rocm-smi|\bamdgpu\b"
        ),
    ),
    (
        "CUDA",
        re.compile(r"\bCUDA\b|\bcuda\b|Cuda|cudaError|CUDA_ERROR_|\bcuInit\b|\bNVML\b|cuDNN|CUBLAS|cublas"),
    ),
    ("Ray", re.compile(r"\bray\b|\bRay\b|raylet|RayWorker|placement group|ActorDiedError|RayTaskError")),
    (
        "launcher",
        re.compile(
            r"torch\.distributed\.elastic|ChildFailedError|torchrun|mpirun|\bsrun\b|exitcode|exit code|Killed|SIGKILL|SIGTERM|Signals\."
        ),
    ),
    (
        "Gloo/network",
        re.compile(r"\bGloo\b|gloo|Connection refused|No route to host|timed out|TCPStore|rendezvous"),
    ),
    (
        "serving framework",
        re.compile(r"\bvllm\b|\bvLLM\b|\bsglang\b|\bSGLang\b|text-generation-launcher|EngineCore|\bTGI\b"),
    ),
    ("PyTorch C++", re.compile(r"c10::Error|terminate called after throwing|\bc10::|\bat::")),
    ("Python", re.compile(r"(?:^|\s)(?:[\w.]+\.)?[A-Z]\w*(?:Error|Exception)\b|Traceback")),
)
_PYTHON_LAYER = dict(LAYERS)["Python"]
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_STOP = frozenset(
    "the and for with not this that from error failed failure was are has have been into while when "
    "exception runtimeerror valueerror info warn warning line file none true false".split()
)
GUESSES = 3
MIN_OVERLAP = 0.25


@dataclass(frozen=True)
class Guess:
    cause: str
    signature: str
    score: float


# The layer of a line that carries an error code is the code's table (data/error_codes/*.yaml): an
# NCCL WARN "Cuda failure 217" or a bare "Invalid device ordinal" was raised by CUDA.
CODE_LAYERS = {"cuda": "CUDA", "cu_driver": "CUDA", "hip": "ROCm/HIP", "ze": "Level Zero/SYCL"}


def layer_of(text: str, code_table: str = "") -> str:
    if code_table in CODE_LAYERS:
        return CODE_LAYERS[code_table]
    # the message first; then the prefix a launcher put before it (`vllm-1  | `, `(RayWorkerWrapper pid=1)`),
    # which names the framework better than a bare Python exception name does
    message = strip_prefixes(text)
    for candidate in (message, text):
        for name, pattern in LAYERS:
            if name != "Python" and pattern.search(candidate):
                return name
    return "Python" if _PYTHON_LAYER.search(message) else "unknown"


def _words(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP)


def nearest_causes(text: str, kb: KnowledgeBase, limit: int = GUESSES) -> list[Guess]:
    """Causes of the hand-written signatures whose examples overlap the line most (Jaccard)."""
    words = _words(text)
    if not words:
        return []
    best: dict[str, Guess] = {}
    for sig in kb.signatures:
        if sig.id.startswith("code.") or not sig.causes:
            continue
        for example in sig.examples:
            ex = _words(example)
            if not ex:
                continue
            score = len(words & ex) / len(words | ex)
            cause = sig.causes[0]
            if score >= MIN_OVERLAP and (cause not in best or score > best[cause].score):
                best[cause] = Guess(cause, sig.id, round(score, 2))
    return sorted(best.values(), key=lambda g: -g.score)[:limit]


_EXCEPTION = re.compile(
    r"(?:^|\s)(?:[\w.]+\.)?[A-Z]\w*(?:Error|Exception)\b:|CUDA [Ee]rror|NCCL WARN|CCL_ERROR|\(\s*\d+\) \|ERROR\||FATAL|terminate called"
)


# A line its own logger filed as information ("NCCL INFO NET/Plugin: Failed to find ncclNetPlugin_v8 symbol", NCCL's
# probe of a plugin's interface versions; vLLM's `INFO 12-01 10:00:00 ...`): it may hold "failed", but its program
# did not call it an error, so it is never the first error. Only loggers whose INFO is never a failure: NCCL reports
# failures as WARN (src/include/debug.h, NCCL_LOG_INFO vs NCCL_LOG_WARN), vLLM as ERROR/WARNING (vllm/logger.py
# _FORMAT "%(levelname)s %(asctime)s", _DATE_FORMAT "%m-%d %H:%M:%S"); other tools log a failure at INFO
# (Determined's "INFO: container failed with non-zero exit code").
_INFO_LEVEL = re.compile(r"\b[NR]CCL INFO\b|\bINFO \d\d-\d\d \d\d:\d\d:\d\d\b")


def first_error(
    lines: list[tuple[str, int, str]], code_lines: Collection[tuple[str, int]] = ()
) -> tuple[str, int, str] | None:
    """The first exception-like line in log order (with several ranks, the first to fail is usually
    the cause and the others follow it), else the last kept error line (a traceback ends with it).
    A line that carries an error code (`code_lines`: (source, line)) is exception-like whatever its
    words. Generic wrappers ("Engine core initialization failed", ActorDiedError, ...) come last:
    they only say that the real error is elsewhere. A line logged at an information level is none
    (None when only such lines are left)."""

    def exception_like(src: str, line: int, text: str) -> bool:
        return (src, line) in code_lines or bool(_EXCEPTION.search(strip_prefixes(text)))

    lines = [e for e in lines if exception_like(*e) or not _INFO_LEVEL.search(e[2])]
    specific = [e for e in lines if not is_generic(e[2])]
    for src, line, text in specific:
        if exception_like(src, line, text):
            return src, line, text
    if specific:
        return specific[-1]
    for src, line, text in lines:
        if exception_like(src, line, text):
            return src, line, text
    return lines[-1] if lines else None
