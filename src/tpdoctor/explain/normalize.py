"""Turn one raw log line into text the signature regexes can match reliably."""

from __future__ import annotations

import html
import json
import re

# CSI sequences (colours, cursor moves) and two-byte escapes. Stripped per block, before the
# literal scan, because a colour code inside "NCCL WARN" would hide the literal.
ANSI_BYTES = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# The same escapes once a JSON string is decoded (a json-file record, a k8s/Loki export): its `\u001b`
# only becomes ESC after the scan's byte-level ANSI pass, so colour codes a container printed (lmdeploy's
# red checks) are dropped here.
ANSI_TEXT = re.compile(ANSI_BYTES.pattern.decode())

# Prefixes that launchers, log collectors and pastes put in front of every line. Stripped
# repeatedly (they nest: compose + timestamp + vLLM worker + vLLM logger), only on lines where a
# literal was found, so their cost does not grow with the log. Each form is the tool's own format
# (tests/explain_perturb.py reproduces them; bench/explain_robustness.py measures recall under them).
# Prefixes that a signature itself anchors on stay: glog/c10 `[W socket.cpp:663]`, NCCL's
# `host:pid:tid [rank]`.
_LEVEL = r"(?:TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL)"
_PREFIX = re.compile(
    r"^(?:"
    # Ray (python/ray/_private/worker.py print_worker_logs): (RayWorkerWrapper pid=1978, ip=10.0.0.8),
    # (pid=1978); vLLM (multiproc_executor.py _add_prefix): (VllmWorker rank=1 pid=123),
    # (EngineCore_0 pid=4567), (APIServer pid=1)
    r"\((?:[\w.<>-]+ )*(?:[\w]+=[\w.-]+,? )*pid=\d+(?:, ip=[\d.:a-fA-F]+)?\)\s*"
    r"|\((?:raylet|gcs_server|autoscaler|dashboard|monitor)(?:, ip=[\d.:a-fA-F]+)?\)\s*"  # Ray daemons
    r"|\[[A-Za-z_]*\d+\]:\s*"  # torch [rank1]: and torchrun --tee [default0]: (local_elastic_agent.py)
    r"|\[\d+,\d+\]<std(?:out|err)>:\s*"  # mpirun --tag-output [1,2]<stdout>:
    r"|[\w.-]+ \[std(?:out|err)\]\s*"  # opt-1_3b.0 [stderr]
    # docker compose v2 (cmd/formatter/logs.go "%-*s |") and v1 (log_printer.py ljust + " | ")
    r"|[\w.-]+ +\| ?"
    r"|\[pod/[^\]\s]+\] ?"  # kubectl logs --prefix (kubectl/pkg/cmd/logs/logs.go)
    # kubectl logs --timestamps / docker logs -t: RFC3339Nano; the CRI file adds `stderr F`
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? +(?:std(?:out|err) [PF] )?"
    # journalctl -o short / syslog RFC 3164: Dec 01 12:00:00 host ident[pid]:
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d [\w.-]+ [\w./@-]+(?:\[\d+\])?: "
    r"|\d{1,4}: "  # slurm srun --label: task id
    # vLLM logger (vllm/logger.py _FORMAT, 0.4: `file.py:12]`, 0.5+: `[file.py:12]`)
    r"|" + _LEVEL + r" \d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? (?:\[[\w.]+:\d+\]|[\w.]+:\d+\]) ?"
    r"|" + _LEVEL + r":[\w.]+:"  # CPython logging.BASIC_FORMAT %(levelname)s:%(name)s:
    # SGLang (srt/utils.py configure_logger): [2026-12-01 10:00:00 TP0]
    r"|\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)?(?: [A-Z]{2}\d+)*\] ?"
    # TGI (tracing_subscriber fmt after the timestamp): ERROR text_generation_launcher:
    r"|" + _LEVEL + r" +(?:shard-manager: )?text_generation_\w+(?:::\w+)*: "
    # glog/absl (glog src/logging.cc LogMessage::Init): E1201 12:00:00.123456  1234 file.cc:12]
    r"|[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.-]+:\d+\] ?"
    r"|>+\s*"  # markdown quote, nested (> > , >>)
    r"|[-*+] +"  # markdown list item
    r"|[1-9]\d{0,2}\. +"  # markdown ordered list
    r")"
)
# Ray's LogDeduplicator (python/ray/_private/ray_logging/__init__.py) appends this to a line
# the blanks before it are stripped after: `\s*` first went from every blank of a run over the rest of the run (a
# 64 KiB line of them ending in `cluster]` took 60 s to explain, gsafe47)
_SUFFIX = re.compile(r"\[repeated \d+x across cluster\]$")

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
    text = text.strip()
    for _ in range(6):  # bounded: prefixes nest at most a few deep
        m = _PREFIX.match(text)
        if not m or not m.end():
            break
        text = text[m.end() :].lstrip()
    if text.startswith("`"):  # a markdown inline code span around the whole line
        text = text.strip("`").strip()
    if text.endswith("cluster]"):
        m = _SUFFIX.search(text)
        if m is not None:
            text = text[: m.start()].rstrip()
    return text


