"""review41: bugs found reviewing gsafe41 and the lead's commits. Each test names the input and what it did before."""

from __future__ import annotations

import time

from tpdoctor.redact import redact_line, secret_key_continues


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
