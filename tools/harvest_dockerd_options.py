#!/usr/bin/env python3
"""Write src/tpdoctor/rules/dockerd_options.py: the daemon.json keys each dockerd release accepts.

dockerd refuses a daemon.json key that is neither a flag name nor the name of a NamedOption flag value nor in
skipValidateOptions ("the following directives don't match any configuration option", moby daemon/config/config.go
findConfigurationConflicts, since v1.13). This reads those three from moby's sources at each tag in TAGS:

- the flag names of every `flags.<Func>(...)` call (the name argument: the first for `String("n", ...)` forms, the
  second for `StringVar(&x, "n", ...)` / `Var(value, "n", ...)` forms);
- the names given to the NamedOption constructors (`NewNamedListOptsRef("labels", ...)` and the like) and the
  constant names returned by `Name() string` methods (`default-address-pools`);
- the keys of `skipValidateOptions`.

Usage: python3 tools/harvest_dockerd_options.py /work/.mirror/moby+moby/repo  (a bare clone of moby/moby)
Over-inclusion (a flag of another command scanned by mistake) only makes the rule quieter, never wrong.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TAGS = ("v20.10.0", "v23.0.0", "v24.0.0", "v25.0.0", "v26.0.0", "v27.0.1", "v28.0.0", "v28.2.0",
        "docker-v29.0.0", "docker-v29.7.2")
# where dockerd's flags are defined across those tags (cmd/dockerd up to v28, daemon/command from v29; the
# registry's and the daemon config's own flag installers; the opts types)
PATHS = ("cmd/dockerd", "daemon/command", "daemon/config", "registry", "opts", "daemon/pkg/opts", "daemon/pkg/registry",
         "internal/opts")
OUT = Path(__file__).resolve().parent.parent / "src/tpdoctor/rules/dockerd_options.py"

_CALL = re.compile(r"\bflags\.([A-Z][A-Za-z0-9]*)\(")
_STR = re.compile(r'"((?:[^"\\]|\\.)*)"')
_NAMED = re.compile(r'\bNewNamed[A-Za-z]*\(\s*"([a-z0-9-]+)"')
_NAME_METHOD = re.compile(r'\)\s*Name\(\)\s*string\s*\{\s*return\s*"([a-z0-9-]+)"')
_SKIP = re.compile(r"var skipValidateOptions = map\[string\]bool\{(.*?)\n\}", re.S)
_KEY = re.compile(r'"([a-z0-9-]+)"\s*:\s*true')
_FLAG = re.compile(r"^[a-z][a-z0-9-]*$")
_CONST = re.compile(r'^\s*([A-Za-z_]\w*)\s*=\s*"([a-z][a-z0-9-]*)"\s*$', re.M)  # FlagTLS = "tls"


def _git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", repo, *args], check=True, capture_output=True, text=True).stdout


def _args(text: str, start: int) -> list[str]:
    """The top-level arguments of the call whose '(' is at text[start - 1]."""
    depth, cur, out, i, quote = 0, "", [], start, ""
    while i < len(text):
        c = text[i]
        if quote:
            cur += c
            if c == "\\":
                cur += text[i + 1]
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"`":
            quote, cur = c, cur + c
        elif c in "([{":
            depth, cur = depth + 1, cur + c
        elif c in ")]}":
            if depth == 0:
                out.append(cur.strip())
                return out
            depth, cur = depth - 1, cur + c
        elif c == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    return out


def _flag_name(func: str, args: list[str], consts: dict[str, str]) -> str | None:
    # String("n", ...) / StringP("n", "s", ...): the name first; StringVar(&x, "n", ...) / Var(v, "n", ...): second
    index = 1 if func.endswith("Var") or func.endswith("VarP") or func == "Var" else 0
    if func in ("Lookup", "MarkHidden", "MarkDeprecated", "SetAnnotation", "Changed", "Set", "VisitAll", "Visit",
                "Parse", "SortFlags", "AddFlagSet", "SetOutput", "Usage", "PrintDefaults"):
        return None
    if len(args) <= index:
        return None
    m = _STR.fullmatch(args[index])
    name = m.group(1) if m else consts.get(args[index])  # a literal, or a constant of the scanned files
    return name if name and _FLAG.match(name) else None


def keys_at(repo: str, tag: str) -> set[str]:
    files = [f for f in _git(repo, "ls-tree", "-r", "--name-only", tag, "--", *PATHS).split()
             if f.endswith(".go") and not f.endswith("_test.go") and "windows" not in f]
    keys: set[str] = set()
    texts = [_git(repo, "show", f"{tag}:{f}") for f in files]
    consts = {k: v for text in texts for k, v in _CONST.findall(text)}
    for text in texts:
        for m in _CALL.finditer(text):
            name = _flag_name(m.group(1), _args(text, m.end()), consts)
            if name:
                keys.add(name)
        keys.update(_NAMED.findall(text))
        keys.update(_NAME_METHOD.findall(text))
        skip = _SKIP.search(text)
        if skip:
            keys.update(_KEY.findall(skip.group(1)))
    return keys


def main() -> int:
    repo = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/moby+moby/repo"
    per_tag = {tag: keys_at(repo, tag) for tag in TAGS}
    every = sorted(set().union(*per_tag.values()))
    lines = [
        '"""daemon.json keys dockerd accepts, per release: generated by tools/harvest_dockerd_options.py from',
        "moby/moby's flag definitions, NamedOption names and skipValidateOptions at each tag (do not edit).",
        "",
        "A key in no release's set is refused by every one of them (\"the following directives don't match any",
        'configuration option", daemon/config/config.go findConfigurationConflicts); a key only in older releases is',
        'refused by the newer ones. Windows-only flags are left out."""',
        "",
        "from __future__ import annotations",
        "",
        f"TAGS: tuple[str, ...] = {TAGS!r}",
        "",
        "# key -> the tags (of TAGS) whose dockerd accepts it",
        "KEYS: dict[str, tuple[str, ...]] = {",
    ]
    for key in every:
        tags = tuple(t for t in TAGS if key in per_tag[t])
        lines.append(f"    {key!r}: {tags!r},")
    lines.append("}")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT}: {len(every)} keys over {len(TAGS)} tags", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