def has_prefix(text: str) -> bool:
    """Does the line start with a prefix strip_prefixes removes (then it is a record of its own)?"""
    m = _PREFIX.match(text)
    return bool(m and m.end())


# a JSON string's (or a Python repr's) escapes; reader.py reads a whole quoted log with the bytes form
JSON_ESCAPE = re.compile(r"""\\(["'\\/]|[nrt]|u[0-9a-fA-F]{4})""")
_ESCAPE_AS = {"n": " ", "r": " ", "t": " "}


def _unquote(m: re.Match[str]) -> str:
    c = m.group(1)
    if len(c) == 5:  # \u003c: Go's encoders escape < > & (moby jsonlog ffjsonWriteJSONBytesAsString)
        ch = chr(int(c[1:], 16))
        return " " if ch < " " and ch != "\x1b" else ch  # ESC stays for ANSI_TEXT
    return _ESCAPE_AS.get(c, c)


def _docker_json(text: str) -> str | None:
    """The message of a Docker json-file record (`{"log":"...\\n","stream":"stderr","time":"..."}`,
    moby daemon/logger/jsonfilelog/jsonlog/jsonlogbytes.go MarshalJSONBuf), None if it is not one."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    log = record.get("log") if isinstance(record, dict) else None
    return ANSI_TEXT.sub("", log).strip() if isinstance(log, str) else None


def unescape(text: str) -> str:
    """Undo the quoting of logs that were stored as JSON strings (Docker's json-file driver, k8s and
    Loki exports: `{"log":"... driver \\"\\" with ..."}`) or pasted from HTML (`&#39;`, `&quot;`), so a
    pattern that spells a quote or `<` sees one. Cheap when there is nothing to undo.

    A whole json-file record is decoded and its message stripped of prefixes again (the `log` field
    holds the line as the container printed it)."""
    if text.startswith('{"log":"') and text.endswith("}"):
        inner = _docker_json(text)
        if inner is not None:
            return unescape(strip_prefixes(inner))
    if '\\"' in text or "\\u00" in text:  # a JSON string: a Windows path (C:\\temp) elsewhere is left alone
        text = ANSI_TEXT.sub("", JSON_ESCAPE.sub(_unquote, text))
    if "&" in text and ";" in text:
        text = html.unescape(text)
    if "](http" in text:
        text = AUTOLINK.sub(r"\1", text)
    return typographed(text)


# What a typographer makes of a log pasted outside a code block: markdown-it's and remarkable's
# `typographer` (Discourse forums: discuss.pytorch.org, forums.developer.nvidia.com; rules_core/smartquotes
# and replacements) and SmartyPants (blogs, Medium) curl quotes and join `...`; an IME or macOS smart
# dashes turn a flag's `--` into a dash (dev: `—tensor-parallel-size`, `don’t match`, `File “...”`).
_CURLED = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2026": "..."})
_CURLED_CHARS = frozenset("\u2018\u2019\u201c\u201d\u2026")
# a dash that stands for a command-line flag's `--` (`—shm-size`), and markdown-it's en dash for a `--`
# between two other characters (`-r–r–r--` from `ls -l`); a dash between spaced words stays
_DASHED_FLAG = re.compile(r"(?<![\w-])[\u2013\u2014](?=[A-Za-z][\w-])|(?<=[^\s-])\u2013(?=[^\s-])")


def typographed(text: str) -> str:
    """The text with a typographer's curled quotes, ellipsis and dashes put back to ASCII (cheap on ASCII)."""
    if text.isascii():
        return text
    if not _CURLED_CHARS.isdisjoint(text):
        text = text.translate(_CURLED)
    if "\u2013" in text or "\u2014" in text:
        text = _DASHED_FLAG.sub("--", text)
    return text


