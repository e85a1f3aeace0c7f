"""Reading user files safely (writing them: tpdoctor.safewrite).

Limits protect `audit` from hostile input: a size cap, strict UTF-8, and a cap on how many
nodes a YAML document expands to (aliases are references in ruamel's round-trip mode, but the
rules walk them, so a "billion laughs" file would otherwise explode there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import ScalarNode

from tpdoctor.errors import InputError
from tpdoctor.yamlguard import MAX_DEPTH as MAX_DEPTH
from tpdoctor.yamlguard import MAX_NODES as MAX_NODES
from tpdoctor.yamlguard import refuse_bombs, walk_budget

MAX_BYTES = 8 * 1024 * 1024


def read_bytes(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """A config's bytes through the one bounded reader (regular files only, size and time capped)."""
    from tpdoctor.boundedio import read_bytes_bounded

    return read_bytes_bounded(path, max_bytes, what="config file")


def decode_config(data: bytes, source: str) -> str:
    """Strict UTF-8; a BOM is accepted (and put back by the writer, textfmt.py)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text (byte {exc.start}): refusing to parse") from None


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    return decode_config(read_bytes(path, max_bytes), str(path))


_TYPED_KEY_TAGS = frozenset({"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


class _KeyConstructor(RoundTripConstructor):
    """The round-trip constructor, but a mapping whose plain keys are of two of bool, int and float reads them as
    strings: Python's `1 == True == 1.0` made compose services named `1` and `true` a `duplicate key "True"` error
    (compose-go reads every key as a string and keeps both; gsafe50). Equal keys of one type stay duplicates."""

    def flatten_mapping(self, node: Any) -> Any:  # construct_mapping's first step, before any key is built
        tags = {k.tag for k, _ in node.value if isinstance(k, ScalarNode) and k.tag in _TYPED_KEY_TAGS}
        if len(tags) > 1:
            for k, _ in node.value:
                if isinstance(k, ScalarNode) and k.tag in _TYPED_KEY_TAGS:
                    k.tag = "tag:yaml.org,2002:str"
        return super().flatten_mapping(node)


def rt_yaml() -> YAML:
    y = YAML(typ="rt")
    y.Constructor = _KeyConstructor
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap the user's long lines
    # `ports: [{containerPort: 8000}]` stays so: ruamel writes a one-entry mapping in a flow list without its braces
    # (`[containerPort: 8000]`), a change on a line the fix never meant to touch (gsafe41)
    y.brace_single_entry_mapping_in_flow_sequence = True
    y.indent(mapping=2, sequence=4, offset=2)
    return y


_READ_ONLY: ContextVar[bool] = ContextVar("tpdoctor_yaml_read_only", default=False)


@contextmanager
def read_only_trees() -> Iterator[None]:
    """Within this, load_yaml_docs may build its trees without comments and formatting, from
    libyaml (deploy/yamlread.py, ~10x faster): for callers that never write a tree back, such as
    `audit` without --fix/--write. Values, types and key positions are the round-trip loader's."""
    token = _READ_ONLY.set(True)
    try:
        yield
    finally:
        _READ_ONLY.reset(token)


_HUGE_INT = re.compile(r"[0-9_]{4300,}")
_TEMPLATE = re.compile(r"\{\{-?\s*[.$\w]|\{%-?\s*\w")


def _template_hint(text: str) -> str:
    """A chart's or a Jinja template's source is no YAML until rendered: say so, not only where the parser stopped."""
    if _TEMPLATE.search(text):
        return " (a Helm or Jinja template: render it first, e.g. `helm template . > out.yaml`, and audit the output)"
    return ""


# The round-trip loader is pure Python (~0.15 ms a line): a 100k-entry env list or a stream of 20k documents kept
# `audit --fix` busy for half a minute to minutes, where the read-only path (libyaml) took 2 s. A tree that will be
# edited and written back is refused past this many lines and flow items (gsafe42); `audit` alone reads any size.
MAX_EDIT_ITEMS = 50_000


def _edit_items(text: str) -> int:
    # YAML breaks lines at LF, CRLF and a lone CR: a CR-only file counted as one line and was round-tripped whole
    # (60k entries: 15 s); a comma that ends its line adds no item to the line's own (block-style JSON), CRLF's
    # `,\r\n` included (it counted twice, so a CRLF file was refused at half the size of the same LF file; gsafe43)
    lines = text.count("\n") + text.count("\r") - text.count("\r\n")
    if "[" not in text and "{" not in text:
        return lines
    return lines + text.count(",") - text.count(",\n") - text.count(",\r")


