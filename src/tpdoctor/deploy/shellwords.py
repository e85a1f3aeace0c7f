"""A shell tokenizer that keeps every word's exact source span, so that `audit --fix` edits only
the flag words that change and leaves quoting, `$(...)`, backticks, redirections, heredocs,
comments and continuations byte-identical.

It follows the POSIX "Token Recognition" rules (XCU 2.3) closely enough to split simple
commands: quotes, backslash escapes, `$(...)`, `${...}`, `$((...))`, backticks, process
substitution, operators and redirections, comments, heredoc bodies (XCU 2.7.4), and bash array
assignments (`a=(x y)`). It does not evaluate anything.

One deliberate difference from a shell: a continuation that a shell breaks (a comment or
whitespace after the backslash) is followed anyway, because the user meant one command; the
break and the bytes that repair it are recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_OPS = ("&&", "||", ";;", "|&", ";", "&", "|", "(", ")")
_REDIR = re.compile(r"\d*(?:<<<|<<-|<<|<>|<&|>>|>&|>\||<|>)|&>>|&>")
_BLANK = " \t"
_WORD_END = set(" \t\n;&|()<>")


class ShellSyntaxError(ValueError):
    """An unterminated quote, `$(`, `${` or backtick: the shell itself would refuse the script."""

    def __init__(self, offset: int, what: str) -> None:
        super().__init__(what)
        self.offset = offset
        self.what = what


@dataclass
class Word:
    raw: str  # the exact source text
    start: int  # offset into the text
    end: int  # exclusive
    line: int  # 1-based line of `start`
    kind: str = "word"  # word | op | redir


@dataclass
class Edit:
    start: int
    end: int
    text: str  # replacement (empty: delete; start == end: insert)


@dataclass
class Command:
    words: list[Word]
    breaks: list[tuple[int, str]] = field(default_factory=list)  # (line, why the shell stops there)
    repairs: list[Edit] = field(default_factory=list)  # edits that make the shell follow the continuation
    effective_end_line: int | None = None

    @property
    def start_line(self) -> int:
        return self.words[0].line

    @property
    def end_line(self) -> int:
        return self.words[-1].line


def _skip_balanced(s: str, i: int, close: str) -> int:
    """From just after an opening `(` / `{`, return the index just after its matching close."""
    opener = "(" if close == ")" else "{"
    depth = 1
    n = len(s)
    start = i
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            j = s.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError(i, "unterminated single quote")
            i = j + 1
            continue
        if c == '"':
            i = _skip_dquote(s, i + 1)
            continue
        if c == "`":
            i = _skip_backtick(s, i + 1)
            continue
        if c == "$" and i + 1 < n and s[i + 1] in "({":
            i = _skip_balanced(s, i + 2, ")" if s[i + 1] == "(" else "}")
            continue
        if c == opener:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ShellSyntaxError(start - 1, f"unterminated `{'$(' if close == ')' else '${'}`")


def _skip_dquote(s: str, i: int) -> int:
    n = len(s)
    start = i - 1
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif c == "`":
            i = _skip_backtick(s, i + 1)
        elif c == "$" and i + 1 < n and s[i + 1] in "({":
            i = _skip_balanced(s, i + 2, ")" if s[i + 1] == "(" else "}")
        else:
            i += 1
    raise ShellSyntaxError(start, "unterminated double quote")


def _skip_backtick(s: str, i: int) -> int:
    n = len(s)
    start = i - 1
    while i < n:
        if s[i] == "\\":
            i += 2
        elif s[i] == "`":
            return i + 1
        else:
            i += 1
    raise ShellSyntaxError(start, "unterminated backtick")


def _word_end(s: str, i: int) -> int:
    n = len(s)
    # process substitution <(...) / >(...) is one word
    if s[i] in "<>" and i + 1 < n and s[i + 1] == "(":
        i = _skip_balanced(s, i + 2, ")")
    while i < n and s[i] not in _WORD_END:
        c = s[i]
        if c == "\\":
            i += 2
        elif c == "'":
            j = s.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError(i, "unterminated single quote")
            i = j + 1
        elif c == '"':
            i = _skip_dquote(s, i + 1)
        elif c == "`":
            i = _skip_backtick(s, i + 1)
        elif c == "$" and i + 1 < n and s[i + 1] in "({":
            i = _skip_balanced(s, i + 2, ")" if s[i + 1] == "(" else "}")
        elif c == "=" and i + 1 < n and s[i + 1] == "(":  # bash array assignment a=(x y)
            i = _skip_balanced(s, i + 2, ")")
        else:
            i += 1
    return min(i, n)


def unquote(raw: str) -> str:
    """The word's text after quote removal (expansions stay as written)."""
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "\\":
            if i + 1 < n and raw[i + 1] != "\n":
                out.append(raw[i + 1])
            i += 2
        elif c == "'":
            j = raw.find("'", i + 1)
            j = n if j < 0 else j
            out.append(raw[i + 1 : j])
            i = j + 1
        elif c == '"':
            j = _skip_dquote(raw, i + 1)
            inner = raw[i + 1 : j - 1] if j <= n and raw[j - 1 : j] == '"' else raw[i + 1 : j]
            out.append(re.sub(r'\\([$`"\\])', r"\1", inner).replace("\\\n", ""))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _line_end(s: str, i: int) -> int:
    j = s.find("\n", i)
    return len(s) if j < 0 else j


