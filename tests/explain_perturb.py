"""Metamorphic perturbations of log lines: the same message as users paste it, wrapped and decorated
by the tool that printed or stored it. Each transformation reproduces one real output format (its
source is cited), so `explain` must name the same signature for the perturbed text as for the line.

Shared by tests/test_explain_perturbations.py and bench/explain_robustness.py.
"""

from __future__ import annotations

import html
import io
import re
import string
import textwrap
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tpdoctor.explain.scanner import Scanner, ScanResult
from tpdoctor.explain.signatures import KnowledgeBase


@dataclass(frozen=True)
class Perturbation:
    name: str
    source: str  # the tool (repository, file, function) whose output format this reproduces
    apply: Callable[[str], str | None]  # one log line -> the text a user pastes, None: does not apply


def _prefix(p: str) -> Callable[[str], str]:
    return lambda line: p + line


def _json_file(line: str) -> str:
    # moby daemon/logger/jsonfilelog/jsonlog/jsonlogbytes.go ffjsonWriteJSONBytesAsString (v20-v27):
    # `\` and `"` backslashed, \n \r as such, other control bytes and < > & as \u00XX.
    out = []
    for ch in line + "\n":
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch < " " or ch in "<>&":
            out.append(f"\\u00{ord(ch):02x}")
        else:
            out.append(ch)
    return '{"log":"' + "".join(out) + '","stream":"stderr","time":"2026-12-01T12:00:00.123456789Z"}'


def _soft_wrap(width: int) -> Callable[[str], str | None]:
    # a user (or an issue form, an e-mail client) wraps a long line at `width` between words
    def wrap(line: str) -> str | None:
        if len(line) <= width:
            return None
        return "\n".join(textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False))

    return wrap


def _hard_wrap(width: int) -> Callable[[str], str | None]:
    # a terminal (tmux/screen copy mode, `script` typescripts) breaks at exactly `width` columns
    def wrap(line: str) -> str | None:
        if len(line) <= width:
            return None
        return "\n".join(line[i : i + width] for i in range(0, len(line), width))

    return wrap


_SENTENCE_WORD = re.compile(r"[A-Za-z][a-z]+ ")


def _case_drift(line: str) -> str | None:
    # the first letter of a sentence-like message changes case (quoted in prose, re-raised with a
    # prefix that lower-cases it: `RuntimeError: failed to ...` vs `Failed to ...`); identifiers
    # (RuntimeError, NCCL, cudaErrorX) keep their case in every real form, so they are left alone
    if not _SENTENCE_WORD.match(line):
        return None
    return line[0].swapcase() + line[1:]


# A host name under a common top-level domain or an IPv4 address, with its port and path, as a linkifier
# finds it (trailing punctuation is not part of the link). Written here apart from normalize's rule, so that
# the two can disagree.
_LINKABLE = re.compile(
    r"(?<![\w.@/-])(?:(?:[a-z0-9-]+\.)+(?:com|org|net|io|ai|gov|edu)|\d{1,3}(?:\.\d{1,3}){3})"
    r"(?![\w-]|\.\w)(?::\d+)?(?:/[^\s,;()\[\]{}\"'`<>]*)?"
)


def _autolink(line: str) -> str | None:
    # a renderer that links bare host names: `[nvidia.com/gpu](http://nvidia.com/gpu):     0`,
    # `[127.0.0.1:39726](http://127.0.0.1:39726/)` (stored issue copies, tests/data/explain-real:
    # statcan-aaw-1297, trl-3706)
    def link(m: re.Match[str]) -> str:
        token = m.group(0).rstrip(".:!?")
        rest = m.group(0)[len(token) :]
        target = token + ("/" if "/" not in token else "")
        return f"[{token}](http://{target}){rest}"

    out = _LINKABLE.sub(link, line)
    return None if out == line else out


def _inline_code(line: str) -> str | None:
    return None if "`" in line else f"`{line}`"


