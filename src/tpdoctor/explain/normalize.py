"""Turn one raw log line into text the signature regexes can match reliably."""

from __future__ import annotations

import html
import re

# CSI sequences (colours, cursor moves) and two-byte escapes. Stripped per block, before the
# literal scan, because a colour code inside "NCCL WARN" would hide the literal.
ANSI_BYTES = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")

# Prefixes that multi-process launchers put in front of every line: Ray and vLLM workers,
# torch elastic ranks, mpirun tags, markdown quotes from pasted logs. Stripped repeatedly.
_PREFIX = re.compile(
    r"^(?:"
    r"\((?:[\w.]+) pid=\d+(?:, ip=[\d.:a-fA-F]+)?\)\s*"  # (RayWorkerWrapper pid=1978, ip=10.0.0.8)
    r"|\[rank\d+\]:\s*"  # [rank1]:
    r"|\[\d+,\d+\]<std(?:out|err)>:\s*"  # [1,2]<stdout>:
    r"|[\w.-]+ \[std(?:out|err)\]\s*"  # opt-1_3b.0 [stderr]
    r"|>\s+"  # > quoted
    r")"
)

DISPLAY_MAX = 500


def decode_line(raw: bytes | bytearray) -> str:
    """Bytes to text: invalid UTF-8 is replaced, never fatal; CR and NUL are dropped."""
    text = raw.decode("utf-8", errors="replace")
    if "\r" in text:
        text = text.rstrip("\r").replace("\r", " ")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def strip_prefixes(text: str) -> str:
    """Remove launcher prefixes so anchored patterns (`^crw-rw----`) see the message itself."""
    text = text.lstrip()
    for _ in range(4):  # bounded: prefixes nest at most a few deep
        m = _PREFIX.match(text)
        if not m or not m.end():
            break
        text = text[m.end() :].lstrip()
    return text


_ESCAPED = re.compile(r"""\\(["'\\/]|[nrt])""")
_ESCAPE_AS = {"n": " ", "r": " ", "t": " "}


def unescape(text: str) -> str:
    """Undo the quoting of logs that were stored as JSON strings (Docker's json-file driver, k8s and
    Loki exports: `{"log":"... driver \\"\\" with ..."}`) or pasted from HTML (`&#39;`, `&quot;`), so a
    pattern that spells a quote or `<` sees one. Cheap when there is nothing to undo."""
    if '\\"' in text:  # a JSON string: a Windows path (C:\\temp) elsewhere is left alone
        text = _ESCAPED.sub(lambda m: _ESCAPE_AS.get(m.group(1), m.group(1)), text)
    if "&" in text and ";" in text:
        text = html.unescape(text)
    return text


def display(text: str) -> str:
    text = text.strip()
    return text if len(text) <= DISPLAY_MAX else text[:DISPLAY_MAX] + "…"
