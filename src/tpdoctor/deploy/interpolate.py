"""Compose variable interpolation and `.env` files, as Compose defines them.

Rules (docs.docker.com/reference/compose-file/interpolation, compose-spec 12-interpolation.md):
`$VAR`, `${VAR}`, `${VAR:-d}` (unset or empty -> d), `${VAR-d}` (unset -> d), `${VAR:?e}` /
`${VAR?e}` (required), `${VAR:+r}` / `${VAR+r}` (alternative), nesting in the default, `$$` for a
literal `$`. `.env` syntax (docs.docker.com/compose/env-file): `#` comment lines, `KEY=VAL`,
optional `export `, single quotes literal, double quotes and bare values interpolated, an inline
comment after a bare value needs a blank before `#`.

tpdoctor audits a file away from the host that will run it, so a variable that neither the
file's `.env` nor a default sets stays as written (Compose would substitute an empty string).
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_DOTENV = 256 * 1024


def interpolate(value: str, env: dict[str, str]) -> str:
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        if value.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if value.startswith("${", i):
            end = _close(value, i + 2)
            out.append(_braced(value[i + 2 : end], env, value[i : end + 1]))
            i = end + 1
            continue
        m = _NAME.match(value, i + 1)
        if m:
            out.append(env.get(m.group(0), value[i : m.end()]))
            i = m.end()
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _close(s: str, i: int) -> int:
    depth = 1
    while i < len(s):
        if s.startswith("${", i):
            depth += 1
            i += 2
            continue
        if s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(s)


def _braced(body: str, env: dict[str, str], raw: str) -> str:
    m = _NAME.match(body)
    if not m:
        return raw
    name, rest = m.group(0), body[m.end() :]
    val = env.get(name)
    if not rest:
        return raw if val is None else val
    op = rest[:2] if rest[:2] in (":-", ":?", ":+") else rest[:1]
    arg = rest[len(op) :]
    empty_counts = op.startswith(":")
    unset = val is None or (empty_counts and val == "")
    if op in (":-", "-"):
        return interpolate(arg, env) if unset else str(val)
    if op in (":+", "+"):
        return "" if unset else interpolate(arg, env)
    if op in (":?", "?"):
        return raw if unset else str(val)
    return raw


def read_dotenv(path: Path) -> dict[str, str]:
    """The `.env` beside a compose file, or {} when there is none (a link or a huge file is ignored)."""
    try:
        st = path.lstat()
    except OSError:
        return {}
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_DOTENV:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return parse_dotenv(text)


def parse_dotenv(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("export "):
            s = s[7:].lstrip()
        key, eq, val = s.partition("=")
        key = key.strip()
        if not eq or not _NAME.fullmatch(key):
            continue
        val = val.strip()
        if val[:1] == "'" and "'" in val[1:]:
            env[key] = val[1 : val.index("'", 1)]
        elif val[:1] == '"' and '"' in val[1:]:
            inner = re.match(r'"((?:[^"\\]|\\.)*)"', val)
            raw = inner.group(1) if inner else val[1:-1]
            env[key] = interpolate(raw.replace('\\"', '"').replace("\\\\", "\\"), env)
        else:
            env[key] = interpolate(re.split(r"\s+#", val, maxsplit=1)[0].strip(), env)
    return env
