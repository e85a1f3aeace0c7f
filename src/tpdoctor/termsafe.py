"""Text safe to show on a terminal, for every line tpdoctor prints that can hold someone else's bytes.

A log line, a file name, a compose value or a YAML escape (`"\\e]0;title\\a"`) can carry control characters: ESC
sequences move the cursor, clear the screen, retitle the window or reset the terminal (`ESC c`), C1 controls (U+0080
to U+009F: U+009B is a CSI of its own) do the same on terminals that read them, a carriage return or a newline in a
file name can overwrite or forge a `tpdoctor:` line, and the Unicode bidi controls (U+202A-U+202E, U+2066-U+2069, the
marks U+200E/U+200F/U+061C) reorder what follows them on terminals that lay out bidi text (Trojan Source,
CVE-2021-42574). Each of them becomes U+FFFD, and so does a lone surrogate (a non-UTF-8 byte
kept by surrogateescape, written back raw); tabs stay. Imports nothing of ours: the CLI's error path uses it.
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"
# the non-ASCII controls: C1, the bidi controls and marks, the line/paragraph separators (facts/snapshot.py escapes the
# same set in the JSON it writes)
UNICODE_CONTROLS = (
    *range(0x80, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,
    0x2029,
)
_CONTROL = dict.fromkeys(
    [
        *range(0x00, 0x09),
        *range(0x0A, 0x20),
        0x7F,
        *UNICODE_CONTROLS,
        # lone surrogates: a non-UTF-8 file name or byte read with surrogateescape holds its bytes 0x80-0xFF as
        # U+DC80-U+DCFF, which the output stream writes back as those raw bytes: 0x9B is an 8-bit CSI, 0x9D an OSC on
        # a terminal that reads 8-bit controls (explain printed a log named `c1\x9b2J` so, gsafe44)
        *range(0xD800, 0xE000),
    ],
    REPLACEMENT,
)


def printable(text: str) -> str:
    """One line safe to print: control, C1 and bidi characters replaced by U+FFFD (a newline too)."""
    return text.translate(_CONTROL)


def printable_lines(text: str) -> str:
    """Several lines safe to print: each line as printable(), the newlines between them kept."""
    return "\n".join(printable(line) for line in text.split("\n"))


def one_line(text: str) -> str:
    """A message as one printable line: its lines joined by a blank (an error that echoes a YAML parser's two-line
    message, or a file name holding a newline, cannot start a line of its own)."""
    lines = text.splitlines() or [""]
    rest = [part.strip() for part in lines[1:] if part.strip()]
    return printable(" ".join([lines[0].rstrip(), *rest]))
