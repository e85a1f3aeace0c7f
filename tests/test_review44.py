"""review44: review of gsafe44, gfix44 and gnew44."""

from __future__ import annotations

import time
from pathlib import Path

from test_safety_fuzz import _check, invoke
from tpdoctor.deploy.fix import hide_values
from tpdoctor.redact import redact_line


# -- --fix diffs: gsafe44's quoted and flow pieces ---------------------------------------------------------------------
def test_a_fix_diff_of_a_long_line_of_quoted_keys_is_hidden_in_linear_time(tmp_path: Path) -> None:
    """gsafe44's _quoted_piece searched both of its patterns from each key's closing quote; the one with no match on the
    line (`- "KEY=`) scanned to the line's end per key: 82 s for a 64 KiB comment line of `a: "b" ` in a diff (6.5 s
    for `audit --fix` of a compose file with a 16 KiB one beside the changed line)."""
    line = 'a: "b" ' * (64 * 1024 // 7)
    diff = f"--- a\n+++ b\n@@ -1,2 +1,2 @@\n # {line}\n-    privileged: true\n+    cap_drop: [ALL]\n"
    t = time.perf_counter()
    out = hide_values(diff, [])
    assert time.perf_counter() - t < 3.0
    assert out == diff
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  app:\n    image: vllm/vllm-openai\n    # {line[:16384]}\n    privileged: true\n")
    t = time.perf_counter()
    code, out = invoke("audit", "--fix", str(path))
    _check(code, out, "audit --fix")
    assert time.perf_counter() - t < 4.0


def test_a_fix_diff_of_a_long_flow_line_is_hidden_in_linear_time() -> None:
    """_FLOW_PLAIN_KEY's `[^{}\\[\\],#]*$` ran from every `key: v` to a `,` at the line's end and back: 27 s a 64 KiB
    line `{ a: b a: b … ,` in a diff that has a several-word secret."""
    line = "{ " + "a: b " * (64 * 1024 // 5) + ","
    diff = f"--- a\n+++ b\n@@ -1,2 +1,2 @@\n {line}\n-    privileged: true\n+    cap_drop: [ALL]\n"
    t = time.perf_counter()
    out = hide_values(diff, ["correct horse battery"])
    assert time.perf_counter() - t < 3.0
    assert out == diff


def test_a_flow_secret_over_lines_is_still_hidden_after_the_linear_search() -> None:
    """The search after the line's last flow indicator finds what the search from its start found."""
    diff = (
        "--- a\n+++ b\n@@ -1,3 +1,3 @@\n"
        "       - {name: DB_PASSWORD, value: correct horse\n"
        "          battery staple}\n"
        "-    privileged: true\n"
    )
    out = hide_values(diff, ["correct horse battery staple"])
    assert "          <redacted>}\n" in out, out  # its first line is the line redactor's (`value: correct` by shape)



def test_a_fix_diff_of_a_docker_run_line_hides_a_secret_past_the_shells_escaped_quote(tmp_path: Path) -> None:
    """`-e 'DB_PASSWORD=Quokka42 it'\\''s Lantern42x'`: gsafe44's _close_quote read the shell's `'\\''` as the closing
    quote (YAML's rule), hid `Quokka42 it` and printed `'\\''s Lantern42x'` on both diff lines (the line redactor then
    saw `<redacted>`, no value of its own, and left the rest)."""
    path = tmp_path / "run.sh"
    path.write_text(
        "docker run --privileged -e 'DB_PASSWORD=Quokka42 it'\\''s Lantern42x' vllm/vllm-openai --tensor-parallel-size 2\n"
    )
    code, out = invoke("audit", "--fix", str(path))
    _check(code, out, "audit --fix")
    assert "Lantern42x" not in out and "Quokka42" not in out, out
    assert "-e 'DB_PASSWORD=<redacted>' " in out, out

# -- redact: quotes of the shell (gsafe44's _quote_end) -------------------------------------------------------------
def test_a_secret_holding_a_quote_in_bash_xtrace_is_hidden_to_its_closing_quote() -> None:
    """bash's `set -x` writes a value holding `'` as `'Quokka'\\''s Lantern42x'`: gsafe44's _quote_end knew YAML's
    `''` but not the shell's `'\\''`, and `s Lantern42x'` was printed."""
    out = redact_line("+ DB_PASSWORD='Quokka'\\''s Lantern42x'")
    assert out == "+ DB_PASSWORD='<redacted>'", out


def test_a_word_quoted_before_its_secret_key_is_hidden_to_its_closing_quote() -> None:
    """`export 'API_TOKEN=Walrus77 Pelican42x'` (bash's `set -x`), `docker run -e "HF_TOKEN=a b"`: the quote is before
    the key, so the value was taken as a bare one and only its first word was hidden."""
    assert redact_line("+ export 'API_TOKEN=Walrus77 it'\\''s Pelican42x'") == "+ export 'API_TOKEN=<redacted>'"
    out = redact_line('docker run -e "HF_TOKEN=Quokka42 Lantern42" -e "MODE=a b" img')
    assert out == 'docker run -e "HF_TOKEN=<redacted>" -e "MODE=a b" img', out
    assert redact_line("environment: ['DB_PASSWORD=a b c', 'MODE=x']") == "environment: ['DB_PASSWORD=<redacted>', 'MODE=x']"
    assert redact_line("'token=${HF_TOKEN}'") == "'token=${HF_TOKEN}'"  # a reference stays
    # the quoted value's last `)` is its own, not the bracket around it
    assert redact_line("f('token=Quokka42)')") == "f('token=<redacted>')"


def test_a_line_of_keys_quoted_before_them_is_redacted_in_linear_time() -> None:
    """Keys inside a value left as it is (a reference with no closing brace) each ran to the same far quote."""
    for line in ("'token=${A:-\\''" * 4700, "'token=a b c" * 4700, '"token=${A} ' * 5400):
        t = time.perf_counter()
        redact_line(line)
        assert time.perf_counter() - t < 3.0, line[:20]


# -- run: the newline before run's lines (gsafe44) ----------------------------------------------------------------------
def test_run_adds_no_blank_line_when_the_shared_output_ends_a_line() -> None:
    """stdout and stderr one file: the command wrote `abc` on stdout, then `err\\n` on stderr. The file's last byte is
    a newline, but stdout's last write was open, so gsafe44 added a newline: a blank line before run's verdict."""
    import subprocess
    import sys

    from test_run_child import cli_env

    child = "printf abc; sleep 0.3; printf 'err\\n' >&2; exit 3"
    p = subprocess.run(
        [sys.executable, "-m", "tpdoctor", "run", "--no-check", "--", "sh", "-c", child],
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
    )
    assert p.returncode == 3, p.stdout
    assert p.stdout.startswith(b"abcerr\ntpdoctor: the command exited with 3;"), p.stdout
    # the shared file's end is open: the newline is added
    child = "printf 'err\\n' >&2; sleep 0.3; printf abc; exit 3"
    p = subprocess.run(
        [sys.executable, "-m", "tpdoctor", "run", "--no-check", "--", "sh", "-c", child],
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
    )
    assert p.stdout.startswith(b"err\nabc\ntpdoctor: the command exited with 3;"), p.stdout


# -- gnew44: nvidia.egl-vendor-icd-missing names a file that is there ---------------------------------------------------
def test_the_egl_vendor_file_refused_is_no_missing_file(tmp_path: Path) -> None:
    """`ls: cannot access '…/10_nvidia.json': Permission denied` (the file is there: an SELinux label, a mode) matched
    the pattern's first form, which asked for no errno text, and its loose twin fired on any error line holding the
    path: explain named the file missing and offered to add it. `No such file or directory` still names it."""
    path = "/usr/share/glvnd/egl_vendor.d/10_nvidia.json"
    for line in (
        f"ls: cannot access '{path}': Permission denied",
        f"tail: cannot open '{path}' for reading: Permission denied",
        f"cp: cannot create regular file '{path}': Read-only file system",
    ):
        log = tmp_path / "refused.log"
        log.write_text(line + "\n")
        code, out = invoke("explain", str(log))
        _check(code, out, "explain")
        assert "nvidia.egl-vendor-icd-missing" not in out, (line, out)
    for line in (
        f"ls: cannot access '{path}': No such file or directory",
        "tail: cannot open '/usr/share/glvnd/egl_vendor.d/10_nvidia.json' for reading: No such file or directory",
        f"cat: {path}: No such file or directory",
    ):
        log = tmp_path / "missing.log"
        log.write_text(line + "\n")
        code, out = invoke("explain", str(log))
        _check(code, out, "explain")
        assert "nvidia.egl-vendor-icd-missing" in out, (line, out)