def _is_punct(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def _smartquotes(line: str) -> str:
    # markdown-it lib/rules_core/smartquotes.mjs process_inlines, on one text run: a quote that can both
    # open and close opens after punctuation and closes before it; an opener pairs with the next closer of
    # its kind; a lone `'` that cannot open is an apostrophe; unpaired openers stay as typed
    chars = list(line)
    stack: list[tuple[int, str]] = []
    for i, ch in enumerate(chars):
        if ch not in "'\"":
            continue
        last = line[i - 1] if i > 0 else " "
        nxt = line[i + 1] if i + 1 < len(line) else " "
        last_ws, next_ws = last.isspace(), nxt.isspace()
        last_p, next_p = _is_punct(last), _is_punct(nxt)
        can_open = not next_ws and (not next_p or last_ws or last_p)
        can_close = not last_ws and (not last_p or next_ws or next_p)
        if ch == '"' and nxt == '"' and last.isdigit():
            can_open = can_close = False
        if can_open and can_close:
            can_open, can_close = last_p, next_p
        if not can_open and not can_close:
            if ch == "'":
                chars[i] = "\u2019"
            continue
        if can_close:
            for k in range(len(stack) - 1, -1, -1):
                at, kind = stack[k]
                if kind == ch:
                    chars[at] = "\u2018" if ch == "'" else "\u201c"
                    chars[i] = "\u2019" if ch == "'" else "\u201d"
                    del stack[k:]
                    break
            else:
                if can_open:
                    stack.append((i, ch))
                elif ch == "'":
                    chars[i] = "\u2019"
            continue
        stack.append((i, ch))
    return "".join(chars)


def _typographer(line: str) -> str | None:
    # markdown-it/remarkable `typographer: true` (Discourse forums; lib/rules_core/replacements.mjs and
    # smartquotes.mjs) on a log pasted outside a code block: `...` -> …, `--` between words -> –, quotes curled
    out = _smartquotes(line).replace("...", "\u2026")
    out = re.sub(r"(^|[^-\s])--(?=[^-\s]|$)", "\\1\u2013", out)
    return None if out == line else out


PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation("identity", "the example as written", lambda line: line),
    Perturbation(
        "compose-v2",
        'docker/compose v2 cmd/formatter/logs.go LogConsumer: fmt.Sprintf("%-*s |", width, name)',
        _prefix("vllm-1  | "),
    ),
    Perturbation(
        "compose-v2-colour",
        "docker/compose v2 cmd/formatter/colors.go ansiColor: \\033[<code>m<prefix>\\033[0m",
        _prefix("\x1b[36mvllm-1  |\x1b[0m "),
    ),
    Perturbation(
        "compose-v1",
        "docker/compose 1.29 compose/cli/log_printer.py build_log_prefix: name.ljust(width) + ' | '",
        _prefix("vllm_1  | "),
    ),
    Perturbation(
        "kubectl-prefix",
        "kubernetes staging/src/k8s.io/kubectl/pkg/cmd/logs/logs.go addPrefixIfNeeded: [pod/<pod>/<container>] ",
        _prefix("[pod/vllm-0/vllm] "),
    ),
    Perturbation(
        "rfc3339-timestamp",
        "kubectl logs --timestamps / docker logs -t: time.RFC3339Nano before the line",
        _prefix("2026-12-01T12:00:00.123456789Z "),
    ),
    Perturbation(
        "cri-log-file",
        "kubernetes pkg/kubelet/kuberuntime/logs/logs.go parseCRILog: <RFC3339Nano> <stream> <P|F> <line>",
        _prefix("2026-12-01T12:00:00.123456789Z stderr F "),
    ),
    Perturbation(
        "journald",
        "systemd journalctl -o short (default): 'Mon DD HH:MM:SS host ident[pid]: '",
        _prefix("Dec 01 12:00:00 gpu-node-3 dockerd[1234]: "),
    ),
    Perturbation(
        "ray-worker",
        "ray python/ray/_private/worker.py print_worker_logs: (<actor> pid=<pid>, ip=<ip>)",
        _prefix("(RayWorkerWrapper pid=1978, ip=10.0.0.8) "),
    ),
    Perturbation(
        "ray-dedup-suffix",
        "ray python/ray/_private/ray_logging/__init__.py LogDeduplicator: ' [repeated Nx across cluster]'",
        lambda line: f"(RayWorkerWrapper pid=1978) {line} [repeated 3x across cluster]",
    ),
    Perturbation(
        "torchrun-tee",
        "pytorch torch/distributed/elastic/agent/server/local_elastic_agent.py: f'[{role}{local_rank}]:'",
        _prefix("[default0]:"),
    ),
    Perturbation(
        "torch-rank-c10",
        "pytorch c10/util/Logging.cpp (2.4+): [rank0]:[W1201 12:00:00.123456789 file.cpp:12] ",
        _prefix("[rank0]:[W1201 12:00:00.123456789 ProcessGroupNCCL.cpp:1234] "),
    ),
    Perturbation("slurm-srun-l", "slurm src/srun/srun_job.c --label: '%d: ' task id", _prefix("0: ")),
    Perturbation(
        "glog",
        "google/glog src/logging.cc LogMessage::Init: 'E1201 12:00:00.123456  1234 file.cc:12] '",
        _prefix("E1201 12:00:00.123456  1234 collective_ops.cc:123] "),
    ),
    Perturbation(
        "python-logging",
        "cpython Lib/logging/__init__.py BASIC_FORMAT '%(levelname)s:%(name)s:%(message)s'",
        _prefix("ERROR:root:"),
    ),
    Perturbation(
        "vllm-logger",
        "vllm vllm/logger.py _FORMAT '%(levelname)s %(asctime)s [%(filename)s:%(lineno)d] %(message)s'",
        _prefix("ERROR 12-01 10:00:00 [multiproc_executor.py:123] "),
    ),
    Perturbation(
        "vllm-logger-old",
        "vllm 0.4 vllm/logger.py _FORMAT '%(levelname)s %(asctime)s %(filename)s:%(lineno)d] %(message)s'",
        _prefix("ERROR 12-01 10:00:00 worker.py:123] "),
    ),
    Perturbation(
        "vllm-worker",
        "vllm v1 vllm/v1/executor/multiproc_executor.py: _add_prefix(..., f'VllmWorker rank={rank}', pid)",
        _prefix("(VllmWorker rank=1 pid=123) ERROR 12-01 10:00:00 [multiproc_executor.py:123] "),
    ),
    Perturbation(
        "vllm-enginecore",
        "vllm v1 vllm/v1/engine/core.py: process name EngineCore_<dp rank>, prefixed as (<name> pid=<pid>)",
        _prefix("(EngineCore_0 pid=4567) "),
    ),
    Perturbation(
        "sglang-logger",
        "sglang python/sglang/srt/utils.py configure_logger: '[%(asctime)s TP0] %(message)s'",
        _prefix("[2026-12-01 10:00:00 TP0] "),
    ),
    Perturbation(
        "tgi-tracing",
        "huggingface/text-generation-inference launcher: tracing_subscriber fmt '<ts> ERROR <target>: '",
        _prefix("2026-12-01T10:00:00.123456Z ERROR text_generation_launcher: "),
    ),
    Perturbation("md-quote", "GitHub markdown blockquote '> '", _prefix("> ")),
    Perturbation("md-quote-nested", "GitHub markdown nested blockquote '> > '", _prefix("> > ")),
    Perturbation("md-bullet", "GitHub markdown list item '- '", _prefix("- ")),
    Perturbation("md-numbered", "GitHub markdown ordered list '1. '", _prefix("1. ")),
    Perturbation("md-inline-code", "GitHub markdown inline code span `...`", _inline_code),
    Perturbation("md-autolink", "a renderer linking bare host names and addresses (see _autolink)", _autolink),
    Perturbation("html-escaped", "a log copied from an HTML page's source: html.escape", html.escape),
    Perturbation("docker-json-file", "moby jsonfilelog (see _json_file)", _json_file),
    Perturbation(
        "crlf", "a log saved on Windows: CRLF line ends", lambda line: line.replace("\n", "\r\n") + "\r"
    ),
    Perturbation("tab-indent", "a line indented with a tab (pasted traceback body)", _prefix("\t")),
    Perturbation("trailing-space", "trailing whitespace from a terminal copy", lambda line: line + "   \t"),
    Perturbation("soft-wrap-80", "a user/issue form wrapping at 80 columns between words", _soft_wrap(80)),
    Perturbation("soft-wrap-100", "wrapping at 100 columns between words", _soft_wrap(100)),
    Perturbation("soft-wrap-120", "wrapping at 120 columns between words", _soft_wrap(120)),
    Perturbation("hard-wrap-80", "a terminal copy broken at exactly 80 columns", _hard_wrap(80)),
    Perturbation("hard-wrap-120", "a terminal copy broken at exactly 120 columns", _hard_wrap(120)),
    Perturbation("case-drift", "first letter of a sentence-like message in the other case", _case_drift),
    Perturbation("typographer", "a forum's markdown typographer (see _typographer)", _typographer),
)

