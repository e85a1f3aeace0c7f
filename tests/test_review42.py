"""review42: bugs found reviewing gsafe42 and the lead's commits. Each test names the input and what it did before."""

from __future__ import annotations

from pathlib import Path

from test_safety_fuzz import _check, invoke


# -- deploy/fix.py: the fix diff -------------------------------------------------------------------------------------
def test_a_removed_line_starting_with_two_dashes_still_hides_its_secret(tmp_path: Path) -> None:
    """hide_values skipped every diff line starting with `---` or `+++` as a file header: a script line written at
    column 0 (`--privileged --env "DB_PASSWORD=Hunter2 TwoWordsX" \\`) removed by the fix is `---privileged …` in
    the diff, and the value's second word was printed (the line redactor takes the first word only)."""
    script = tmp_path / "run.sh"
    script.write_text(
        'docker run --gpus all \\\n--privileged --env "DB_PASSWORD=Hunter2 TwoWordsX" \\\n'
        "vllm/vllm-openai --tensor-parallel-size 2\n"
    )
    code, out = invoke("audit", "--fix", str(script))
    _check(code, out, "audit --fix")
    assert "---privileged --env" in out and "TwoWordsX" not in out, out
    assert f"--- {script}\n+++ {script} (least privilege)\n" in out  # the headers stay as they are


def test_a_diff_marks_only_a_missing_final_newline() -> None:
    """unified_diff split lines as str.splitlines() does (also at U+2028, U+0085, form feeds, a lone CR) and added
    GNU diff's `\\ No newline at end of file` after every piece that did not end in `\\n`: a label holding U+2028 got
    the marker in the middle of the file, and the patch no longer applied."""
    from tpdoctor.deploy.fix import unified_diff

    old = 'a: 1\nlabels: {note: "x\u2028y"}\nc: 3\n'
    new = 'a: 2\nlabels: {note: "x\u2028y"}\nc: 3\n'
    diff = unified_diff("f", old, new)
    assert "No newline" not in diff, diff
    assert ' labels: {note: "x\u2028y"}\n' in diff
    cr = unified_diff("f", "a\rb\n", "a\rc\n")
    assert "No newline" not in cr and "-a\rb\n+a\rc\n" in cr, cr
    # the real case keeps its marker
    assert unified_diff("f", "a\nb", "a\nc").endswith("-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n")
