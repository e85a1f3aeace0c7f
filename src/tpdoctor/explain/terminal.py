"""Terminal-error arbitration: the error the process finally died of decides between guesses.

A log often holds container-looking warnings early on (a /dev/shm note, an NCCL WARN, a retried
connection) and then dies of something else: CUDA out of memory, a missing Python module, a model
name the Hub does not know, a tensor shape error. The scanner keeps the last exception line of the
log (`ScanResult.terminal`, generic wrappers such as "Engine core initialization failed" left out).

- If that line is itself evidence of a container cause, that cause is `at_terminal`: it ranks
  before other causes of the same strength (the closest evidence to the error that ended the run).
- If it is a failure with no container cause (a `root: not-container` signature, an error code
  classed `not-container`, or one of the families below), every cause that no line *proves* and
  that the terminal line does not back is demoted to a notice: it is shown as a guess, never as
  the reason the run failed.

The families are read from the code that raises them; each alternative names its source. They are
checked on the one terminal line only (the same text printed as a warning earlier, e.g. a tokenizer
that "is not a local folder" before a fallback, changes nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tpdoctor.explain.death import OOM, match_groups, signal_of
from tpdoctor.explain.normalize import strip_prefixes
from tpdoctor.explain.scanner import ScanResult, Terminal
from tpdoctor.explain.signatures import KnowledgeBase

NOT_CONTAINER_FAMILIES: tuple[tuple[str, str], ...] = (
    # CPython Lib/importlib/_bootstrap.py `_ERR_MSG_PREFIX = 'No module named '` (3.3-3.13, ModuleNotFoundError
    # since 3.6); Python/ceval.c import_from: "cannot import name %R from %R (%S)"; a compiled extension
    # built against another torch/CUDA: the dynamic loader's "undefined symbol: ..." (glibc dlerror).
    # A driver or communication library the host or the runtime injects (libcuda, libnvidia-*, libnccl, libccl,
    # Level Zero, ROCr/HIP) missing a symbol is the host's driver against the image: not this family.
    (
        "Python import",
        r"ModuleNotFoundError: No module named|ImportError: cannot import name"
        r"|ImportError: (?!.*(?:libcuda|libnvidia|libnccl|librccl|libccl|libze_|libhsa|libamdhip)).*undefined symbol:",
    ),
    # huggingface_hub src/huggingface_hub/utils/_http.py hf_raise_for_status (v0.14-v0.26):
    # RepositoryNotFoundError "Repository Not Found for url", GatedRepoError "Cannot access gated repo for url",
    # EntryNotFoundError / RevisionNotFoundError; requests/models.py raise_for_status "%s Client Error: %s for url";
    # transformers src/transformers/utils/hub.py cached_file: "... is not a local folder and is not a valid model
    # identifier listed on 'https://huggingface.co/models'", "... does not appear to have a file named ...",
    # "You are trying to access a gated repo.", "We couldn't connect to 'https://huggingface.co'".
    (
        "model not found or not authorised (Hugging Face Hub)",
        r"RepositoryNotFoundError|GatedRepoError|RevisionNotFoundError|EntryNotFoundError|LocalEntryNotFoundError"
        r"|Repository Not Found for url|Cannot access gated repo|40[13] Client Error"
        r"|is not a local folder and is not a valid model identifier|does not appear to have a file named"
        r"|You are trying to access a gated repo|We couldn't connect to 'https://huggingface\.co'",
    ),
    # transformers models/auto/configuration_auto.py AutoConfig.from_pretrained: "The checkpoint you are trying
    # to load has model type `%s` but Transformers does not recognize this architecture"; tokenization_auto.py
    # AutoTokenizer.from_pretrained: "Tokenizer class %s does not exist or is not currently imported.";
    # vLLM vllm/model_executor/models/registry.py _raise_for_unsupported: "Model architectures %s are not
    # supported for now" (v0.2-v0.11).
    (
        "model config or tokenizer",
        r"Transformers does not recognize this architecture|Tokenizer class \S+ does not exist"
        r"|Model architectures \[.*\] are not supported for now",
    ),
    # vLLM v1 vllm/v1/core/kv_cache_utils.py check_enough_kv_cache_memory: "No available memory for the cache
    # blocks" and "The model's max seq len (%d) is larger than the maximum number of tokens that can be stored in
    # KV cache (%d)" (v0.6-v0.11, v0 worker.py raise_if_cache_size_invalid has the same wording).
    (
        "KV cache does not fit",
        r"No available memory for the cache blocks|is larger than the maximum number of tokens that can be stored in KV cache",
    ),
    # torch: c10/cuda/CUDACachingAllocator.cpp "CUDA out of memory. Tried to allocate" (OutOfMemoryError since 1.13),
    # its HIP twin; aten/src/ATen/ExpandUtils.cpp infer_size_impl "The size of tensor a (%d) must match the size of
    # tensor b (%d)"; aten/src/ATen/native/LinearAlgebra.cpp "mat1 and mat2 shapes cannot be multiplied";
    # aten/src/ATen/TensorIterator.cpp / native/TensorCompare "Expected all tensors to be on the same device";
    # "expected scalar type %s but found %s" (ATen dispatch checks); torch/nn/modules/module.py load_state_dict
    # "size mismatch for %s: copying a param with shape".
    (
        "tensor shape, dtype or memory (PyTorch)",
        r"(?:CUDA|HIP) out of memory|OutOfMemoryError|must match the size of tensor b|mat1 and mat2 shapes cannot be multiplied"
        r"|Expected all tensors to be on the same device|expected scalar type \w+ but found \w+|size mismatch for \S+: copying a param",
    ),
    # A program and its libraries that do not fit each other: CPython Python/ceval.c / getargs.c "%U() got an unexpected
    # keyword argument '%S'", Objects/moduleobject.c "module '%U' has no attribute '%U'" (not Objects/object.c's
    # "'%.100s' object has no attribute": 'NoneType' object ... follows an earlier failure as often as not);
    # torch/_inductor/exc.py InductorError (torch 2.6+, a subclass of
    # torch/_dynamo/exc.py BackendCompilerFailed, whose name ends the line the scanner keeps only in that form); vLLM >= 0.10 config classes are pydantic dataclasses:
    # pydantic_core "N validation error(s) for ModelConfig/CacheConfig/..." (the message is on the next line, so only
    # configs about the model and its memory: VllmConfig, ParallelConfig and DeviceConfig also refuse GPU counts and
    # "Failed to infer device type", which have container causes). Not an InductorError that wraps a
    # subprocess.CalledProcessError: that is the C compiler Triton/Inductor ran (triton/runtime/build.py _build
    # subprocess.check_call(cc_cmd), e.g. cuda_utils.c linked with -l:libcuda.so.1) failing, and why is in the
    # compiler's own output (ld: cannot find -l:libcuda.so.1: the driver library off the linker's path).
    (
        "version or configuration mismatch",
        r"got an unexpected keyword argument|module '[\w.]+' has no attribute '|InductorError(?!: CalledProcessError)"
        r"|validation errors? for (?:ModelConfig|CacheConfig|SchedulerConfig|LoadConfig|SpeculativeConfig)",
    ),
    # A GPU the build has no kernels for: CUDA runtime cudaErrorNoKernelImageForDevice "no kernel image is available
    # for execution on the device" (driver_types.h), HIP "invalid device function"; torch/cuda/__init__.py
    # _check_capability "with CUDA capability sm_%d%d is not compatible with the current PyTorch installation".
    # vLLM vllm/worker/worker.py _check_if_gpu_supports_dtype (v0.2-v0.6), vllm/platforms/cuda.py (v0.7+):
    # "Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your %s GPU has compute capability".
    (
        "no kernels for this GPU",
        r"no kernel image is available for execution|is not compatible with the current PyTorch installation"
        r"|Bfloat16 is only supported on GPUs with compute capability",
    ),
)
_FAMILIES = re.compile("|".join(f"(?P<f{i}>{p})" for i, (_name, p) in enumerate(NOT_CONTAINER_FAMILIES)))


@dataclass(frozen=True)
class TerminalVerdict:
    """What the terminal line is: `container` (a signature with a cause matched it), `not-container` (with
    `why`, the family or signature that says so) or `unknown`."""

    terminal: Terminal
    kind: str
    why: str = ""


def classify(scan: ScanResult, kb: KnowledgeBase) -> TerminalVerdict | None:
    t = scan.terminal
    if t is None:
        return None
    sigs = [kb.signature(s) for s in t.sigs]
    if any(s.causes for s in sigs):
        return TerminalVerdict(t, "container")
    for s in sigs:
        if s.root == "not-container" or (s.code is not None and s.code.klass == "not-container"):
            return TerminalVerdict(t, "not-container", s.id)
    m = _FAMILIES.search(t.text)
    if m and m.lastgroup:
        return TerminalVerdict(t, "not-container", NOT_CONTAINER_FAMILIES[int(m.lastgroup[1:])][0])
    death = _death_on(t.text, kb)
    # a run whose last exception reports a child killed by the OOM killer or SIGKILL died of memory; unless a child
    # died of SIGBUS somewhere (the kills are then the launcher's cleanup). Not SIGSEGV: UCX and older NCCL (signature nccl.shmopen-crash)
    # crash so on a full /dev/shm (a dev log: UCX's "Caught signal 11" in ucp_address_unpack)
    if death in _NOT_CONTAINER_DEATHS and "SIGBUS" not in scan.deaths:
        return TerminalVerdict(t, "not-container", _NOT_CONTAINER_DEATHS[death])
    return TerminalVerdict(t, "unknown")


_NOT_CONTAINER_DEATHS = {
    OOM: "a child killed by the OOM killer",
    "SIGKILL": "a child killed by SIGKILL, usually the OOM killer",
}


def _death_on(text: str, kb: KnowledgeBase) -> str | None:
    """The signal a child died of, as this one line reports it (the `death-*` fact patterns, explain/death.py)."""
    line = strip_prefixes(text)
    for fact in kb.facts:
        if fact.id.startswith("death-") and any(lit in line for lit in fact.literals):
            m = fact.regex.search(line)
            if m:
                name = signal_of(match_groups(m))
                if name is not None:
                    return name
    return None


def not_container_reason(text: str, kb: KnowledgeBase) -> str:
    """Why one line is a failure with no container cause ("" when it is not known to be one): a family above,
    a `root: not-container` signature or an error code classed `not-container` (checked on this line only)."""
    line = strip_prefixes(text)
    for sig in kb.signatures:  # signatures first, as classify() does
        if sig.root != "not-container" and (sig.code is None or sig.code.klass != "not-container"):
            continue
        if any(lit in line for lit in sig.literals) and sig.regex.search(line):
            return sig.id
    m = _FAMILIES.search(text)
    if m and m.lastgroup:
        return NOT_CONTAINER_FAMILIES[int(m.lastgroup[1:])][0]
    return ""