BY_NAME = {p.name: p for p in PERTURBATIONS}


def perturb(p: Perturbation, example: str) -> str | None:
    """The example (one line or several) as the perturbation prints it; None where it does not apply.
    Prefix-like transformations apply to every line of a multi-line example."""
    lines = example.split("\n")
    if p.name in (
        "soft-wrap-80",
        "soft-wrap-100",
        "soft-wrap-120",
        "hard-wrap-80",
        "hard-wrap-120",
        "case-drift",
        "md-autolink",
        "typographer",
    ):
        done = [p.apply(x) for x in lines]
        if all(d is None for d in done):
            return None
        return "\n".join(d if d is not None else x for d, x in zip(done, lines, strict=True))
    out = [p.apply(x) for x in lines]
    if any(o is None for o in out):
        return None
    return "\n".join(o for o in out if o is not None)


def all_examples(kb: KnowledgeBase) -> list[tuple[str, str]]:
    """(signature id, example) for every signature, hand-written and generated from the code tables."""
    return [(s.id, ex) for s in kb.signatures for ex in s.examples]


_SCANNERS: dict[int, Scanner] = {}


def recognised(kb: KnowledgeBase, sig_id: str, text: str) -> bool:
    """Does a scan of the text, between two lines of noise, find the signature?

    One Scanner per knowledge base (its literal database takes a while to compile), reset to a
    fresh state before each text."""
    scanner = _SCANNERS.get(id(kb))
    if scanner is None:
        scanner = _SCANNERS[id(kb)] = Scanner(kb)
    scanner.result = ScanResult(engine=scanner.engine.name)
    scanner._in_heap = {}
    scanner._order = 0
    scanner.scan_stream(io.BytesIO(f"noise before\n{text}\nnoise after\n".encode()), "t.log")
    return sig_id in scanner.result.signatures


