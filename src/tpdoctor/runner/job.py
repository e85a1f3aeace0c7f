"""What the wrapped command asks for: TP and PP sizes and the backend, read from its arguments.

Only a recognisable vLLM, ipex-llm or SGLang invocation is read (a `--tp` of some other program
means something else); `sh -c SCRIPT` / `bash -c SCRIPT` are looked into. Last flag wins, as in
argparse.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

TP_FLAGS = ("--tensor-parallel-size", "-tp", "--tp-size", "--tp")
PP_FLAGS = ("--pipeline-parallel-size", "-pp", "--pp-size", "--pp")
SHELLS = ("sh", "bash", "dash", "zsh", "ash")


@dataclass(frozen=True)
class Job:
    framework: str | None = None  # vllm | ipex-llm | sglang
    tp: int | None = None
    pp: int | None = None
    backend: str | None = None  # xpu when the command says so

    def describe(self) -> str:
        if self.framework is None:
            return "not a recognised vLLM/ipex-llm/SGLang command"
        parts = [self.framework]
        if self.tp is not None:
            parts.append(f"tp={self.tp}")
        if self.pp is not None:
            parts.append(f"pp={self.pp}")
        if self.backend:
            parts.append(f"device={self.backend}")
        return " ".join(parts)


def _tokens(argv: Sequence[str]) -> list[str]:
    """argv, with the script of `sh -c SCRIPT` (and `bash -lc`, `-ec`…) split like a shell would."""
    out = list(argv)
    if argv and argv[0].rsplit("/", 1)[-1] in SHELLS:
        for i, arg in enumerate(argv[1:-1], 1):
            if arg.startswith("-") and not arg.startswith("--") and "c" in arg:
                try:
                    out += shlex.split(argv[i + 1], comments=True)
                except ValueError:
                    pass
                break
    return out


def _framework(tokens: Sequence[str]) -> str | None:
    low = [t.lower() for t in tokens if not t.startswith("-")]
    if any("ipex_llm" in t or "ipex-llm" in t for t in low):
        return "ipex-llm"
    if any("sglang" in t for t in low):
        return "sglang"
    if any(t.rsplit("/", 1)[-1] == "vllm" or t.startswith("vllm.") or "/vllm/" in t for t in low):
        return "vllm"
    return None


def _flag_value(tokens: Sequence[str], flags: Sequence[str]) -> str | None:
    value: str | None = None
    for i, tok in enumerate(tokens):
        name, eq, inline = tok.partition("=")
        if name not in flags:
            continue
        if eq:
            value = inline
        elif i + 1 < len(tokens):
            value = tokens[i + 1]
    return value


def _positive(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    n = int(text)
    return n if n >= 1 else None


def infer_job(argv: Sequence[str]) -> Job:
    tokens = _tokens(argv)
    framework = _framework(tokens)
    if framework is None:
        return Job()
    device = (_flag_value(tokens, ("--device",)) or "").lower()
    backend = "xpu" if framework == "ipex-llm" or device == "xpu" else None
    return Job(
        framework=framework,
        tp=_positive(_flag_value(tokens, TP_FLAGS)),
        pp=_positive(_flag_value(tokens, PP_FLAGS)),
        backend=backend,
    )
