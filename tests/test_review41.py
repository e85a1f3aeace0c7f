"""review41: bugs found reviewing gsafe41 and the lead's commits. Each test names the input and what it did before."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke
from tpdoctor.redact import BLOCK_MIN, LineRedactor, redact_line, secret_key_continues


# -- redact: a secret's value on the lines below its key ------------------------------------------------------------
def test_a_long_line_with_a_comment_is_no_quadratic_key_check() -> None:
    """`A:` + 20k blanks + `x#`: the two `[ \\t]*` on either side of the optional block indicator split the blanks
    every way (8000 blanks took 5 s in secret_key_continues, run on every printed line holding a `#`)."""
    line = "A:" + " " * 20_000 + "x#\n"
    t = time.perf_counter()
    assert secret_key_continues(line) is None
    redact_line(line)
    assert time.perf_counter() - t < 1.0
    # the shapes it reads still read
    assert secret_key_continues("  DB_PASSWORD: >-   # folded\n") == 2
    assert secret_key_continues("  DB_PASSWORD:   # below\n") == 2
    assert secret_key_continues("  DB_PASSWORD: |2+\n") == 2


_PAD = "x: 1\n" * (BLOCK_MIN // 5 + 10)  # a write long enough for the block path


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("  API_KEY: >-\n    part1secret\n", "    part2secret\n  OTHER: 1\n"),  # gsafe41's key, value open
        ("  - name: DB_PASSWORD\n    value: |\n      part1secret\n", "      part2secret\n  - name: X\n"),  # review39's
        ("  - name: DB_PASSWORD\n    value: |\n", "      part2secret\n  - name: X\n"),
    ],
)
def test_a_secret_value_open_at_the_end_of_a_big_write_stays_redacted_in_the_next(first: str, second: str) -> None:
    """The block path (a write of 256 KiB or more) redacted a secret's value lines to the write's end but left no
    state: the value's next line, in the next write, was printed (`      part2secret`). The line path kept it."""
    outs = []
    for pad in ("", _PAD):
        r = LineRedactor()
        outs.append(r.feed(pad + first) + r.feed(second) + r.finish())
    small, big = outs
    assert "secret" not in small
    assert "secret" not in big
    assert big == _PAD + small  # the block path answers as the line path does
    assert small.endswith(second.splitlines(keepends=True)[-1])  # the next key is printed as written


# -- terminal safety: explain's facts section -----------------------------------------------------------------------
def test_explain_verbose_quotes_no_escape_sequence_in_its_error_lines(tmp_path: Path) -> None:
    """`explain -v` printed 'Most relevant error lines' and 'read N lines from NAMES' as they came: `NCCL WARN ESC c`
    (a terminal reset) and a log named `e ESC [31m sc.log` reached the terminal (gsafe41 made the rest printable)."""
    log = tmp_path / "e\x1b[31msc.log"
    log.write_text("RuntimeError: CUDA error: out of memory\nNCCL WARN \x1bc reset \u202eexe \x9b2J\n")
    code, out = invoke("explain", "-v", str(log))
    _check(code, out, "explain")
    assert "Most relevant error lines" in out and "NCCL WARN" in out
    for ch in ("\x1b", "\x9b", "\u202e"):
        assert ch not in out, (ch, out)


# -- audit --fix/--write: a JSON file is written back with its own indentation --------------------------------------
def test_a_tab_indented_json_file_keeps_its_tabs(tmp_path: Path) -> None:
    """A compose.json indented with tabs was written back with 8 blanks per level (json_indent measured the tab as
    8 columns): every line of the file changed, where only the service's lines had to."""
    import json

    path = tmp_path / "compose.json"
    text = '{\n\t"services": {\n\t\t"vllm": {\n\t\t\t"image": "vllm/vllm-openai",\n\t\t\t"privileged": true\n\t\t}\n\t}\n}\n'
    path.write_text(text)
    code, out = invoke("audit", "--write", str(path))
    _check(code, out, "audit --write")
    new = path.read_text()
    assert "privileged" not in json.loads(new)["services"]["vllm"]
    assert new.startswith(text[: text.index('\t\t\t"privileged"')]), new  # the lines before the change, as written
    assert "        " not in new and new.endswith("\t}\n}\n"), new


def test_a_chain_of_secrets_continued_over_shell_lines_is_redacted() -> None:
    """`-e A_PASSWORD=\\`, then `hunter2 --api-token \\` (the first value and the next secret's flag), then `tok`: both
    paths stopped after the first value line, so the token was printed; it is redacted in small and large writes and
    across writes."""
    from tpdoctor.redact import LineRedactor, redact_text

    script = "docker run \\\n  -e A_PASSWORD=\\\nHunter2SecretXyz --api-token \\\nT0kenChainValue \\\n  img\n"
    for text in (script, script * 20000):  # the line path, then the block path (256 KiB and more)
        out = redact_text(text)
        assert "Hunter2SecretXyz" not in out and "T0kenChainValue" not in out
        assert out.count("img\n") == text.count("img\n")
    # a write that ends on the chained line: the next write's first word is the token
    red = LineRedactor()
    first = script.split("T0kenChainValue")[0]
    out = red.feed(first * 20000) + red.feed("T0kenChainValue \\\n  img\n") + red.finish()
    assert "T0kenChainValue" not in out and "Hunter2SecretXyz" not in out
    kept = "docker run \\\n  -e A_PASSWORD=\\\nHunter2SecretXyz \\\n  --gpus all img\n"
    assert "--gpus all img" in redact_text(kept) and "--gpus all img" in redact_text(kept * 20000)