class _Lines:
    def __init__(self, s: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", s)]

    def line_of(self, off: int) -> int:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= off:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1


# Documentation files whose code blocks hold the commands: Markdown (MDX is Markdown with JSX: Ollama's docs/docker.mdx,
# gwild52) and reStructuredText (literal blocks: CuPy's docs/source/install.rst, gwild52)
DOC_SUFFIXES = (".md", ".markdown", ".mdx", ".rst")

# A fenced block in one of these languages holds no shell: Python or JSON with an apostrophe was read as an unterminated
# quote, and the whole README refused (openvinotoolkit/model_server demos/continuous_batching/README.md, gwild52)
_NOT_SHELL = frozenset(
    {
        "python", "py", "python3", "pycon", "ipython", "json", "jsonc", "json5", "yaml", "yml", "toml", "ini", "cfg",
        "xml", "html", "css", "javascript", "js", "jsx", "typescript", "ts", "tsx", "go", "golang", "rust", "rs", "c",
        "cpp", "c++", "h", "java", "kotlin", "scala", "csharp", "cs", "ruby", "rb", "php", "sql", "hcl", "terraform",
        "powershell", "ps1", "pwsh", "ps", "bat", "batch", "cmd", "dos", "bat-session", "dockerfile", "docker-file",
        "nginx", "mermaid", "diff", "patch", "r", "julia", "lua", "perl", "swift", "cuda", "proto", "graphql",
        "protobuf", "makefile", "make", "cmake", "groovy", "jinja", "jinja2", "mdx", "markdown", "md", "rst",
        "latex", "tex", "csv", "tsv",
    }
)  # fmt: skip

# `docker run ...` written as inline code in a sentence or a list item ("2. Instantiate a docker container with command
# `docker run -t -d --privileged ... /bin/bash`": intel/ai-containers vllm/xpu.md, gwild52): the span's text is kept
_INLINE_RUN = re.compile(
    r"(?<!`)(`+)(?!`)[ \t]*((?:\$[ \t]+)?(?:sudo[ \t]+(?:-E[ \t]+)?)?(?:docker|podman|nerdctl)[ \t]+(?:container[ \t]+)?run\b"
    r"(?:(?!\1).)*?)[ \t]*\1(?!`)"
)
_HAS_RUN = re.compile(r"\b(?:docker|podman|nerdctl)[ \t]+(?:container[ \t]+)?run\b")


def _blank(line: str) -> str:
    return re.sub(r"[^\n]", " ", line)


def _keep_block(block: list[str], lang: str) -> bool:
    """A code block's lines stay for the shell reader unless its language is not a shell, or it is not valid shell by
    itself and holds no container run (program output, a Python snippet without an info string): one such block made
    the whole document 'the shell would refuse this script' (exit 2)."""
    if lang in _NOT_SHELL:
        return False
    text = "".join(block)
    if _HAS_RUN.search(text):
        return True
    try:
        split_commands(text)
    except (ShellSyntaxError, RecursionError):
        return False
    return True


def _inline_runs(line: str) -> str:
    """A prose line: blank, except the text of inline code spans that hold a `docker run` / `podman run`."""
    keep = [(m.start(2), m.end(2)) for m in _INLINE_RUN.finditer(line)]
    if not keep:
        return _blank(line)
    chars = [c if c == "\n" else " " for c in line]
    for a, b in keep:
        chars[a:b] = line[a:b]
    return "".join(chars)


def mask_markdown(s: str) -> str:
    """A README: keep the fenced code blocks (those that can hold shell) and inline `docker run` spans, blank
    everything else (same offsets, same lines)."""
    out: list[str] = []
    fence: str | None = None
    indent = 0
    lang = ""
    block: list[str] = []

    def close() -> None:
        nonlocal fence
        out.extend(block if _keep_block(block, lang) else [_blank(b) for b in block])
        block.clear()
        fence = None

    for line in s.splitlines(keepends=True):
        m = re.match(r"(\s*)(```+|~~~+)", line)
        if fence is not None and line.strip() and len(line) - len(line.lstrip(" ")) < indent:
            # CommonMark: a fence opened inside a list item ends with the item, even unclosed (a line indented less
            # than the fence; containers/ramalama docs/readme/wsl2-podman-cuda.md, gwild50)
            close()
        if fence is None and m:
            fence, indent = m.group(2), len(m.group(1).replace("\t", "    "))
            info = line[m.end() :].strip().lstrip("{.").split()
            lang = info[0].rstrip("},").lower() if info else ""
            out.append(_blank(line))
        elif fence is not None and m and m.group(2).startswith(fence[:3]) and not line[m.end() :].strip():
            # a closing fence carries no info string: "```bash" inside a block opens nothing and closes nothing
            close()
            out.append(_blank(line))
        elif fence is None:
            out.append(_inline_runs(line))
        else:
            block.append(line)
    if fence is not None:
        close()
    return "".join(out)


_RST_DIRECTIVE = re.compile(r"^[ \t]*\.\.[ \t]+([\w:-]+)::[ \t]*(\S*)")
_RST_CODE_DIRECTIVES = frozenset({"code-block", "code", "sourcecode", "prompt"})


def mask_rst(s: str) -> str:
    """reStructuredText: keep the literal blocks (after a paragraph ending in `::`, or a `code-block` / `code` /
    `sourcecode` / `prompt` directive, the lines indented under it) and inline `docker run` literals; blank the rest."""
    lines = s.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        d = _RST_DIRECTIVE.match(line)
        opens = (d is not None and d.group(1).lower() in _RST_CODE_DIRECTIVES) or (
            d is None and line.rstrip().endswith("::") and not line.lstrip().startswith("..")
        )
        out.append(_inline_runs(line) if d is None else _blank(line))
        i += 1
        if not opens:
            continue
        lang = d.group(2).lower() if d is not None else ""
        base = len(line) - len(line.lstrip(" \t"))
        block: list[str] = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip(" \t")) > base):
            body = lines[i]
            # a directive's options (`:linenos:`) are not commands
            block.append(_blank(body) if re.match(r"^[ \t]*:[\w-]+:", body) and d is not None else body)
            i += 1
        out.extend(block if _keep_block(block, lang) else [_blank(b) for b in block])
    return "".join(out)


