"""gsafe44: hostile-input pass (docs/security.md, ### gsafe44)."""

from __future__ import annotations

from pathlib import Path

from test_safety_fuzz import _check, invoke
from tpdoctor.redact import redact_line, redact_text

_HEAD = (
    "services:\n  v:\n    image: vllm/vllm-openai\n    privileged: true\n    command: --tensor-parallel-size 2\n"
    "    environment:\n"
)


def _fix_diff(tmp_path: Path, env: str) -> str:
    path = tmp_path / "compose.yaml"
    path.write_text(_HEAD + env)
    code, out = invoke("audit", "--fix", str(path))
    _check(code, out, "audit --fix")
    return out


# -- the redactor: the bracket after a bare value is the line's ----------------------------------------------------------
def test_a_bare_secret_keeps_the_bracket_that_closes_around_it() -> None:
    """`{api_key: hunter2}` printed as `{api_key: <redacted>` (the `}` went with the value): a broken flow mapping in a
    quoted log line or a diff. The secret stays hidden, the brackets opened before its key stay."""
    cases = {
        "{api_key: hunter2}": "{api_key: <redacted>}",
        "env: {api_key: hunter2}, {token: s3cr3tt}": "env: {api_key: <redacted>}, {token: <redacted>}",
        "[api_key=hunter2]": "[api_key=<redacted>]",
        "f({token: hunter2}) more": "f({token: <redacted>}) more",
        "{a: {token: hunter2}}": "{a: {token: <redacted>}}",
        "x: {password: a b c}": "x: {password: <redacted>}",
    }
    for line, want in cases.items():
        assert redact_line(line) == want, line
        assert redact_text(line + "\n") == want + "\n", line
    # a closer no bracket opened is part of the value, which stays hidden whole
    assert redact_line("token=hunter2}") == "token=<redacted>"
    assert redact_line("api_key=hunter2] b") == "api_key=<redacted> b"
