"""gsafe40: a credential URL glued to the text before it (`xxxxxxxxxxxxxxxxxxxxhttps://user:pass@host`: 20+
letters, so no word boundary and a 'scheme' longer than 21 characters) was not recognised by the redactor."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke
from tpdoctor.redact import redact_text

PW = "Pw0rdSecret77"


@pytest.mark.parametrize(
    "text",
    [
        f"{'x' * 20}https://user:{PW}@host",
        f"{'x' * 40}postgres://u:{PW}@db:5432/x",
        f"DATABASE_URL_{'y' * 30}redis://:{PW}@h",
        f"clone {'z' * 25}https://{PW}{'t' * 20}@github.com/o/r",
    ],
)
def test_glued_credential_url_is_redacted(text: str) -> None:
    assert PW not in redact_text(text)
    assert PW not in redact_text((text + "\n") * 20000)  # the block path too


def test_plain_urls_stay() -> None:
    text = "see https://example.com/a@b and git@github.com:x/y and xxxxhttps://host/path\n"
    assert redact_text(text) == text


def test_explain_never_prints_a_glued_url(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(f"fetching {'x' * 24}https://bot:{PW}@proxy.corp:3128\nRuntimeError: CUDA error: invalid device ordinal\n")
    for fmt in ("text", "json", "sarif"):
        code, out = invoke("explain", str(log), "--format", fmt, "--verbose")
        _check(code, out, fmt)
        assert PW not in out
