"""The context a log carries: the container command the user pasted above the error.

The scanner keeps each line that starts a container command (`docker run`, `podman run`,
`nvidia-docker run`, ...) with its backslash continuation lines (`capture_span`, bounded; only on
those lines, so a GiB of NCCL output costs nothing here), and the line after a bare
`torch.cuda.is_available()` in a REPL. After the scan, `add_quoted_facts` has `deploy/logquote.py`
(audit's own `docker run` front-end) read each command and records what it says as log facts
prefixed `cmd_` (cmd_gpu_request, cmd_gpu_count, cmd_shm, cmd_kfd, cmd_dri, ...), each with the
line of the command. `differential.py` then lets these facts pick among the causes an ambiguous
symptom can have.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tpdoctor.explain import p2p_bandwidth, topology
from tpdoctor.explain.engine import Buffer
from tpdoctor.redact import clip

if TYPE_CHECKING:
    from tpdoctor.explain.scanner import ScanResult

# gfix44: the service keys that start a pasted compose fragment's capture (deploy/logquote.py FRAGMENT_KEYS; the
# `ipc`/`runtime` values spelled out so that the literals stay longer than 5 bytes and rare in logs; compose's
# service-level `gpus:` is left to the lines around it: 5 bytes)
FRAGMENT_LITERALS = ("deploy:", "devices:", "shm_size:", "ipc: host", "runtime: nvidia")
_FRAGMENT_KEY = re.compile(rb"^[ \t]*(?:deploy|devices|shm_size|ipc|runtime|gpus)[ \t]*:(?:[ \t]|$)")
_FRAGMENT_STOP = re.compile(rb"^[ \t]*(?:services|apiVersion|kind|containers|spec)[ \t]*:(?:[ \t]|$)")

# Where a pasted container command starts (deploy/logquote.py reads them; podman/nerdctl share
# docker's run syntax; `nvidia-docker run` is the NVIDIA/nvidia-docker v2 wrapper).
CAPTURE_LITERALS = (
    "docker run ",
    "podman run ",
    "nerdctl run ",
    "docker container run ",
    "podman container run ",
    # `create` takes run's flags ("similar to docker run -d except the container is never started", moby
    # man/src/container/create.md): a script that creates the container and starts it later (`docker create ...`,
    # then `docker start -a`) quotes it this way
    "docker create ",
    "podman create ",
    "nerdctl create ",
    "docker container create ",
    "podman container create ",
    "is_available()",
    "services:",
    "apiVersion:",
    # gfix44: a compose service pasted without `services:` (explain/context.py _fragment), from its GPU-setup keys
    *FRAGMENT_LITERALS,
    topology.CAPTURE_LITERAL,  # an `nvidia-smi topo -m` matrix (explain/topology.py, read by explain/hang.py)
    topology.ROCM_LITERAL,  # rocm-smi's "Link Type between two GPUs" matrix
    p2p_bandwidth.CAPTURE_LITERAL,  # cuda-samples p2pBandwidthLatencyTest's bandwidth matrices (glearn12b)
)
MAX_QUOTED = 8  # commands kept per log: the first ones are those the user ran
MAX_SPAN_LINES = 60  # continuation lines followed
MAX_SPAN_BYTES = 16 << 10
MAX_YAML_LINES = 200  # a compose file's services
_REPL_LINES = 2  # `>>> torch.cuda.is_available()` then `False` (or IPython's `Out[2]: False`)
# Code compares (`is_available() == False`, `is False`) are not statements of a result: left out.
# collect_env's "Is CUDA available: False" is left out on purpose: bug reports often run it outside the
# container (or on a CPU box), so it says nothing about the run that failed.
_CUDA_FALSE = re.compile(
    r"(?P<api>cuda|xpu)\.is_available\(\)[`'\"]?(?:\s|Out\[\d+\]:)*"
    # glearn40a: "torch.cuda.is_available() and it returned False" (UKPLab/EasyNMT#32)
    r"(?:(?:(?:and|which|but)\s+(?:it\s+)?)?(?:=|->|:|returns?|returned|gives?|gave|prints?|printed|outputs?)\s*)?[`'\"]?False\b"
)


# a container command quoted inside a sentence, between double quotes or backticks (glearn40a)
_INLINE_RUN = re.compile(r"[\"`](?P<cmd>(?:sudo\s+)?(?:docker|podman|nerdctl)(?:\s+container)?\s+run\s[^\"`\n]+)[\"`]")


def capture_span(block: Buffer, start: int, block_end: int) -> str:
    """The text of the line at `start` and the lines that continue it (a trailing backslash), or for a
    REPL `is_available()` the next two lines; never more than MAX_SPAN_LINES / MAX_SPAN_BYTES."""
    limit = min(block_end, start + MAX_SPAN_BYTES)
    end = block.find(b"\n", start, limit)
    end = limit if end < 0 else end
    first = bytes(block[start:end])
    if topology.CAPTURE_LITERAL.encode() in first:
        return topology.capture(block, start, end, limit)
    if topology.ROCM_LITERAL.encode() in first:
        return topology.capture_rocm(block, start, end, limit)
    if p2p_bandwidth.CAPTURE_LITERAL.encode() in first:
        return p2p_bandwidth.capture(block, start, end, limit)
    if b"services:" in first:
        return _yaml_block(block, start, end, limit) if first.strip() == b"services:" else ""
    if b"apiVersion:" in first:
        return _manifest(block, start, end, limit) if first.strip().startswith(b"apiVersion:") else ""
    if _FRAGMENT_KEY.match(first):
        return _fragment(block, start, end, limit)
    if any(k.encode() in first for k in FRAGMENT_LITERALS):
        return ""  # the words on a line of prose or output: no fragment starts here
    extra = _REPL_LINES if b"is_available()" in first else 0
    lines = 0
    while end < limit and lines < MAX_SPAN_LINES:
        line = block[start:end].rstrip(b" \t\r")
        if not (line.endswith(b"\\") or extra > 0):
            break
        extra -= 1
        lines += 1
        nxt = block.find(b"\n", end + 1, limit)
        end = limit if nxt < 0 else nxt
    return bytes(block[start:end]).decode("utf-8", "replace")


_YAML_LINE = re.compile(rb"^(?:\s+\S|[\w.\-/\"']+\s*:(?:\s|$)|- |#|---\s*$|\s*$)")


def _manifest(block: Buffer, start: int, end: int, limit: int) -> str:
    """A Kubernetes manifest from its `apiVersion:` line: the lines that still read as YAML (top-level keys,
    indented lines, list items, comments, `---`), so the log text after it is left out."""
    lines = 0
    while end < limit and lines < MAX_YAML_LINES:
        nxt = block.find(b"\n", end + 1, limit)
        stop = limit if nxt < 0 else nxt
        if not _YAML_LINE.match(bytes(block[end + 1 : stop]).rstrip(b"\r")):
            break
        end = stop
        lines += 1
    return bytes(block[start:end]).decode("utf-8", "replace")


def _indent(line: bytes) -> int:
    return len(line) - len(line.lstrip(b" \t"))


def _fragment(block: Buffer, start: int, end: int, limit: int) -> str:
    """gfix44: a compose service pasted without `services:`, from the first of its GPU-setup keys (`deploy:`,
    `devices:`, `shm_size:`, `ipc:`, `runtime:`, `gpus:`): back to the first line of the YAML it sits in (its
    service's name, or the body's first key), then on while lines read as YAML no less indented than that first
    line. Empty when the block has `services:` or a Kubernetes key above (those are read whole, or not as compose),
    or when an earlier line of the same fragment starts it already. deploy/logquote.py fragment_facts decides
    whether it is compose."""
    lo = max(0, start - MAX_SPAN_BYTES)
    top = start
    seen = 0
    while top > lo and seen < MAX_YAML_LINES:
        prev = block.rfind(b"\n", lo, top - 1)
        if prev < 0 and lo > 0:
            break  # the line above starts before the bound: stop under it
        line = bytes(block[prev + 1 : top - 1]).rstrip(b"\r")
        if not line.strip() or not _YAML_LINE.match(line):
            break
        if _FRAGMENT_STOP.match(line) or _FRAGMENT_KEY.match(line):
            return ""
        top = prev + 1
        seen += 1
    head = bytes(block[top : block.find(b"\n", top, limit) if block.find(b"\n", top, limit) >= 0 else limit])
    floor = _indent(head)
    lines = 0
    while end < limit and lines < MAX_YAML_LINES:
        nxt = block.find(b"\n", end + 1, limit)
        stop = limit if nxt < 0 else nxt
        line = bytes(block[end + 1 : stop]).rstrip(b"\r")
        if not line.strip() or not _YAML_LINE.match(line) or _indent(line) < floor or _FRAGMENT_STOP.match(line):
            break
        end = stop
        lines += 1
    return bytes(block[top:end]).decode("utf-8", "replace")


def _yaml_block(block: Buffer, start: int, end: int, limit: int) -> str:
    """A compose file's `services:` and the indented (or blank) lines under it."""
    indent = len(block[start:end]) - len(block[start:end].lstrip())
    lines = 0
    while end < limit and lines < MAX_YAML_LINES:
        nxt = block.find(b"\n", end + 1, limit)
        stop = limit if nxt < 0 else nxt
        line = bytes(block[end + 1 : stop])
        body = line.lstrip()
        if body and (len(line) - len(body) <= indent) and not body.startswith(b"#"):
            break
        end = stop
        lines += 1
    return bytes(block[start:end]).decode("utf-8", "replace")


