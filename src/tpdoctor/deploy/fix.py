"""`audit --fix` and `explain --config`: a fold of the findings' edits into the user's file.

The audit rules attach to each finding the edits that remove its cause (model/edits.py); the
findings a `# tpdoctor: allow` covers are already set aside by `audit_model`. Here, once for
every format, each service's edits are folded (duplicates once, in application order) and
handed to the file's Frontend, which writes them in place. `explain --config` keeps only the
findings whose rule remedies the causes a log diagnosed (`remedies=` of `@deploy_rule`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tpdoctor.deploy.audit import Loaded, audit_model, load
from tpdoctor.deploy.model import DeploymentModel
from tpdoctor.errors import InputError
from tpdoctor.model import Facts, Finding
from tpdoctor.model.edits import Edit, FixNotice, Manual, fold

# Narrows one service's findings (explain --config keeps those that remedy the diagnosed causes).
FindingFilter = Callable[[list[Finding]], list[Finding]]


@dataclass
class Plan:
    """What the fold did to one service: its edits, why, and what stayed as written."""

    service: str
    edits: list[Edit] = field(default_factory=list)
    cannot: list[str] = field(default_factory=list)

    @property
    def ops(self) -> list[Edit]:
        """The edits written into the file (not those it only reports)."""
        return [e for e in self.edits if not isinstance(e, (Manual, FixNotice))]

    @property
    def why(self) -> list[str]:
        return list(dict.fromkeys(e.why for e in self.ops if e.why))


@dataclass
class FixResult:
    text: str
    plans: list[Plan] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)  # findings an exception set aside (audit's notes)
    # findings only the fix reports (a FixNotice among their edits), of the services it changes:
    # what an edit means for the running container, shown with the fix's output
    notices: list[Finding] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(p.ops for p in self.plans)


def fix_loaded(
    loaded: Loaded,
    facts: Facts | None,
    ipc_exchange: str = "drmfd",
    pss: str | None = None,
    select: FindingFilter | None = None,
) -> FixResult:
    """Fold the edits of every finding no exception allows (narrowed by `select`) into the text."""
    res = audit_model(loaded.model, facts, ipc_exchange=ipc_exchange, pss=pss, fixing=True)
    plans: list[Plan] = []
    notices: list[Finding] = []
    for svc in loaded.model.services:
        found = res.per_service.get(svc.name, [])
        if select is not None:
            found = select(found)
        plan = Plan(svc.name, fold([e for f in found for e in f.edits]))
        plan.cannot = [e.why for e in plan.edits if isinstance(e, Manual)]
        if plan.ops:
            plan.cannot += loaded.frontend.apply(loaded.handle, svc, plan.ops)
            notices += [f for f in found if any(isinstance(e, FixNotice) for e in f.edits)]
        plans.append(plan)
    changed = any(p.ops for p in plans)
    try:
        text = loaded.frontend.dump(loaded.handle) if changed else loaded.text
    except InputError as exc:  # a JSON line the fix would re-spell (deploy/io.py _json_spliced): name the file
        if str(loaded.path) in str(exc):
            raise
        raise InputError(f"{loaded.path}: {exc}") from None
    return FixResult(text, plans, res.allowed, notices)


def unified_diff(path: str, old: str, new: str) -> str:
    """The patch from `old` to `new`. A last line without a newline is followed by GNU diff's marker line: difflib
    leaves it unended, so the `+` line (or the report after the diff) was glued to the `-` line (gsafe42)."""
    lines = difflib.unified_diff(
        _lines(old),
        _lines(new),
        fromfile=path,
        tofile=f"{path} (least privilege)",
    )
    return "".join(x if x.endswith("\n") else x + "\n\\ No newline at end of file\n" for x in lines)


def _lines(text: str) -> list[str]:
    """`text`'s lines as patch(1) reads them: split at `\n` only. str.splitlines() also splits at U+2028, U+0085, a
    form feed or a lone CR, and each such piece got the marker above in the middle of the file (review42)."""
    lines = text.split("\n")
    out = [x + "\n" for x in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


_REFERENCE = re.compile(r"\s*\$\{?[A-Za-z_][A-Za-z0-9_]*(?::?[-?+][^}]*)?\}?\s*")  # `${HF_TOKEN}`: no secret


def secret_values(model: DeploymentModel) -> list[str]:
    """The values the file gives its secret-named variables (`DB_PASSWORD: x`, `{name: API_TOKEN, value: x}`), longest
    first. Short ones (under 6 characters: `true`, `none`) are left to the redactor's shapes, so that a diff keeps its
    other lines readable; a value of several words is also hidden piecewise where it is written over several lines
    (hide_values)."""
    from tpdoctor.redact import REDACTED, is_secret_name

    found: set[str] = set()
    for svc in model.services:
        for name, value in svc.env.items():
            if not isinstance(value, str) or not is_secret_name(name) or REDACTED in value or _REFERENCE.fullmatch(value):
                continue
            if len(value.strip()) >= 6:
                found.add(value.strip())
    # a Secret's values, whatever their keys; one written over lines (a PEM key under `tls.key: |`) line by line
    for value in model.secret_data:
        for piece in value.splitlines() or [value]:
            if len(piece.strip()) >= 6 and REDACTED not in piece:
                found.add(piece.strip())
    return sorted(found, key=len, reverse=True)


_TOKEN = re.compile(r"\S+")
_BLOCK_INDICATOR = re.compile(r"[>|][-+0-9]*")
_WRAP = "\"'{},[]"


def _secret_key(name: str) -> bool:
    from tpdoctor.redact import is_secret_name

    name = name.strip(_WRAP)
    return name == "value" or is_secret_name(name)


def _piece_span(content: str, words: set[str], opened: bool) -> tuple[tuple[int, int] | None, bool]:
    """Where the secret is on a line that is a piece of a several-word value written over lines (a folded or literal
    block, a plain or quoted scalar going on below its key), and whether the value goes on below it. The line's first
    piece follows a list dash, a secret's `key:` (or `key=`, a compose list entry) and a block indicator; a line
    without such a key is a piece only right below one (`opened`). Every word after that is one of the value's, up to
    a comment. Before (review43): any line of the value's words was starred, another variable's `MODE: horse` too,
    and a piece line ending in a comment (`battery staple  # rotate`) was printed whole."""
    span: tuple[int, int] | None = None
    keyed = False
    for i, m in enumerate(_TOKEN.finditer(content)):
        tok = m.group()
        if tok.strip(_WRAP) in words:
            span = (m.start() if span is None else span[0], m.end())
            continue
        if span is None:
            if tok == "-" or (keyed and _BLOCK_INDICATOR.fullmatch(tok)):
                continue
            if i <= 1 and not keyed and tok.endswith(":") and _secret_key(tok[:-1]):
                keyed = True
                continue
            name, eq, rest = tok.partition("=")
            if i <= 1 and not keyed and eq and _secret_key(name) and rest.strip(_WRAP) in words:
                keyed, span = True, (m.start() + len(name) + 1, m.end())
                continue
        elif tok.startswith("#"):  # a comment ends a plain scalar (a `#` inside the value is one of its words)
            break
        return None, False
    if span is None:
        return None, keyed  # `DB_PASSWORD: >-`: the value starts on the next line
    return (span if keyed or opened else None), keyed or opened


# A secret's key and a quote that the line does not close (`DB_PASSWORD: "Quokka \`, `{name: API_TOKEN, value: "a b`):
# the value goes on below up to the closing quote. Its pieces are found by the quotes, not by the words of the parsed
# value: a piece holding a YAML escape (`Lan\x41tern`, `\u0041`, a `\` line continuation that joins `Lan` and `tern`)
# is no word of the parsed value, and such a line (and every line below it) was printed as is (gsafe44).
_QUOTED_KEY = re.compile(
    r"""(?:^|(?<=[\s{,]))(?:-[ \t]+)?["']?(?P<k>[A-Za-z_][\w.-]*)["']?[ \t]*(?::[ \t]+|=)(?P<q>["'])"""
)
# a compose list entry quoted whole, the quote before the key (`- "DB_PASSWORD=Quokka \x41b`): the value is the rest
_QUOTED_ITEM = re.compile(r"""(?:^|(?<=[\s{,\[]))(?:-[ \t]+)?(?P<q>["'])(?P<k>[A-Za-z_][\w.-]*)=""")
# the same with a plain scalar that runs to the line's end inside a flow mapping (`{name: DB_PASSWORD, value: a b`):
# a flow mapping written over lines; the line below was no piece (no key on it, none opened above it, gsafe44)
_FLOW_PLAIN_KEY = re.compile(
    r"""(?:^|(?<=[\s{,]))["']?(?P<k>[A-Za-z_][\w.-]*)["']?[ \t]*:[ \t]+[^\s"'{}\[\],#&*!|>][^{}\[\],#]*$"""
)


def _close_quote(s: str, i: int, q: str) -> int:
    """The index of the quote that closes a YAML (or shell) scalar quoted with `q` at or after `i`, -1 for none on `s`."""
    while i < len(s):
        c = s[i]
        if q == '"' and c == "\\":
            i += 2
            continue
        if c == q:
            if q == "'" and s[i + 1 : i + 2] == "'":  # '' is a quote inside a single-quoted scalar
                i += 2
                continue
            if q == "'" and s.startswith("\\''", i + 1):
                # the shell's '\'' (a docker run line: close, an escaped quote, reopen; no valid YAML has it): the
                # value goes on (`-e 'DB_PASSWORD=Quokka42 it'\''s Lantern42x'` printed `s Lantern42x'`, review44)
                i += 4
                continue
            return i
        i += 1
    return -1


def _quoted_piece(content: str, q_open: str | None) -> tuple[list[tuple[int, int]], str | None]:
    """Inside a secret's quoted value (`q_open`): the span of its piece on this line and whether it goes on. Else: the
    spans of the secrets' quoted values on this line (up to their closing quotes: `"a\"b c"` or `"a \x41b"` hid only
    up to the escaped quote or the first word), and the quote of one this line leaves open."""
    body = content.rstrip("\r\n")
    if q_open:
        start = len(body) - len(body.lstrip())
        end = _close_quote(body, start, q_open)
        if end < 0:
            return ([(start, len(body.rstrip()))] if body.strip() else []), q_open
        return ([(start, end)] if end > start else []), None
    spans: list[tuple[int, int]] = []
    pos = 0
    # each pattern's next match, searched again only once `pos` has passed its start: searching both from `pos` each
    # time scanned the line to its end per key for the one that had no match (82 s a 64 KiB line of `a: "b" `, review44)
    patterns = (_QUOTED_KEY, _QUOTED_ITEM)
    nxt = [rx.search(body) for rx in patterns]
    while True:
        for j, rx in enumerate(patterns):
            had = nxt[j]
            if had is not None and had.start() < pos:
                nxt[j] = rx.search(body, pos)
        found = [x for x in nxt if x is not None]
        if not found:
            return spans, None
        m = min(found, key=lambda x: x.start())
        close = _close_quote(body, m.end(), m.group("q"))
        secret = _secret_key(m.group("k"))
        if close < 0:
            if not secret:
                return spans, None  # another key's value runs to the end of the line
            end = len(body.rstrip())
            return spans + ([(m.end(), end)] if end > m.end() else []), m.group("q")
        if secret and close > m.end() and not _REFERENCE.fullmatch(body, m.end(), close):  # `"${HF_TOKEN}"`: no secret
            spans.append((m.end(), close))
        pos = close + 1


def _flow_plain_opens(content: str) -> bool:
    """A secret's plain value in a flow mapping that the line leaves open: it goes on below."""
    body = content.rstrip("\r\n")
    if "{" not in body:
        return False
    # the value runs to the line's end without a flow indicator or `#`, and neither the key nor the `: ` holds one: the
    # match lies after the last of them. Searched from the line's start, every key before it ran its tail to the end
    # and back (quadratic: 27 s a 64 KiB line of `a: b `, review44)
    last = max(body.rfind(c) for c in "{}[],#")
    m = _FLOW_PLAIN_KEY.search(body, last + 1)
    return m is not None and _secret_key(m.group("k"))


def hide_values(diff: str, values: list[str]) -> str:
    """The diff with every such value replaced: the line redactor knows an env entry by its shape, and one written
    value first after a bare `-`, as a folded block above its `name:`, or as a flow mapping over two lines was printed
    as a context or removed line (gsafe42). A several-word value written over lines is hidden on its key's line and the
    lines below it that hold only its words (up to a comment); any 8+ character word of it was starred anywhere in the
    diff, an unrelated line's too (gsafe43, review43)."""
    from tpdoctor.redact import REDACTED

    words: set[str] = set()
    for v in values:
        if len(v.split()) > 1:
            words.update(w.strip(_WRAP) for w in v.split())
    words.discard("")
    out = []
    # the two file headers and the hunk headers hold no value; a removed line of the file that starts with `--` is
    # `---…` too, and was printed as is (review42)
    opened = False  # the line above is a piece of a several-word value, or the key line it starts below
    quote: str | None = None  # in a secret's quoted value that goes on below (its quote)
    for i, line in enumerate(_lines(diff)):
        if not ((i < 2 and line.startswith(("--- ", "+++ "))) or line.startswith("@@ ")):
            for v in values:
                if v in line:
                    line = line.replace(v, REDACTED)
            if line[:1] in (" ", "+", "-"):
                # a quoted value is found by its quotes, whatever its words (and a short one, under 6 characters, too)
                inside = quote is not None
                spans, quote = _quoted_piece(line[1:], quote)
                for a, b in reversed(spans):  # from the right: the offsets on the left stay
                    if line[1 + a : 1 + b] != REDACTED:
                        line = line[: 1 + a] + REDACTED + line[1 + b :]
                if inside or quote is not None:
                    opened = False
                elif words:
                    span, opened = _piece_span(line[1:], words, opened)
                    if span is not None:
                        # a flow mapping's `}` or `,` after the last piece is the file's, not the value's
                        a, b = span
                        while b > a and line[b] in "}],":
                            b -= 1
                        line = line[: 1 + a] + REDACTED + line[1 + b :]
                    opened = opened or _flow_plain_opens(line[1:])
            else:
                opened, quote = False, None
        else:
            opened, quote = False, None
        out.append(line)
    return "".join(out)


# --- explain --config ---------------------------------------------------------------------------


def remedy_filter(causes: Iterable[str]) -> FindingFilter:
    """Keep the findings whose rule remedies one of `causes`; all of a service's findings when
    one of them is remedied by its whole least-privilege edit (privileged replaced)."""
    from tpdoctor.rules.registry import deploy_remedies, deploy_rewrites_service

    wanted = set(causes)
    remedies, whole = deploy_remedies(), deploy_rewrites_service()

    def select(found: list[Finding]) -> list[Finding]:
        kept = [f for f in found if remedies.get(f.cause, frozenset()) & wanted]
        return found if any(f.cause in whole for f in kept) else kept

    return select


def fixable(causes: Iterable[str]) -> list[str]:
    """The causes some deploy rule's edits remove."""
    from tpdoctor.rules.registry import deploy_remedies

    known = {c for cs in deploy_remedies().values() for c in cs}
    return [c for c in dict.fromkeys(causes) if c in known]


@dataclass
class CausePatch:
    loaded: Loaded
    result: FixResult
    causes: list[str]  # the causes the file can fix

    @property
    def changed(self) -> bool:
        return self.result.text != self.loaded.text


def patch_for_causes(
    path: Path | Loaded,
    causes: Iterable[str],
    facts: Facts | None = None,
    ipc_exchange: str = "drmfd",
    fmt: str | None = None,
) -> CausePatch:
    """Read `path` (compose, docker/podman run, Kubernetes) and patch it for `causes`: the edits
    of the audit findings that remedy them. Bad input raises InputError (exit 2), as in `audit`. Given a Loaded (the
    file as the caller read it), that read is patched: explain --config read the file, then this read it again, and a
    file replaced between the two gave a diff from the first text to the second's patch, its secrets hidden by the
    values of the first (gsafe44)."""
    loaded = path if isinstance(path, Loaded) else load(path, fmt)
    can = fixable(causes)
    if not can:
        return CausePatch(loaded, FixResult(loaded.text), [])
    return CausePatch(loaded, fix_loaded(loaded, facts, ipc_exchange, select=remedy_filter(can)), can)
