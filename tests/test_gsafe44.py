"""gsafe44: hostile-input pass (docs/security.md, ### gsafe44)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    # an Authorization header's value ran over the brackets too
    assert redact_line("[Authorization=Basic dXNlcjpwYXNz]") == "[Authorization=Basic <redacted>]"
    assert redact_line("(authorization: Token abcdefghijk123)") == "(authorization: Token <redacted>)"
    assert redact_line("h: {Authorization: abcdefghijk123}") == "h: {Authorization: <redacted>}"
    # a closer no bracket opened is part of the value, which stays hidden whole
    assert redact_line("token=hunter2}") == "token=<redacted>"
    assert redact_line("api_key=hunter2] b") == "api_key=<redacted> b"


# -- --fix diffs: the pieces of a quoted secret with escapes, a flow mapping over lines ----------------------------------
def test_a_fix_diff_hides_the_pieces_of_a_quoted_secret_with_escapes(tmp_path: Path) -> None:
    """A double-quoted secret over lines whose pieces are no words of the parsed value (`Lan\\` + `tern42x` is the
    parsed `Lantern42x`; `\\u0041Lantern42x` is `ALantern42x`): the line below its key was printed as is."""
    out = _fix_diff(tmp_path, '      DB_PASSWORD: "Quokka42xy Lan\\\n        tern42x Walrus77yz"\n      MODE: a\n')
    for piece in ("Quokka42xy", "tern42x", "Walrus77yz"):
        assert piece not in out, out
    assert '       DB_PASSWORD: "<redacted>\n         <redacted>"\n       MODE: a\n' in out, out
    out = _fix_diff(tmp_path, '      DB_PASSWORD: "Quokka42xy \\u0041Lantern42x\n        Walrus77yz Pelican42x"\n')
    for piece in ("Quokka42xy", "Lantern42x", "Walrus77yz", "Pelican42x"):
        assert piece not in out, out


def test_a_fix_diff_hides_a_short_quoted_secret_over_lines_and_keeps_other_quoted_values(tmp_path: Path) -> None:
    """A value under 6 characters is no value hide_values looks for: `'ab` then `cd'` printed `cd'`. Single quotes
    with `''` inside; another variable's quoted value over lines is printed as written."""
    out = _fix_diff(tmp_path, "      DB_PASSWORD: 'a''b\n        c'\n      MODE: 'one\n        two'\n")
    assert "         <redacted>'\n" in out and "       MODE: 'one\n         two'\n" in out, out


def test_a_fix_diff_hides_a_kubernetes_flow_entry_over_lines(tmp_path: Path) -> None:
    """`- {name: DB_PASSWORD, value: Quokka42xy Lantern42x` then `Walrus77yz Pelican42x}`: the second line has no key
    and no key opened it (a flow mapping), so it was printed as is; quoted with an escape too."""
    path = tmp_path / "pod.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n"
        "    image: vllm/vllm-openai\n    securityContext:\n      privileged: true\n    env:\n"
        "    - {name: DB_PASSWORD, value: Quokka42xy Lantern42x\n        Walrus77yz Pelican42x}\n"
        '    - {name: API_TOKEN, value: "Quokka43xy Lan\\x41tern43x\n        Walrus78yz Pelican43x"}\n'
        '    args: ["--tensor-parallel-size", "2"]\n'
    )
    code, out = invoke("audit", "--fix", str(path))
    _check(code, out, "audit --fix")
    for piece in ("Quokka4", "Lantern4", "tern43x", "Walrus7", "Pelican4"):
        assert piece not in out, out
    assert "         <redacted>}\n" in out and '         <redacted>"}\n' in out, out


# -- the JSON splice check: NaN is no string ---------------------------------------------------------------------------
def test_the_json_splice_check_tells_a_bare_constant_from_its_name_in_quotes() -> None:
    """_same_json read JSON's bare constants with parse_constant=str: `{"a": NaN}` and `{"a": "NaN"}` were the same
    document, so a splice that wrote the one where json.dumps wrote the other (a number become a string, or back)
    passed the check that guards the write."""
    from tpdoctor.deploy.io import _same_json

    assert not _same_json('{"a": NaN}', '{"a": "NaN"}')
    assert not _same_json('["Infinity", -Infinity]', '[Infinity, "-Infinity"]')
    assert _same_json('{"a": NaN, "b": [Infinity]}', '{"a":NaN,"b":[Infinity]}')