def is_doc(source: str) -> bool:
    return source.lower().endswith(DOC_SUFFIXES)


def mask_doc(s: str, source: str) -> str:
    """The shell a documentation file holds, at the offsets where it is written; any other file as it is."""
    if not is_doc(source):
        return s
    return mask_rst(s) if source.lower().endswith(".rst") else mask_markdown(s)


_CONTINUATION = re.compile(r"\\([ \t]*)\n")
# `\ # comment` at a line's end, the next line a flag: group 1 is the comment (moved above the command by the repair)
_BACKSLASH_COMMENT = re.compile(r"\\[ \t]+(#[^\n]*?)[ \t]*(?=\n)")


def split_commands(s: str) -> list[Command]:
    """Simple commands with their words, in source order. Heredoc bodies and comments are skipped.
    Raises ShellSyntaxError where a quote or substitution is never closed."""
    lines = _Lines(s)
    cmds: list[Command] = []
    cur = Command(words=[])
    heredocs: list[tuple[str, bool]] = []
    n = len(s)
    i = 0

    def finish() -> None:
        nonlocal cur
        if cur.words:
            cmds.append(cur)
        cur = Command(words=[])

    def follow_continuation(bs: int, after_nl: int) -> int:
        """After `\\<newline>` at `bs`: skip comment/blank lines a shell would stop at, recording breaks."""
        j = after_nl
        while j < n:
            le = _line_end(s, j)
            body = s[j:le].strip()
            if body and not body.startswith("#"):
                break
            if body:
                ln = lines.line_of(j)
                cur.breaks.append((ln, "comment line inside the continuation ends the command here"))
                cur.effective_end_line = cur.effective_end_line or lines.line_of(bs)
                cur.repairs.append(Edit(j, min(le + 1, n), ""))
                cur.repairs.append(Edit(-1, -1, s[j : min(le + 1, n)].lstrip(_BLANK)))  # moved above
            if le >= n:
                return n
            j = le + 1
        return j

    while i < n:
        c = s[i]
        if c in _BLANK:
            i += 1
            continue
        if c == "\\":
            m = _CONTINUATION.match(s, i)  # at i, not on a copy of the rest of the text (per backslash: quadratic)
            if m:
                if m.group(1):
                    ln = lines.line_of(i)
                    cur.breaks.append((ln, "trailing whitespace after the backslash ends the command here"))
                    cur.effective_end_line = cur.effective_end_line or ln
                    cur.repairs.append(Edit(i + 1, i + 1 + len(m.group(1)), ""))
                i = follow_continuation(i, m.end())
                continue
            t = _BACKSLASH_COMMENT.match(s, i)
            if t and cur.words and re.match(r"[ \t]*-", s[t.end() + 1 : t.end() + 200]):
                # `--group-add="122" \ # Change this ...` (jellyfin.org's hardware-acceleration pages, gwild54): the
                # backslash escapes the blank (one more argument, a lone space) and the comment ends the command;
                # the repair is the one for a comment line: the comment above the command, `\` at the line's end
                ln = lines.line_of(i)
                cur.breaks.append((ln, "a comment after the backslash (it escapes the blank) ends the command here"))
                cur.effective_end_line = cur.effective_end_line or ln
                cur.repairs.append(Edit(i + 1, t.end(), ""))
                cur.repairs.append(Edit(-1, -1, t.group(1) + "\n"))
                i = follow_continuation(i, min(t.end() + 1, n))
                continue
        if c == "\n":
            finish()
            i += 1
            for delim, strip in heredocs:
                while i < n:
                    le = _line_end(s, i)
                    body = s[i:le].lstrip("\t") if strip else s[i:le]
                    i = min(le + 1, n)
                    if body == delim:
                        break
            heredocs = []
            continue
        if c == "#" and (i == 0 or s[i - 1] in " \t\n;&|()"):
            i = _line_end(s, i)
            continue
        r = _REDIR.match(s, i)
        if r and not (s[i] in "<>" and i + 1 < n and s[i + 1] == "("):
            cur.words.append(Word(r.group(0), i, r.end(), lines.line_of(i), "redir"))
            i = r.end()
            if r.group(0).lstrip("0123456789") in ("<<", "<<-"):
                while i < n and s[i] in _BLANK:
                    i += 1
                e = _word_end(s, i)
                if e > i:
                    heredocs.append((unquote(s[i:e]), r.group(0).endswith("-")))
            continue
        op = next((o for o in _OPS if s.startswith(o, i)), None)
        if op is not None:
            cur.words.append(Word(op, i, i + len(op), lines.line_of(i), "op"))
            i += len(op)
            finish()
            continue
        e = _word_end(s, i)
        if e == i:  # defensive: never loop forever
            e = i + 1
        cur.words.append(Word(s[i:e], i, e, lines.line_of(i)))
        i = e
    finish()
    return cmds


