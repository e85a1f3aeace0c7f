"""review40: bugs found reviewing the session's new code (gsafe40, gnew40, the lead's commits since 684f93b6)."""

from __future__ import annotations

import pytest

from tpdoctor.redact import BLOCK_MIN, LineRedactor, _hint_scanner

SECRET = "Hunter2xyzSecretValue"
FILLER = "an ordinary line of output\n" * (BLOCK_MIN // 20)  # a write of this size takes the Hyperscan block path

needs_hs = pytest.mark.skipif(_hint_scanner() is None, reason="the block path needs Hyperscan")


def _stream(*writes: str) -> str:
    r = LineRedactor()
    return "".join(r.feed(w) for w in writes) + r.finish()


@needs_hs
@pytest.mark.parametrize(
    "writes",
    [
        # `- value:` held back at the end of a small write; its `name:` opens a large one (gsafe40's hold)
        ("env:\n- value: " + SECRET + "\n", "  name: DB_PASSWORD\n" + FILLER),
        # a large write ends with `- value:`; its `name:` comes in the next write
        (FILLER + "- value: " + SECRET + "\n", "  name: DB_PASSWORD\n"),
        # `- name: DB_PASSWORD` at the end of a small write; its `value:` opens a large one
        ("- name: DB_PASSWORD\n", "  value: " + SECRET + "\n" + FILLER),
        # a large write ends with `- name: DB_PASSWORD`; its `value:` comes in the next write
        (FILLER + "- name: DB_PASSWORD\n", "  value: " + SECRET + "\n"),
    ],
)
def test_block_path_keeps_env_entry_state_across_writes(writes: tuple[str, ...]) -> None:
    out = _stream(*writes)
    leaked = SECRET in out
    assert not leaked
    expected = _stream(*"".join(writes).splitlines(keepends=True))  # as the line-by-line path writes it
    same = out == expected
    assert same, [(a, b) for a, b in zip(out.splitlines(), expected.splitlines(), strict=False) if a != b][:3]


@needs_hs
def test_block_path_redacts_the_line_after_a_secret_name_that_is_not_its_value() -> None:
    out = _stream("  name: DB_PASSWORD\nAuthorization: Bearer " + SECRET + "\n" + FILLER)
    leaked = SECRET in out
    assert not leaked


def test_value_first_env_pair_is_linear_on_a_line_of_many_value_keys() -> None:
    import time

    from tpdoctor.redact import redact_line

    line = "value: name " * 8000 + "password"
    t = time.perf_counter()
    redact_line(line)
    assert time.perf_counter() - t < 1.0  # was ~10 s: every `value:` scanned to the line's end (quadratic)
    assert redact_line("- {value: hunter2 x, name: DB_PASSWORD}") == "- {value: <redacted>, name: DB_PASSWORD}"
