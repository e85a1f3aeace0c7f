"""The token loop shared by the typer-free fast paths of check, audit, explain and run.

Each command lists the options its fast path understands (name -> takes a value) and gets the raw
values back, or None for anything else (--help, a typo, a repeated option, a missing value): typer
then parses the same argv and owns every message. tests/test_cli_fast_path.py runs both paths.
"""

from __future__ import annotations

RawOptions = dict[str, "str | bool"]


def split_options(
    args: list[str],
    options: dict[str, bool],
    aliases: dict[str, str] | None = None,
    *,
    positionals: bool = False,
) -> tuple[RawOptions, list[str]] | None:
    """`({option: value or True}, positionals)`, options keyed by their long name (via `aliases`);
    None when typer must parse. Without `positionals` a bare word is not understood."""
    raw: RawOptions = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if positionals and (not arg.startswith("-") or arg == "-"):
            rest.append(arg)
            i += 1
            continue
        name, eq, value = arg.partition("=")
        takes = options.get(name)
        key = (aliases or {}).get(name, name)
        if takes is None or (eq and not takes) or key in raw:
            return None
        if takes and not eq:
            if i + 1 >= len(args):
                return None
            value, i = args[i + 1], i + 1
        raw[key] = value if takes else True
        i += 1
    return raw, rest