def load_yaml_docs(text: str, source: str) -> list[Any]:
    """Round-trip load every document; refuse bombs; raise InputError with the position."""
    refuse_bombs(text, source)
    if not _READ_ONLY.get() and _edit_items(text) > MAX_EDIT_ITEMS:
        raise InputError(
            f"{source}: over {MAX_EDIT_ITEMS} lines and flow items, too many to edit and write back in good time: "
            "refusing; read it without editing (audit without --fix/--write, explain without --config), or split it"
        )
    try:
        plain = None
        if _READ_ONLY.get():
            from tpdoctor.deploy.yamlread import load_plain

            plain = load_plain(text)  # None: a construct only the round-trip loader reads exactly
        docs = plain if plain is not None else list(rt_yaml().load_all(text))
    except ValueError as exc:
        # a plain integer of over 4300 digits: int() refuses it (sys.get_int_max_str_digits) in both loaders, and the
        # ValueError ended as "unexpected compose structure: a value of the wrong type or shape" (gsafe50)
        if "integer string conversion" not in str(exc):
            raise
        m = _HUGE_INT.search(text)
        where = f" line {text.count(chr(10), 0, m.start()) + 1}:" if m else ""
        raise InputError(f"{source}:{where} a number of over 4300 digits, more than tpdoctor reads: refusing") from None
    except RecursionError:
        raise InputError(f"{source}: YAML nested too deeply: refusing") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        problem = str(exc.problem)
        if problem.startswith("found duplicate key"):  # ruamel quotes both values: a password given twice (gsafe41)
            problem = problem.split(" with value ", 1)[0]
        raise InputError(f"{source}: invalid YAML at {where}: {problem}{_template_hint(text)}") from None
    except YAMLError as exc:
        raise InputError(f"{source}: invalid YAML: {exc}{_template_hint(text)}") from None
    budget = [MAX_NODES]
    for d in docs:
        walk_budget(d, budget, source)
    if _TEMPLATE.search(text) and any(_has_complex_key(d) for d in docs):
        # `name: {{ include "x.fullname" . }}` is YAML too: a flow mapping whose key is a flow mapping. The chart's
        # source was audited as a manifest: blockers for `metadata.name: {} is an object`, the key printed as
        # `{ordereddict([('include "x.fullname" .', None)]): None}` (gsafe45). No deployment file has such a key.
        raise InputError(
            f"{source}: holds template actions ({{{{ … }}}}) that YAML read as mappings{_template_hint(text)}"
        )
    return docs


def _has_complex_key(node: Any) -> bool:
    """A mapping anywhere in `node` with a mapping or a sequence as a key (bounded: walk_budget counted the nodes)."""
    from collections.abc import Mapping

    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Mapping):
            for k, v in n.items():
                if isinstance(k, (Mapping, list, tuple)):
                    return True
                stack.append(v)
        elif isinstance(n, list):
            stack.extend(n)
    return False


_KEY_OPENS_BLOCK = re.compile(r"^( *)[^\s#-][^#\n]*:[ \t]*(?:#.*)?$")
_ITEM = re.compile(r"^( *)- ")
_OPENS_SCALAR = re.compile(r"(?::|^ *-|^ *)[ \t]+[|>][-+0-9]*[ \t]*(?:#.*)?$|^ *[|>][-+0-9]*[ \t]*$")


def _lines_below_block_keys(text: str) -> Iterator[tuple[str, int]]:
    """Each line (blank and comment lines skipped) that follows a key opening a block, with that key's indent."""
    key_indent: int | None = None
    scalar_indent: int | None = None  # inside a block scalar opened by a line at this indent
    for line in text.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if scalar_indent is not None:
            if indent > scalar_indent:
                continue  # text of a `key: |` block scalar, not YAML (KubeRay's serveConfigV2, gwild50)
            scalar_indent = None
        if line.lstrip().startswith("#"):
            continue
        if key_indent is not None:
            yield line, key_indent
        m = _KEY_OPENS_BLOCK.match(line)
        key_indent = len(m.group(1)) if m else None
        if _OPENS_SCALAR.search(line):
            scalar_indent = indent


def sequence_offset(text: str) -> int:
    """How far the file indents a block sequence's `- ` past its key: 0 for `kubectl get -o yaml` and most
    Kubernetes docs (`containers:` then `- name:` below its first letter), 2 for rt_yaml's own style. The first
    such pair decides; a file without one gets 2. The dump writes lists as the file does, so a --fix changes only
    the lines it must (every line of a kubectl-style list was re-indented; gsafe40)."""
    for line, key_indent in _lines_below_block_keys(text):
        item = _ITEM.match(line)
        if item is not None and len(item.group(1)) >= key_indent:
            return min(len(item.group(1)) - key_indent, 8)
    return 2