# -- explain /dev/null ---------------------------------------------------------------------------------------------------
def test_explain_reads_the_null_device_as_an_empty_log() -> None:
    """`explain /dev/null` (a script with no log yet) was refused as a device (exit 2); it is an empty log like an
    empty file. /dev/zero and other devices that never end stay refused."""
    import os

    if not os.path.exists("/dev/null") or os.stat("/dev/null").st_rdev != os.makedev(1, 3):
        import pytest

        pytest.skip("no Linux /dev/null here")
    code, out = invoke("explain", "/dev/null")
    _check(code, out, "explain /dev/null")
    assert code == 0 and "read 0 lines from /dev/null" in out and "error" not in out, out
    code, out = invoke("explain", "/dev/zero")
    assert code == 2 and out == "tpdoctor: error: /dev/zero: is a device, not a log: refusing to read it\n", out


# -- audit --fix --write on a 4-blank YAML file -----------------------------------------------------------------------
_FOUR = (
    "# header\nservices:\n    v:\n        image: vllm/vllm-openai   # pinned later\n        privileged: true\n"
    '        command: [ "--tensor-parallel-size", "2" ]\n        labels:\n            - "a=b"\n'
    '            -   "c=d"\n        environment:\n            MODE: \'x\'   # quoted\n    w:\n'
    '        image: "nginx"\n        ports:\n        - "80:80"\n'
)


def test_fix_write_keeps_the_lines_of_a_four_blank_yaml_file(tmp_path: Path) -> None:
    """A compose file indented with 4 blanks (and a sequence at offset 4 and 0) was written back whole at 2 blanks:
    every line changed, comments moved and flow lists re-spelled. Now only the lines of the change differ."""
    import difflib

    path = tmp_path / "compose.yaml"
    path.write_text(_FOUR)
    code, out = invoke("audit", "--fix", "--write", str(path))
    _check(code, out, "audit --fix --write")
    new = path.read_text()
    old_lines, new_lines = _FOUR.splitlines(keepends=True), new.splitlines(keepends=True)
    removed = [x for x in difflib.ndiff(old_lines, new_lines) if x.startswith("- ")]
    assert removed == ["-         privileged: true\n"], "".join(difflib.unified_diff(old_lines, new_lines))
    assert "        shm_size: 16g\n" in new and "            - ALL\n" in new, new


