"""review45: review of gsafe45 and gnew45."""

from __future__ import annotations

import time
from pathlib import Path

from test_safety_fuzz import _check, invoke
from tpdoctor.redact import redact_line


# -- redact: gsafe45's netrc password line -----------------------------------------------------------------------------
def test_a_long_password_line_is_redacted_in_linear_time(tmp_path: Path) -> None:
    """gsafe45's _NETRC_PW_LINE `\\S*[^a-z\\s]\\S*(?=[ \\t]*\\r?\\n?$)` backtracked over every split of a long word when
    something followed it: cubic, 2.4 s for a 4000-character word, an `explain` of a log whose 20 KB line starts with
    `password ` never ended (clip redacts an evidence line longer than its cut)."""
    for word in ("A" * 65536, "Ab" * 32768):
        line = f"password {word} NCCL WARN Cuda failure 'out of memory'"
        t = time.perf_counter()
        assert redact_line(line) == line
        assert time.perf_counter() - t < 1.0
    log = tmp_path / "a.log"
    log.write_text("NCCL INFO start\npassword " + "A" * 65536 + " NCCL WARN Cuda failure 'out of memory'\n")
    t = time.perf_counter()
    code, out = invoke("explain", str(log))
    _check(code, out, "explain")
    assert time.perf_counter() - t < 10.0
    # the netrc line it was written for still hides its password, and a lowercase word (prose) still stays
    assert redact_line("  password Walrus77Pel") == "  password <redacted>"
    assert redact_line("password Walrus77Pel\n") == "password <redacted>\n"
    assert redact_line("password required") == "password required"
    assert redact_line("password Walrus77Pel then more") == "password Walrus77Pel then more"


def test_a_quoted_curl_user_password_is_hidden_whole() -> None:
    """gsafe45's `curl -u user:pw` shape stopped at a quote or a blank: `-u me:"Walrus77Pel"` was printed whole and
    `-u "me:Wal rus77"` printed ` rus77`."""
    cases = {
        'curl -u "me:Walrus 77Pel" http://x': 'curl -u "me:<redacted>" http://x',
        "curl -u 'me:Walrus 77Pel' http://x": "curl -u 'me:<redacted>' http://x",
        'curl -u me:"Walrus77Pel" http://x': 'curl -u me:"<redacted>" http://x',
        "curl --user=me:'Walrus 77Pel' http://x": "curl --user=me:'<redacted>' http://x",
        "curl -u me:Walrus77Pel https://x": "curl -u me:<redacted> https://x",
    }
    for line, want in cases.items():
        assert redact_line(line) == want, line
        assert "Walrus" not in redact_line(line), line


def test_a_secret_that_starts_with_a_scheme_word_is_hidden_whole() -> None:
    """gsafe45 kept an HTTP scheme word before the credential for every secret name, not only for an Authorization
    header: a passphrase whose first word is `Basic`, `Token` or `Digest` showed that word."""
    cases = {
        'DB_PASSWORD="Basic Walrus77Pel"': 'DB_PASSWORD="<redacted>"',
        "password: Token ring Walrus77": "password: <redacted>",
        "api_key: Digest Walrus77Pel": "api_key: <redacted>",
        # the header keeps its scheme, as gsafe45 wants
        '{"Authorization": "Bearer Walrus77Pelican"}': '{"Authorization": "Bearer <redacted>"}',
        "Proxy-Authorization: Token Walrus77Pelican": "Proxy-Authorization: Token <redacted>",
    }
    for line, want in cases.items():
        assert redact_line(line) == want, line


def test_digest_parameters_with_blanks_around_their_equals_sign_are_hidden() -> None:
    """RFC 7235 lets an auth-param have blanks around `=`; gsafe45's Digest shape wanted `name=` glued, and
    `response = "…"` after the first parameter was printed."""
    for line in (
        'Authorization: Digest username="me", response = "6629fae49393a05397450978507c4ef1"',
        'Authorization: Digest username = "me", realm="r", response ="6629fae49393a05397450978507c4ef1"',
        'Authorization: Digest username="me", response= 6629fae49393a05397450978507c4ef1',
    ):
        out = redact_line(line)
        assert "6629fae4" not in out and out.startswith("Authorization: Digest <redacted>"), out
    t = time.perf_counter()
    redact_line("Authorization: Digest " + "a = b , " * 8000)
    assert time.perf_counter() - t < 1.0


def test_a_yaml_secret_value_with_a_long_run_of_blanks_is_redacted_in_linear_time() -> None:
    """_YAML_VALUE_END (`\\s+#|…|\\s*$`), searched from a YAML secret's value, ran over the rest of a blank run from each
    blank in it: 3.4 s for `password: a` + 16,000 blanks + `x` (found while reviewing gsafe45's Digest shape)."""
    for line in ("password: a" + " " * 65536 + "x", "Authorization: Digest a" + " " * 65536 + "x"):
        t = time.perf_counter()
        out = redact_line(line)
        assert time.perf_counter() - t < 1.0
        assert "x" not in out[-3:], out[-20:]
    assert redact_line("password: correct horse battery  # a comment") == "password: <redacted>  # a comment"
    assert redact_line("{password: correct horse, b: 1}") == "{password: <redacted>, b: 1}"
    assert redact_line("password: correct horse   ") == "password: <redacted>   "