# markdown-it replacements.mjs: `--` between two characters that are neither `-` nor space becomes –
# (the literal's end is not the line's, so only the lookahead inside it counts)
_MD_EN_DASH = re.compile(r"(?<=[^\s-])--(?=[^\s-])")
_LONE_FLAG_DASHES = re.compile(r"(?<![\w-])--(?=[A-Za-z][\w-])")


def typographic_forms(form: str) -> list[str]:
    """The literal as a typographer prints it (see typographed): a quote after a space, a bracket or the
    start opens (‘ “) unless a space follows, any other closes (’ ”), so `'` inside a word is ’; `...` is
    …; a flag's `--` is – or —, and `--` between two characters is –. The scanner looks for these byte
    forms; unescape puts the line back."""
    bases = [form]
    if "'" in form or '"' in form or "..." in form:
        chars = []
        for i, c in enumerate(form):
            if c in "'\"":
                after = form[i + 1] if i + 1 < len(form) else ""
                opens = (i == 0 or form[i - 1] in " \t([{=<") and not after.isspace()
                c = ("\u2018" if opens else "\u2019") if c == "'" else ("\u201c" if opens else "\u201d")
            chars.append(c)
        bases.append("".join(chars).replace("...", "\u2026"))
    out = bases[1:]
    if "--" in form:
        for base in bases:
            out.extend(_LONE_FLAG_DASHES.sub(dash, base) for dash in ("\u2013", "\u2014"))
            en = _MD_EN_DASH.sub("\u2013", base)
            out.append(en)
            # a literal that ends in `--` after a character (`models--`, the hub cache's `models--org--name`):
            # the line goes on after it, so markdown-it turns that `--` into – as well (merge52: lost)
            if en.endswith("--") and len(en) > 2 and en[-3] not in " \t-":
                out.append(en[:-2] + "\u2013")
    return [f for f in dict.fromkeys(out) if f != form]


# A domain or address that a renderer turned into a markdown link to itself: stored issue copies and chat
# exports show `[nvidia.com/gpu](http://nvidia.com/gpu):     0` and `[127.0.0.1:39726](http://127.0.0.1:39726/)`
# where the user pasted `nvidia.com/gpu: 0` (tests/data/explain-real: statcan-aaw-1297, trl-3706). Only a link
# whose text is its own target is undone: a real link (`[the fix](https://...)`) says something else.
AUTOLINK = re.compile(r"\[([^\]\[\s()]{3,200})\]\(https?://\1/?\)")
# The tokens a linkifier turns into such a link: a host name under a common top-level domain, or an IPv4
# address. File names are not (`utils.py` stays plain beside a linked `127.0.0.1:39726` in trl-3706), so
# neither are the extensions a log is full of (.py .so .sh .md .cc). A literal that ends inside an address
# (`connect to 169.254.`) holds the start of a linked token too.
_LINKED_HOST = re.compile(
    r"(?<![\w.@/-])(?:(?:(?:[A-Za-z0-9-]+\.)+(?:com|org|net|io|ai|dev|gov|edu|app|cloud|ca|cn|de|uk|jp|co|us|eu)"
    r"|(?:\d{1,3}\.){3}\d{1,3})(?![\w-]|\.\w)|(?:\d{1,3}\.){2,3}\d{0,3}$)"
)


