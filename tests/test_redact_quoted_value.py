"""grefactor48: in redact.py a quoted value ends at its closing quote, else at the line's end, in one place
(_quoted_value_end) for the four redactors that wrote it out: a secret key's quoted value, a word quoted whole before
its key (`'API_TOKEN=a b'`), an argv list's quoted item after a secret flag, and the line after a continued secret.
Three of them cut only `\\n` off the line, so an unclosed quote on a CRLF line took the `\\r` into the redaction and
the line came out with a bare `\\n`; the fourth cut `\\r\\n`, which is right: redaction replaces the secret, never the
line's end (a CRLF file's lines keep their CRLF, as safewrite.py keeps them for `--write`)."""

from __future__ import annotations

import pytest

from tpdoctor.redact import REDACTED, redact_line, redact_text


@pytest.mark.parametrize(
    "line,want",
    [
        ('password="Walrus77 rest', f'password="{REDACTED}'),
        ("export 'API_TOKEN=Walrus77 rest", f"export 'API_TOKEN={REDACTED}"),
        ("['--api-key', 'Walrus77 rest", f"['--api-key', '{REDACTED}"),
        ('run --password "Walrus77 rest', f'run --password "{REDACTED}'),
    ],
)
@pytest.mark.parametrize("eol", ["\n", "\r\n", ""])
def test_an_unclosed_quoted_value_ends_before_the_line_break(line: str, want: str, eol: str) -> None:
    assert redact_line(line + eol) == want + eol


def test_a_closed_quote_still_ends_the_value() -> None:
    assert redact_line('password="Walrus77 x" rest\r\n') == f'password="{REDACTED}" rest\r\n'


def test_a_crlf_text_keeps_its_line_ends() -> None:
    text = 'password="Walrus77 rest\r\nnext: 1\r\n'
    assert redact_text(text) == f'password="{REDACTED}\r\nnext: 1\r\n'