def apply_edits(s: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits (overlapping deletions are merged first)."""
    dels = sorted((e for e in edits if e.start < e.end and not e.text), key=lambda e: e.start)
    merged: list[Edit] = []
    for d in dels:
        if merged and d.start <= merged[-1].end:
            merged[-1] = Edit(merged[-1].start, max(merged[-1].end, d.end), "")
        else:
            merged.append(d)
    merged = [_whole_line(s, d) for d in merged]
    rest = [e for e in edits if not (e.start < e.end and not e.text)]
    out: list[str] = []
    pos = 0
    for e in sorted([*merged, *rest], key=lambda e: (e.start, e.end)):
        if e.start < pos:  # overlaps an earlier edit: the earlier one wins
            continue
        out.append(s[pos : e.start])
        out.append(e.text)
        pos = e.end
    out.append(s[pos:])
    return "".join(out)


def _whole_line(s: str, d: Edit) -> Edit:
    """A deletion that leaves only `<blanks>\\` on a continued line removes that line."""
    ls = s.rfind("\n", 0, d.start) + 1
    if s[ls : d.start].strip(_BLANK):
        return d
    m = re.match(r"[ \t]*\\\n", s[d.end :])
    if m and s[d.start : d.end].strip():
        return Edit(ls, d.end + m.end(), "")
    return d