# What the escaping of a paste or a log store does to a literal's bytes: HTML (CPython html.escape,
# Go html.EscapeString's &#39; and &#34;, GitHub's page source) and JSON strings (moby's json-file
# writer escapes " \\ < > & : jsonlogbytes.go ffjsonWriteJSONBytesAsString).
_HTML_FORMS = (
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"},
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"},
)
_JSON_FORM = {"\\": "\\\\", '"': '\\"', "<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
_HTML_ESCAPED = frozenset(_HTML_FORMS[0])  # the characters each table rewrites (a set test: start-up runs ~8000)
_JSON_ESCAPED = frozenset(_JSON_FORM)
# A literal this long whose first word is a plain word also gets its other-case twin (`Failed to
# open` / `failed to open`): a message quoted mid-sentence or re-raised changes that letter only.
CASE_TWIN_MIN = 8
_PLAIN_WORD = re.compile(r"[A-Za-z][a-z]+(?:[ :,]|$)")


def starts_message(literal: str, examples: tuple[str, ...], stripped: bool = False) -> bool:
    """Does the literal begin the message in one of the examples (the line's start once prefixes are
    stripped, or after an exception name's `: `)? Only there does its first letter's case drift.
    `stripped`: the examples went through strip_prefixes already (a signature's literals share them)."""
    for example in examples:
        text = example if stripped else strip_prefixes(example)
        at = text.find(literal)
        if at == 0 or (at >= 2 and text[at - 2 : at] == ": "):
            return True
    return False


def literal_forms(literal: str, recased: bool = True) -> list[str]:
    """The literal and the byte forms it takes in escaped or re-cased pastes; the scanner looks for
    all of them (they are few: most literals have no quote, `<`, `>` or `&`). `recased`: add the
    other case of the first letter (for a literal that starts a message, see starts_message)."""
    forms = [literal]
    if recased and len(literal) >= CASE_TWIN_MIN and _PLAIN_WORD.match(literal):
        forms.append(literal[0].swapcase() + literal[1:])
    # escaping (HTML, JSON) and a typographer do not meet in one paste: each applies to the typed forms
    for form in forms[:]:
        if not _HTML_ESCAPED.isdisjoint(form):
            for table in _HTML_FORMS:
                forms.append("".join(table.get(c, c) for c in form))
        if not _JSON_ESCAPED.isdisjoint(form):
            forms.append("".join(_JSON_FORM.get(c, c) for c in form))
        forms.extend(typographic_forms(form))
    forms.extend(autolinked_forms(forms))
    return list(dict.fromkeys(forms))


def autolinked_forms(forms: list[str]) -> list[str]:
    """How a literal that holds a host name or an address reads once a renderer linked it (AUTOLINK): the
    literal up to that token's end, with `[` before it (`Insufficient nvidia.com/` -> `Insufficient
    [nvidia.com`). The link's text runs on to the token's end (`[nvidia.com/gpu=all](...)`), so the form stops
    at the host; the line is then unescaped and the signature's pattern reads it whole."""
    out = []
    for form in forms:
        m = _LINKED_HOST.search(form)
        if m:
            out.append(form[: m.start()] + "[" + form[m.start() : m.end()])
    return out


def case_twin(text: str) -> str | None:
    """The text with the other case for its first letter when it starts with a plain word (`Open
    failed`, `failed to`): the form a regex written for the other case then matches."""
    if _PLAIN_WORD.match(text):
        return text[0].swapcase() + text[1:]
    return None


def display(text: str) -> str:
    from tpdoctor.redact import clip

    return clip(text.strip(), DISPLAY_MAX, "…")  # redacted before the cut (redact.clip)