def add_quoted_facts(scan: ScanResult) -> None:
    """Record what the quoted commands say as `cmd_*` log facts (first command first)."""
    for line, source, text in scan.quoted:
        head = text.split("\n", 1)[0]
        if topology.CAPTURE_LITERAL in head or topology.ROCM_LITERAL in head:
            for key, value in topology.matrix_facts(text).items():
                scan.facts.add(key, value, line, source)
            continue
        if p2p_bandwidth.CAPTURE_LITERAL in head:
            for key, value in p2p_bandwidth.collapse_facts(text).items():
                scan.facts.add(key, value, line, source)
            continue
        if "is_available()" in text:
            m = _CUDA_FALSE.search(text)
            if m:
                api = m.group("api") or "cuda"
                scan.facts.add(f"{api}_unavailable", f"torch.{api}.is_available() False", line, source)
            continue
        # deploy's front-ends cost ~70 ms to import: only a log that quotes a command pays it
        from tpdoctor.deploy.logquote import compose_facts, run_facts

        head = text.lstrip()
        if head.startswith("apiVersion:"):
            from tpdoctor.deploy.logquote import manifest_facts

            facts = manifest_facts(text)
        else:
            facts = compose_facts(text) if head.startswith("services:") else run_facts(text)
            if not facts and not head.startswith("services:") and any(
                _FRAGMENT_KEY.match(ln.encode()) for ln in text.splitlines()[: MAX_YAML_LINES + 1]
            ):
                from tpdoctor.deploy.logquote import fragment_facts

                facts = fragment_facts(text)
            if not facts:
                # glearn40a: a command quoted inside a sentence ('started it with "docker run -d ... image"',
                # UKPLab/EasyNMT#32): the quoted part alone
                inline = _INLINE_RUN.search(text.split("\n", 1)[0])
                if inline:
                    facts = run_facts(inline.group("cmd"))
                    text = inline.group("cmd")
        if not facts:
            continue
        for key, value in facts.items():
            scan.facts.add(key, value, line, source)
        service = facts.get("cmd_service")
        shown = f"{facts['cmd_engine']} container {service}" if service else text.splitlines()[0].strip()
        scan.facts.add("cmd_line", clip(shown, 200), line, source)