_KEY_LINE = re.compile(r"^( *)[^\s#-][^\n]*?:(?:[ \t]|$)")


def mapping_indent(text: str) -> int:
    """How far the file indents a block mapping's keys past the key that opens it: 2 for rt_yaml's own style, 4 for
    many hand-written compose files. The step most pairs take decides (2 to 8; a tie: the first); a file without one
    gets 2. The dump was always at 2: every line of a 4-blank file was re-indented by a --fix that changed one key, and
    _kept_lines could not map a single line back (gsafe44)."""
    steps: dict[int, int] = {}
    for line, key_indent in _lines_below_block_keys(text):
        key = _KEY_LINE.match(line)
        if key is not None and len(key.group(1)) > key_indent:
            step = max(2, min(len(key.group(1)) - key_indent, 8))
            steps[step] = steps.get(step, 0) + 1
    return max(steps, key=lambda k: steps[k]) if steps else 2


def json_indent(text: str) -> str | int | None:
    """The indentation of a JSON text, as written (`kubectl get -o json` writes 4 blanks, an editor may write a tab),
    None for one on a single line; -1 when the text is not JSON."""
    import json

    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return -1
    try:
        json.loads(text)
    except ValueError:
        return -1
    m = re.search(r"\n([ \t]+)\S", stripped)
    # the string itself (json.dumps repeats it per level): a tab became 8 blanks on every line (review41)
    return m.group(1) if m else None


# JSON as Python's json module reads and writes it has three bare constants that YAML reads as plain strings: written
# back quoted (`NaN` -> `"NaN"`), a change on a line the fix never touched (gsafe43). A quoted "NaN" in the file is a
# DoubleQuotedScalarString (preserve_quotes), so only the bare word is taken back to the float it was.
_JSON_CONSTANTS = frozenset({"NaN", "Infinity", "-Infinity"})


