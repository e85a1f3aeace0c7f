"""Big output blocks are redacted by one Hyperscan pass that picks the lines to look at
(redact._redact_block); the result must equal the line-by-line redactor's on the same text."""

from __future__ import annotations

import json

import pytest

from tpdoctor import redact

LINES = [
    "INFO starting vllm with DATABASE_URL=postgres://app:Pw1dbSecretZ@db:5432/app",
    "RuntimeError: request failed: Authorization: Bearer Pw3bearerSecretZ0123 rejected",
    "ERROR AWS_SECRET_ACCESS_KEY=Pw7awsSecretZ/abcdefghijklmnopqrstuvwxyz is invalid",
    "ERROR git clone https://ghp_Pw5ghpatSecretZaaaaaaaaaaaaaaaaaaaa@github.com/x/y failed",
    "token hf_Pw6hfSecretZabcdefghijklmnop",
    "    GH_PAT: Pw5ghpatSecretZ",
    "export GH_PAT",
    "GH_PAT=abcdef123456",
    "the path /dev/dri/by-path is missing",
    "PATH=/usr/bin:/bin",
    '  "password": "s3cr3tvalue",',
    "--hf-token s3cr3tvalue",
    "api_key=s3cr3tvalue",
    "pass: add CAP_SYS_PTRACE to the service",
    "sk-proj-0123456789abcdefghij and AKIAIOSFODNN7EXAMPLE and AIzaSyA0123456789abcdefghijklmnopqrstu",
    "xoxb-0123456789-abcdefghij glpat-0123456789abcdefghij github_pat_11AAAAAAA0123456789abcdefghij",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
    "Basic dXNlcjpwYXNzd29yZA==",
    "nothing to see here, devices: [/dev/dri/renderD128]",
    "",
    "a line that ends with pat",
    "KEY",
]


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    fast = redact.LineRedactor()
    a = fast.feed(text) + fast.finish()
    monkeypatch.setattr(redact, "BLOCK_MIN", 1 << 62)
    slow = redact.LineRedactor()
    b = slow.feed(text) + slow.finish()
    monkeypatch.undo()
    return a, b


def test_block_equals_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    if redact._hint_scanner() is None:
        pytest.skip("no Hyperscan on this platform: only the line path exists")
    text = "\n".join(LINES * (redact.BLOCK_MIN // 400 + 1)) + "\n"
    assert len(text) >= redact.BLOCK_MIN
    assert redact._redact_block(text) is not None  # the fast path is the one under test
    fast, slow = _both(text, monkeypatch)
    assert fast == slow
    assert "Pw1dbSecretZ" not in fast and "s3cr3tvalue" not in fast and "PATH=/usr/bin:/bin" in fast


def test_a_json_report_block(monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"findings": [{"message": line, "evidence": [{"text": line}]} for line in LINES] * 400}
    text = json.dumps(data, indent=2) + "\n"
    assert len(text) >= redact.BLOCK_MIN
    fast, slow = _both(text, monkeypatch)
    assert fast == slow and redact.REDACTED in fast


@pytest.mark.parametrize(
    "block",
    [
        "caf\u00e9 token=abc\n",  # not ASCII: lower() may move offsets
        "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n",
        "token=abc\rkey=def\n",  # splitlines() also splits at \r
    ],
)
def test_blocks_the_fast_path_leaves_to_the_lines(block: str) -> None:
    assert redact._redact_block(block) is None