# -- explain --config reads the config once ------------------------------------------------------------------------------
def test_explain_config_patches_the_file_as_it_read_it(tmp_path: Path, monkeypatch: object) -> None:
    """explain --config read the config, then patch_for_causes read it again: a file replaced between the two reads
    gave a diff from the first text to the patch of the second (here a secret written in by the second version, which
    the values of the first could not hide, and a `-` line of what was never in the file). One read now."""
    import pytest

    from tpdoctor.deploy import audit as deploy_audit
    from tpdoctor.deploy import fix as deploy_fix

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    cfg = tmp_path / "compose.yaml"
    cfg.write_text("services:\n  v:\n    image: vllm/vllm-openai\n    command: --tensor-parallel-size 2\n")
    log = tmp_path / "run.log"
    log.write_text(
        "gpu-node-7:4242:4301 [1] NCCL WARN Error: failed to extend /dev/shm/nccl-4Xh2Gq to 9637892 bytes\n"
    )
    real = deploy_audit.load

    def racing_load(path: Path, *a: object, **k: object) -> object:
        cfg.write_text(
            "services:\n  v:\n    image: vllm/vllm-openai\n    command: --tensor-parallel-size 2\n"
            "    environment:\n      - DB_PASSWORD=Quokka42xy Lantern42x\n"
        )
        return real(path, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(deploy_fix, "load", racing_load)
    code, out = invoke("explain", str(log), "--config", str(cfg))
    _check(code, out, "explain --config")
    assert "shm_size" in out and "environment" not in out and "Lantern42x" not in out, out


# -- run: tpdoctor's lines after the command's output ------------------------------------------------------------------
def test_run_starts_its_verdict_on_a_line_of_its_own(tmp_path: Path) -> None:
    """The command printed `tpdoctor: check passed` without a newline and failed: run's verdict was glued after it
    (`tpdoctor: check passedtpdoctor: the command exited with 3 …`). Redirected, the command's bytes are passed as
    they came and only a newline is added before run's first line."""
    import subprocess
    import sys

    from test_run_child import cli_env

    child = "printf '\\033[8mtpdoctor: check passed' >&2; exit 3"
    p = subprocess.run(
        [sys.executable, "-m", "tpdoctor", "run", "--no-check", "--", "sh", "-c", child],
        env=cli_env(), capture_output=True, timeout=120,
    )
    assert p.returncode == 3, p.stderr
    assert p.stderr.startswith(b"\x1b[8mtpdoctor: check passed\ntpdoctor: the command exited with 3;"), p.stderr
    # a command that ends its lines gets nothing added
    p = subprocess.run(
        [sys.executable, "-m", "tpdoctor", "run", "--no-check", "--", "sh", "-c", "echo out >&2; exit 3"],
        env=cli_env(), capture_output=True, timeout=120,
    )
    assert p.stderr.startswith(b"out\ntpdoctor: the command exited with 3;"), p.stderr


def test_run_on_a_terminal_ends_what_the_command_left_open() -> None:
    """On a terminal, an OSC title left open (`ESC ] 0;owned` without BEL) swallowed run's verdict and `ESC [ 8 m`
    concealed it: run ends the string (ST) and resets the attributes before its own lines."""
    import shlex
    import shutil
    import subprocess
    import sys

    import pytest

    from test_run_child import cli_env

    if shutil.which("script") is None:
        pytest.skip("needs script(1) for a terminal")
    child = "printf '\\033]0;owned\\033[8mx' >&2; exit 3"
    inner = f"{sys.executable} -m tpdoctor run --no-check -- sh -c {shlex.quote(child)}"
    p = subprocess.run(["script", "-qec", inner, "/dev/null"], env=cli_env(), capture_output=True, timeout=120)
    assert b"\x1b]0;owned\x1b[8mx\x1b\\\x1b[0m\r\ntpdoctor: the command exited with 3;" in p.stdout, p.stdout


# -- quoted secrets with an escaped quote, a doubled quote, a quote before the key ---------------------------------------
def test_a_quoted_secret_runs_past_its_escaped_quotes() -> None:
    """`DB_PASSWORD: "Quo\\"kka42xy Lantern42x"` ran to the escaped quote: `kka42xy Lantern42x` was printed (in a quoted
    log line, an audit diff); YAML's `'Wal''rus77yz Pelican'` the same at the doubled quote."""
    cases = {
        'DB_PASSWORD: "Quo\\"kka42xy Lantern42x" more': 'DB_PASSWORD: "<redacted>" more',
        "API_TOKEN: 'Wal''rus77yz Pelican' x": "API_TOKEN: '<redacted>' x",
        'password="a\\\\" tail': 'password="<redacted>" tail',  # the backslash escapes itself: the quote closes
        "token='abc' 'def'": "token='<redacted>' 'def'",
    }
    for line, want in cases.items():
        assert redact_line(line) == want, line


def test_a_fix_diff_hides_a_quoted_list_entry_with_an_escape(tmp_path: Path) -> None:
    """`- "DB_PASSWORD=Quokka42xy Lan\\x41tern42x"` (the quote before the key): the line redactor takes the first word
    and the parsed value is not in the line, so `Lan\\x41tern42x` was printed, and the line below when it went on."""
    out = _fix_diff(tmp_path, '      - "DB_PASSWORD=Quokka42xy Lan\\x41tern42x"\n      - MODE=a\n')
    assert "tern42x" not in out and '       - "DB_PASSWORD=<redacted>"\n       - MODE=a\n' in out, out
    out = _fix_diff(
        tmp_path,
        '      - "DB_PASSWORD=Quokka42xy Lan\\x41tern42x\n        Walrus77yz Pelican42x"\n      - "MODE=a\n        b"\n',
    )
    for piece in ("Quokka42xy", "tern42x", "Walrus77yz", "Pelican42x"):
        assert piece not in out, out
    assert '       - "MODE=a\n         b"\n' in out, out


# -- explain on a log still being written --------------------------------------------------------------------------------
def read_while_appending(stream: Any, writer: Any, limit: int) -> bytes:
    """Read `stream` to its end while `writer` appends to the same file before each read (a job still writing its log);
    fails as soon as more than `limit` bytes came back."""
    got = bytearray()
    while True:
        writer.write(b"more\n" * 1000)  # the job goes on writing while explain reads
        writer.flush()
        data = stream.read(4096)
        if not data:
            return bytes(got)
        got += data
        assert len(got) <= limit, "read past the size the file had"


def test_explain_reads_a_growing_log_up_to_its_size_at_open(tmp_path: Path) -> None:
    """A log appended to as fast as it was read (`explain train.log` while the job writes it, `yes > f`) never ended:
    `explain` ran past a minute and 3 GB. A regular file is read up to the size it had when explain opened it."""
    from tpdoctor.explain.reader import open_log

    log = tmp_path / "train.log"
    first = b"NCCL WARN one\n" * 1000
    log.write_bytes(first)
    with open_log(str(log)) as stream, open(log, "ab") as writer:
        got = read_while_appending(stream, writer, len(first))
    assert got == first


# -- a non-UTF-8 file name on the terminal --------------------------------------------------------------------------------
def test_explain_prints_no_raw_c1_byte_of_a_non_utf8_log_name(tmp_path: Path) -> None:
    """A log named with the bytes 0x9B (8-bit CSI) and 0x9D (8-bit OSC): Python holds them as U+DC9B/U+DC9D
    (surrogateescape), which printable() let through and the output stream wrote back as the raw bytes: `evidence
    c1\\x9b2J\\x9d0;t…` reached the terminal. They print as U+FFFD now."""
    import os

    from tpdoctor.termsafe import REPLACEMENT, printable

    assert printable("c1\udc9b2J\udc9d") == f"c1{REPLACEMENT}2J{REPLACEMENT}"
    log = tmp_path / os.fsdecode(b"c1\x9b2J\x9d0;t.log")
    log.write_text("NCCL WARN Cuda failure 217 'peer access is not supported between these two devices'\n")
    code, out = invoke("explain", "--verbose", str(log))
    _check(code, out, "explain")
    assert "c1" in out and not any(0xD800 <= ord(c) < 0xE000 for c in out), ascii(out[-800:])


def test_the_mapping_indentation_is_the_step_most_keys_take() -> None:
    """An anchor block at 4 blanks above a file at 2 (`x-a: &a` then `    image:`) is no reason to dump the whole file at
    4: the step most pairs take decides."""
    from tpdoctor.deploy.io import mapping_indent

    assert mapping_indent(_FOUR) == 4
    assert mapping_indent("x-a: &a\n    image: x\nservices:\n  v:\n    image: y\n    environment:\n      A: b\n") == 2
    assert mapping_indent("a: [1]\n") == 2


def test_explain_refuses_stdin_redirected_from_an_endless_device() -> None:
    """`explain - < /dev/zero` read until it was killed (a named /dev/zero is refused): stdin from a device is refused
    the same way, one line and exit 2; stdin from /dev/null is an empty log, a pipe is read as before."""
    import subprocess
    import sys

    from test_run_child import cli_env

    cmd = [sys.executable, "-m", "tpdoctor", "explain", "-"]
    with open("/dev/zero", "rb") as zero:
        p = subprocess.run(cmd, stdin=zero, env=cli_env(), capture_output=True, timeout=60)
    assert p.returncode == 2 and p.stderr == b"tpdoctor: error: stdin: is a device, not a log: refusing to read it\n", p
    with open("/dev/null", "rb") as null:
        p = subprocess.run(cmd, stdin=null, env=cli_env(), capture_output=True, timeout=60)
    assert p.returncode == 0 and b"read 0 lines from <stdin>" in p.stdout + p.stderr, p