def _plain(node: Any) -> Any:
    """A round-trip tree as JSON's types (ruamel's ScalarBoolean is an int: it would be written 1)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if type(node).__name__ == "ScalarBoolean":
        return bool(node)
    if type(node) is str and node in _JSON_CONSTANTS:
        return float(node)
    return node


def _same_json(x: str, y: str) -> bool:
    """Equal as JSON, NaN included (nan != nan: a file holding one was never equal to itself). A bare constant is read
    as a tagged pair, not as its name: with parse_constant=str the string `"NaN"` and the number `NaN` were equal, so a
    splice that wrote one for the other passed this check (gsafe44)."""
    import json

    def const(name: str) -> tuple[str, str]:
        return ("\0json-constant", name)  # a tuple: equal to no str, no list, no number JSON reads

    return bool(json.loads(x, parse_constant=const) == json.loads(y, parse_constant=const))


def _json_spliced(like: str, new: Any, indent: str | int | None) -> str:
    """The JSON file `like` with only the lines that change between it and `new` replaced. json.dumps of the whole
    tree re-spelled every number and escape it writes otherwise (`1.0e3` -> `1000.0`, Go's `\\u003c` -> `<`,
    `\\u00e9` -> `é`) on lines the fix never touched (gsafe42). The file's lines are aligned with json.dumps of its
    own tree; a change that falls on a line written otherwise is refused, the file left as it is."""
    import json

    old = json.loads(like)
    if indent is None:  # one line: kept only when json.dumps writes it byte for byte
        for seps in ((", ", ": "), (",", ":")):
            if json.dumps(old, separators=seps, ensure_ascii=False) == like.strip():
                out = json.dumps(new, separators=seps, ensure_ascii=False)
                return like[: len(like) - len(like.lstrip())] + out + like[len(like.rstrip()) :]
        raise InputError("a one-line JSON file written otherwise than json.dumps writes it: not edited (the fix "
                         "would re-spell its numbers or escapes); apply the fix by hand, or indent the file")
    a = like.splitlines(keepends=True)
    b = json.dumps(old, indent=indent, ensure_ascii=False).splitlines(keepends=True)
    c = json.dumps(new, indent=indent, ensure_ascii=False).splitlines(keepends=True)
    for lines in (b, c):  # json.dumps ends without a newline; the file's last line says how it ends
        if lines and not lines[-1].endswith("\n") and a and a[-1].endswith("\n"):
            lines[-1] += "\n"
    if a == b:  # written as json.dumps writes it (kubectl's own output): nothing to keep
        return "".join(c)
    out = _respelled(a, b, c) if len(a) == len(b) else _aligned(a, b, c)
    if not _same_json(out, "".join(c)):  # a layout the line mapping misread: never write that
        raise InputError(_RESPELL)
    return out


def _aligned(a: list[str], b: list[str], c: list[str]) -> str:
    """As _respelled, for a file with more or fewer lines than json.dumps writes: aligned by difflib."""
    import difflib

    if len(a) > _ALIGN_MAX:
        raise InputError(_RESPELL)
    at: dict[int, int] = {}  # a line of b -> the same line of the file
    for tag, i1, i2, j1, _ in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            at.update((j1 + k, i1 + k) for k in range(i2 - i1))
    spliced = list(a)
    hunks = [op for op in difflib.SequenceMatcher(None, b, c, autojunk=False).get_opcodes() if op[0] != "equal"]
    for _, j1, j2, k1, k2 in reversed(hunks):
        start = at.get(j1, len(a) if j1 == len(b) else None)
        last = at.get(j2 - 1) if j2 > j1 else None
        if start is None or (j2 > j1 and (last is None or last - start != j2 - j1 - 1)):
            raise InputError(_RESPELL)
        spliced[start : start + (j2 - j1)] = c[k1:k2]
    return "".join(spliced)


_RESPELL = (
    "the fix falls on a JSON line written otherwise than json.dumps writes it (a number such as 1e3 or 1.50, an "
    "escape such as \\u003c), or the file is laid out otherwise: not edited, to keep the file's bytes; apply the fix "
    "by hand"
)
# difflib aligns lines in quadratic time on a JSON file's thousands of `}` lines (100 Deployments: 13 s): a file laid
# out otherwise than json.dumps (more or fewer lines) is aligned only up to this size
_ALIGN_MAX = 2000


def _respelled(a: list[str], b: list[str], c: list[str], removed_ok: bool = False) -> str:
    """The new lines `c`, where each line that json.dumps spells otherwise than the file (`a` against `b`, line for
    line) is put back as the file spells it: the k-th occurrence of that line in `b` is its k-th occurrence in `c`
    (the fix adds and removes other lines only, in order). A fix that changed such a line leaves fewer: refused."""
    respelled = {b[i] for i in range(len(a)) if a[i] != b[i]}
    in_b: dict[str, list[int]] = {line: [] for line in respelled}
    in_c: dict[str, list[int]] = {line: [] for line in respelled}
    for lines, where in ((b, in_b), (c, in_c)):
        for i, line in enumerate(lines):
            hit = where.get(line)
            if hit is not None:
                hit.append(i)
    out = list(c)
    for line in respelled:
        if removed_ok and not in_c[line]:
            continue  # YAML: the fix removed every such line (`hostIPC: true  `, gwild50): nothing to put back
        if len(in_b[line]) != len(in_c[line]):
            raise InputError(_RESPELL)
        for j, k in zip(in_b[line], in_c[line], strict=True):
            out[k] = a[j]
    if respelled and len(c) > len(b) and len(c) <= _ALIGN_MAX:
        _shift_added(b, c, out)
    return "".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _shift_added(b: list[str], c: list[str], out: list[str]) -> None:
    """Lines the fix added among lines put back with another indentation take that indentation too. A file that
    indents one list otherwise than the rest (`env:` items two blanks deeper than `volumeMounts:` items: Intel's GPU
    plugin DaemonSet) had an item appended there at ruamel's indentation: the mixed list no longer read as the same
    document, and ruamel's whole dump was written, every line of that list re-indented (gwild52). An added line takes
    the shift of the nearest line above it that is less indented, or as indented and of the same kind (a `- ` item or
    a key)."""
    import difflib

    added: set[int] = set()
    for tag, _, _, k1, k2 in difflib.SequenceMatcher(None, b, c, autojunk=False).get_opcodes():
        if tag in ("insert", "replace"):
            added.update(range(k1, k2))
    shift: list[int] = []
    for k, line in enumerate(c):
        d = _indent(out[k]) - _indent(line) if out[k].strip() else 0
        if k in added and line.strip() and not line.lstrip(" ").startswith("#"):
            ind, dash = _indent(line), line.lstrip(" ").startswith("- ")
            d = 0
            for p in range(k - 1, -1, -1):
                prev = c[p]
                if not prev.strip() or prev.lstrip(" ").startswith("#"):
                    continue
                pi = _indent(prev)
                if pi < ind or (pi == ind and prev.lstrip(" ").startswith("- ") == dash):
                    d = shift[p]
                    break
            if d > 0:
                out[k] = " " * d + line
            elif d < 0 and line[: -d].strip() == "":
                out[k] = line[-d:]
        shift.append(d)


def dump_yaml_docs(docs: list[Any], like: str | None = None) -> str:
    """The documents as YAML; `like`: the text they were read from, whose sequence indentation and unchanged lines are
    kept. A JSON file (`kubectl get -o json`, a compose.json) is written back as JSON with its indentation: it became
    one line of YAML flow mappings, no longer JSON (gsafe41)."""
    if like is not None and len(docs) == 1:
        indent = json_indent(like)
        if indent != -1:
            return _json_spliced(like, _plain(docs[0]), indent)

    out = _dump_rt(docs, like)
    if like is None or out == like or like.count("\n") > _KEEP_MAX_LINES:
        return out
    return _kept_lines(like, out)


# _kept_lines loads and dumps the unchanged file once more: +100% on `audit --fix` and `explain --config` (a 49k-line
# compose file: 16 s -> 32 s); past this many lines (as _aligned) ruamel's whole dump is written, as before
_KEEP_MAX_LINES = 2000


def _dump_rt(docs: list[Any], like: str | None) -> str:
    import io as _io

    buf = _io.StringIO()
    y = rt_yaml()
    if like is not None:
        offset = sequence_offset(like)
        y.indent(mapping=mapping_indent(like), sequence=offset + 2, offset=offset)
    if len(docs) == 1:
        y.dump(docs[0], buf)
    else:
        y.dump_all(docs, buf)
    return buf.getvalue()


def _kept_lines(like: str, new: str) -> str:
    """`new` (ruamel's dump of the fixed tree) with every line the fix did not change put back as `like` spells it.
    ruamel re-spells lines it never needed to touch: `"a\\u2028b"` as `"a\\Lb"`, a bare `-` joined with the `name:`
    below it, a flow mapping over two lines joined into one (gsafe43). Its dump of the unchanged tree says which lines
    it re-spells; they are mapped back as the JSON write-back does. Where the mapping cannot be made (a file laid out
    otherwise throughout, such as 4-blank mappings, or one over 2000 lines) or the spliced text
    would not read as the same documents, ruamel's whole dump is kept, as before."""
    try:
        same = _dump_rt(list(rt_yaml().load_all(like)), like)
    except (YAMLError, RecursionError):
        return new
    if same == like:
        return new
    a = like.splitlines(keepends=True)
    b = same.splitlines(keepends=True)
    c = new.splitlines(keepends=True)
    if not any(_MARKER_WITH_DOC.match(line) for line in a):
        b, c = _split_markers(b), _split_markers(c)
    # line for line first; as many lines but not line for line (`--- # note` is ruamel's `---` and `    # note`, and a
    # `...` it drops makes the count even again, gsafe46): aligned by content; last, line for line with the lines the
    # fix removed left out (`hostIPC: true  `, whose trailing blanks no aligned line keeps, gwild50). The order
    # matters: line for line with removals allowed also "succeeds" on gsafe46's markers, misplacing them (merge50).
    attempts: list[Callable[[], str]] = [lambda: _aligned(a, b, c)]
    if len(a) == len(b):
        attempts = [lambda: _respelled(a, b, c), *attempts, lambda: _respelled(a, b, c, removed_ok=True)]
    for attempt in attempts:
        try:
            out = attempt()
        except InputError:
            continue
        if _same_yaml(out, new):
            return out
    return new


# ruamel writes a document that starts with a flow collection or a scalar on its `---` line (`--- {apiVersion: …}`): in
# a file that writes `---` on a line of its own, no line of the dump matched the file's `---` and document line, the
# line mapping failed, and ruamel's whole dump was written: `---` joined with the document, a `...` end marker dropped,
# a comment after `---` moved below it (gsafe46). The dump's lines are split back as the file writes them.
_MARKER_WITH_DOC = re.compile(r"--- +[^#\s]")


def _split_markers(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if _MARKER_WITH_DOC.match(line):
            end = "\r\n" if line.endswith("\r\n") else "\n"
            out += ["---" + end, line[3:].lstrip(" ")]
        else:
            out.append(line)
    return out


def _same_yaml(x: str, y: str) -> bool:
    from tpdoctor.deploy.yamlread import load_plain

    try:
        px, py = load_plain(x), load_plain(y)
        if px is None or py is None:
            px, py = list(rt_yaml().load_all(x)), list(rt_yaml().load_all(y))
    except (YAMLError, RecursionError, ValueError):
        return False
    return bool(px == py)