def measure(
    kb: KnowledgeBase, perturbations: Iterable[Perturbation] = PERTURBATIONS
) -> dict[str, tuple[int, int, list[tuple[str, str]]]]:
    """perturbation name -> (recognised, applicable, misses as (signature id, perturbed text)).

    Examples that the plain scan does not recognise (none, by test_explain_signatures) are left out
    so that a miss is always the perturbation's doing."""
    examples = [(sid, ex) for sid, ex in all_examples(kb) if recognised(kb, sid, ex)]
    out: dict[str, tuple[int, int, list[tuple[str, str]]]] = {}
    for p in perturbations:
        ok = total = 0
        misses: list[tuple[str, str]] = []
        for sid, ex in examples:
            text = perturb(p, ex)
            if text is None:
                continue
            total += 1
            if recognised(kb, sid, text):
                ok += 1
            else:
                misses.append((sid, text))
        out[p.name] = (ok, total, misses)
    return out


def literal_intact(kb: KnowledgeBase, sig_id: str, text: str) -> bool:
    """Is one of the signature's literals (in any of its escaped/re-cased forms) whole on one line
    of the text? A wrap that cuts every literal leaves the prefilter nothing to find: the
    documented limit of wrap joining (docs/explain.md)."""
    from tpdoctor.explain.normalize import literal_forms

    sig = kb.signature(sig_id)
    forms = [f for lit in sig.literals for f in literal_forms(lit)]
    return any(f in line for line in text.split("\n") for f in forms)
