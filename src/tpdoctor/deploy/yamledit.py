"""Editing ruamel round-trip trees so that only what changes changes: the helpers every YAML
frontend (compose, Kubernetes) uses to set, insert and remove keys and list items while the
user's comments stay where they were, and scalars YAML would misread are quoted."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from ruamel.yaml.comments import CommentedMap, CommentedSeq, merge_attrib
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.tokens import CommentToken


def quoted(v: str) -> Any:
    # quote what YAML would otherwise read as a number or a mapping ("992", "a:b")
    return DoubleQuotedScalarString(v) if re.fullmatch(r"[0-9]+|.*[:#{}\[\],&*!|>'\"%@`].*|\$\{.*", v) else v


# --- comments around edited entries -------------------------------------------------------------
# ruamel attaches the full-line comments that follow an entry to that entry (a list item's
# comment token, a scalar value's post-comment): "# the VPN" above `- /dev/net/tun` belongs to
# the item before it, "# weights" above `volumes:` to the last item of the list before it.
# Removing or appending next to such an entry would drop or move them, so the edits below first
# detach those lines and give them back to what they precede.


def _detach_following(tok: Any, blanks: bool = False) -> str:
    """Cut the full-line comments after an entry's own end-of-line comment; return them raw. `blanks`: blank lines
    alone are cut too."""
    if tok is None:
        return ""
    head, _, rest = str(tok.value).partition("\n")
    if not rest.strip() and not (blanks and rest):
        return ""
    tok.value = head + "\n"
    return rest


def _item_token(seq: CommentedSeq, i: int) -> Any:
    c = seq.ca.items.get(i)
    return c[0] if c else None


def _seq_tail_token(seq: CommentedSeq) -> Any:
    """The token holding the comments and blank lines after a list's last item: the item's own, or, for a block
    mapping (or list) item, its last entry's (ruamel keeps them there: the blank line that closed a container's
    `volumeMounts` of mappings stayed above the mount --fix appended, and above the `securityContext` it added after
    them, gwild52)."""
    last = seq[len(seq) - 1]
    if _block(last) and isinstance(last, CommentedMap):
        return _tail_token(last, list(last.keys())[-1])
    if _block(last) and isinstance(last, CommentedSeq):
        return _seq_tail_token(last)
    return _item_token(seq, len(seq) - 1)


def _tail_token(m: CommentedMap, key: Any) -> Any:
    """The token holding the comments that follow entry `key` of map `m` (recursing into its value)."""
    v = m.get(key)
    if isinstance(v, CommentedSeq) and len(v):
        # a list of mappings (compose's long `volumes:` syntax, a container's `volumeMounts:`): ruamel keeps the
        # comments after it on the last item's last entry, and the comment that opens the next service or pod key
        # stayed above the keys a fix added (review52, gwild52: both found it)
        return _seq_tail_token(v)
    if isinstance(v, CommentedMap) and len(v):
        return _tail_token(v, list(v.keys())[-1])
    c = m.ca.items.get(key)
    return c[2] if c and len(c) > 2 else None


def _api_text(raw: str) -> str:
    out = []
    for ln in raw.splitlines():
        t = ln.strip()
        if t.startswith("#"):
            t = t[1:]
            out.append(t[1:] if t.startswith(" ") else t)
    return "\n".join(out)


def _key_col(m: CommentedMap, key: Any, default: int) -> int:
    try:
        return int(m.lc.key(key)[1])
    except (AttributeError, KeyError, TypeError):
        return default


def _put_before(m: CommentedMap, key: Any, raw: str, default_col: int) -> None:
    """The comment lines `raw` (cut after another entry) in front of entry `key`, as the file spells them: their own
    columns and blank lines (a block commented out at column 0 was re-indented to the key's column and lost the blank
    line after it; review52). A key whose before-comments ruamel keeps elsewhere (the map's first) gets them as
    ruamel's API writes them, at the key's column."""
    keys = list(m.keys())
    if keys and keys[0] != key and raw.endswith("\n") and all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in raw.splitlines()
    ):
        c = m.ca.items.setdefault(key, [None, [], None, None])
        if c[1] is None:
            c[1] = []
        c[1].append(CommentToken(raw, CommentMark(0), None))
        return
    m.yaml_set_comment_before_after_key(key, before=_api_text(raw), indent=_key_col(m, key, default_col))


def _append_to_item(seq: CommentedSeq, i: int, raw: str) -> None:
    tok = _item_token(seq, i)
    if tok is not None:
        tok.value = str(tok.value) + raw
    else:
        seq.ca.items[i] = [CommentToken("\n" + raw, CommentMark(0), None), None, None, None]


def _append_after_entry(m: CommentedMap, key: Any, raw: str) -> None:
    """Comment lines after entry `key` (no comment of its own yet), past its nested last entry:
    an added `environment: {K: V}` at the end of the file keeps the file's last comment last."""
    v = m[key]
    if _block(v) and isinstance(v, CommentedSeq):
        last = v[len(v) - 1]
        if _block(last) and isinstance(last, CommentedMap):
            # a mapping item: ruamel writes no comment on the item itself, it was dropped
            _append_after_entry(last, list(last.keys())[-1], raw)
        elif _block(last):  # a list item that is a list
            _append_to_item(last, len(last) - 1, raw)
        else:
            _append_to_item(v, len(v) - 1, raw)
    elif _block(v) and isinstance(v, CommentedMap):
        _append_after_entry(v, list(v.keys())[-1], raw)
    else:  # a scalar, or a flow collection (`capabilities: [gpu]`): the comment follows its line
        m.ca.items.setdefault(key, [None, None, None, None])[2] = CommentToken(
            "\n" + raw, CommentMark(0), None
        )


def _block(v: Any) -> bool:
    """A non-empty block-style collection (a comment can follow its last entry's line)."""
    return isinstance(v, (CommentedSeq, CommentedMap)) and len(v) > 0 and not v.fa.flow_style()


class Rehome:
    """Where comments that preceded something in a block (a compose service, a container) go
    once that something moves. `siblings` holds the block under `name`, indented `indent`."""

    def __init__(self, siblings: CommentedMap, name: Any, indent: int, key_indent: int = 4) -> None:
        self.siblings, self.name, self.indent, self.key_indent = siblings, name, indent, key_indent

    def after_service(self, raw: str, svc: CommentedMap) -> None:
        """Comments that followed the block's last entry: they precede the next block."""
        names = list(self.siblings.keys())
        i = names.index(self.name)
        if i + 1 < len(names):
            _put_before(self.siblings, names[i + 1], raw, self.indent)
            return
        keys = list(svc.keys())
        tok = _tail_token(svc, keys[-1]) if keys else None
        if tok is not None:
            tok.value = str(tok.value) + raw
        elif keys:
            last = svc[keys[-1]]
            if isinstance(last, (CommentedSeq, CommentedMap)) and not len(last) and len(keys) > 1:
                # a key just added, filled after this: a comment on it was dropped (the file's last line, `# tail`,
                # went when `deploy:` was appended; gsafe43); it stays after the entry it followed
                _append_after_entry(svc, keys[-2], raw)
            else:
                _append_after_entry(svc, keys[-1], raw)

    def before_key(self, svc: CommentedMap, key: Any, raw: str) -> None:
        _put_before(svc, key, raw, self.key_indent)


def delete_key(svc: CommentedMap, key: str, home: Rehome) -> None:
    keys = list(svc.keys())
    raw = _detach_following(_tail_token(svc, key))
    del svc[key]
    if raw:
        i = keys.index(key)
        if i + 1 < len(keys):
            home.before_key(svc, keys[i + 1], raw)
        else:
            home.after_service(raw, svc)


def delete_item(svc: CommentedMap, key: str, seq: CommentedSeq, i: int, home: Rehome) -> None:
    raw = _detach_following(_item_token(seq, i))
    del seq[i]
    if not raw:
        return
    if i > 0:
        _append_to_item(seq, i - 1, raw)  # still right after the item before, before the next one
    elif len(seq):
        col = _key_col(svc, key, 4) + 2
        svc.yaml_set_comment_before_after_key(key, after=_api_text(raw), after_indent=col)
    else:  # the list is now empty and its key goes: the comments precede the next key
        keys = list(svc.keys())
        j = keys.index(key)
        if j + 1 < len(keys):
            home.before_key(svc, keys[j + 1], raw)
        else:
            home.after_service(raw, svc)


def append_item(seq: CommentedSeq, item: Any) -> None:
    raw = _detach_following(_seq_tail_token(seq)) if len(seq) else ""
    seq.append(item)
    if raw:
        if _block(item) and isinstance(item, CommentedMap):
            _append_after_entry(item, list(item.keys())[-1], raw)
        else:
            _append_to_item(seq, len(seq) - 1, raw)


def insert_near(svc: CommentedMap, key: str, value: Any, order: Sequence[str]) -> None:
    """Insert `key` after the closest key that precedes it in `order` (the format's own reading
    order), or at the end."""
    keys = list(svc.keys())
    want = order.index(key) if key in order else len(order)
    pos = len(keys)
    for i, k in enumerate(keys):
        if k in order and order.index(k) > want:
            pos = i
            break
    svc.insert(pos, key, value)


def insert_keeping_comments(
    svc: CommentedMap, key: str, value: Any, home: Rehome, order: Sequence[str] = ()
) -> None:
    """insert_near, but the comments that preceded the entry after the insertion point (held by
    the entry before it) stay in front of that entry, not in front of the new key."""
    keys = list(svc.keys())
    insert_near(svc, key, value, order)
    pos = list(svc.keys()).index(key)
    if pos == 0:
        return
    raw = _detach_following(_tail_token(svc, keys[pos - 1]))
    if not raw:
        return
    if pos < len(keys):
        home.before_key(svc, keys[pos], raw)
    else:
        home.after_service(raw, svc)


def split_tail(raw: str, col: int) -> tuple[str, str]:
    """Comment lines held after a block's last entry, split where they stop belonging to it: the comment lines before
    the first blank line indented at least `col` (a commented-out list item or key of that block) stay with its last
    entry; the rest (blank lines, comments above the next block) stays before the next block."""
    lines = raw.splitlines(keepends=True)
    n = 0
    for ln in lines:
        body = ln.lstrip(" ")
        if not body.startswith("#") or len(ln) - len(body) < col:
            break
        n += 1
    return "".join(lines[:n]), "".join(lines[n:])


def hold_tail_comments(m: Any) -> tuple[Any, Any, str]:
    """The full-line comments (and blank lines) after a map's last entry, cut off before keys are added at its end.
    ruamel keeps them on the deepest last node, so a `securityContext` added at the end of a container came below the
    comment that opens the pod's next key (KubeRay's `# Please add the following taints to the GPU node.` above
    `tolerations:`, gwild50), and below the blank line that separated it from the next container (gwild52)."""
    if not isinstance(m, CommentedMap) or not len(m):
        return m, None, ""
    last = last_own_key(m)
    if last is None:
        return m, None, ""
    return m, last, _detach_following(_tail_token(m, last), blanks=True)


def last_own_key(m: CommentedMap) -> Any:
    """The map's last entry written in it: keys a merge key (`<<: *gpu`) brings come after the own ones in `keys()`,
    and their comments are the anchor's (gwild54: AIBrix's standalone compose, whose services merge a GPU
    reservation, got `deploy:` below the comment lines that open the next section)."""
    if not getattr(m, merge_attrib, None):
        return list(m.keys())[-1]
    own = [k for k, _ in m.non_merged_items()]
    return own[-1] if own else None


def give_after(m: Any, key: Any, raw: str) -> None:
    """Comment lines put back right after entry `key` of map `m` (after its nested last entry), even when entries
    were added after it; after m's last entry when `key` is gone."""
    if not raw or not isinstance(m, CommentedMap) or not len(m):
        return
    _append_to_tail(m, key if key in m else list(m.keys())[-1], raw)


def give_tail_comments(m: Any, last: Any, raw: str) -> None:
    """The comments hold_tail_comments cut, put back after the map's last entry (a new one, if keys were added)."""
    if not raw or not isinstance(m, CommentedMap) or not len(m):
        return
    now = list(m.keys())[-1]
    if now == last:
        _append_to_tail(m, now, raw)
    else:
        _append_after_entry(m, now, raw)


def _append_to_tail(m: CommentedMap, key: Any, raw: str) -> None:
    """Comment lines added after entry `key` (after its nested last entry): to the token that holds its following
    comments, or as a new one."""
    tok = _tail_token(m, key)
    if tok is not None:
        tok.value = str(tok.value) + raw
    else:
        _append_after_entry(m, key, raw)


# YAML merge keys (`<<: *base`, compose's usual way to share settings between services): ruamel shows the merged
# entries in the service's map, but they are the anchor's own objects. An edit made through them changed the anchor,
# so every service that merges it (one tpdoctor said nothing about) lost its SYS_ADMIN or seccomp:unconfined, and a
# deleted merged key came back on the next load ("privileged removed" while the file stayed privileged; gsafe41).
def merged_has(m: CommentedMap, key: Any) -> bool:
    """key is set by a merge key of m: deleting m's own entry would bring the merged value back."""
    return any(isinstance(src, dict) and key in src for src in getattr(m, merge_attrib, ()))


def inherited(m: CommentedMap, key: Any) -> bool:
    """m[key] comes from a merge key, not from m itself."""
    return bool(getattr(m, merge_attrib, None)) and key in m and key not in _own_keys(m)


def _own_keys(m: CommentedMap) -> set[Any]:
    return {k for k, _ in m.non_merged_items()}


def unanchored_copy(value: Any) -> Any:
    """A deep copy of a merged value without its anchors (the aliases elsewhere name the original)."""
    value = copy.deepcopy(value)
    stack = [value]
    while stack:
        node = stack.pop()
        anchor = getattr(node, "anchor", None)
        if anchor is not None and getattr(anchor, "value", None) is not None:
            anchor.value = None
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return value


def _anchored(value: Any) -> bool:
    anchor = getattr(value, "anchor", None)
    return anchor is not None and getattr(anchor, "value", None) is not None


def unshare(m: CommentedMap, key: str) -> Any:
    """m[key] as m's own value before an edit: a value inherited through a merge key or shared through an anchor
    (`securityContext: *sc`, aliased by a sidecar too) becomes an unanchored copy, and so does any such value below
    it; what is not shared is left as written. The edit then changes this container or service alone (gsafe41)."""
    value = m.get(key)
    if not isinstance(value, (dict, list)):
        return value
    if inherited(m, key) or _anchored(value):
        value = unanchored_copy(value)
        m[key] = value
        return value
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        merged = isinstance(node, CommentedMap) and bool(getattr(node, merge_attrib, None))
        own = _own_keys(node) if merged else set()  # once per map: a check per key was quadratic
        for k, v in items:
            if not isinstance(v, (dict, list)):
                continue
            if (merged and k not in own) or _anchored(v):
                node[k] = unanchored_copy(v)
            else:
                stack.append(v)
    return value


_Node = TypeVar("_Node", CommentedMap, CommentedSeq)


def _ensure(parent: CommentedMap, key: str, kind: type[_Node]) -> _Node:
    """parent[key] as a node of `kind`, created (or replacing a value of another shape) if need be."""
    v = parent.get(key)
    if not isinstance(v, kind):
        v = kind()
        parent[key] = v
    return v


def ensure_map(parent: CommentedMap, key: str) -> CommentedMap:
    return _ensure(parent, key, CommentedMap)


def ensure_seq(parent: CommentedMap, key: str) -> CommentedSeq:
    return _ensure(parent, key, CommentedSeq)
