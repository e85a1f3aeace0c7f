"""gsafe42: hostile-input pass. Each test names the input that broke tpdoctor and what it did before the fix."""

from __future__ import annotations

import gzip
import io
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke


# -- secrets in JSON and SARIF: a quote is `\"` there ----------------------------------------------------------------
def test_a_quoted_secret_in_a_log_line_is_redacted_in_json(tmp_path: Path) -> None:
    """`password="Pw2SECRETx"` in a quoted log line was printed as `password=\\"Pw2SECRETx\\"` by explain's JSON: the
    output stream's redactor read the escaped quote as part of the value and let it through (text and SARIF hid it)."""
    log = tmp_path / "j.log"
    log.write_text(
        "torch.distributed.DistBackendError: NCCL error in: x, unhandled system error {\"DB_PASSWORD\": \"Hunter2xyzQ\"}\n"
        "NCCL WARN Cuda failure 'out of memory' password=\"Pw2SECRETx\"\n"
    )
    for fmt in ("text", "json", "sarif"):
        code, out = invoke("explain", str(log), "--format", fmt)
        _check(code, out, fmt)
        assert "Pw2SECRETx" not in out and "Hunter2xyzQ" not in out, (fmt, out)
        assert fmt == "sarif" or "out of memory' password=" in out  # the line is quoted, its secret is not


def test_an_escaped_quoted_secret_in_a_log_line_is_redacted(tmp_path: Path) -> None:
    """A log line quoting JSON with escaped quotes (`cfg={\\"DB_PASSWORD\\": \\"Hunter2xyzQ\\"}`, `password=\\"x\\"`, a
    repr or a JSON string printed by a launcher) was quoted as is in every format: the redactor's key and value
    shapes stopped at the backslash."""
    from tpdoctor.redact import redact_text

    log = tmp_path / "esc.log"
    log.write_text(
        "torch.distributed.DistBackendError: NCCL error in: x, unhandled system error "
        'cfg={\\"DB_PASSWORD\\": \\"Hunter2xyzQ\\"} password=\\"Pw2SECRETx\\" x={\\\\\\"token\\\\\\": \\\\\\"Tk9SECRETv\\\\\\"}\n'
    )
    for fmt in ("text", "json", "sarif"):
        code, out = invoke("explain", str(log), "--format", fmt, "--verbose")
        _check(code, out, fmt)
        for secret in ("Hunter2xyzQ", "Pw2SECRETx", "Tk9SECRETv"):
            assert secret not in out, (fmt, secret)
    assert redact_text('password=\\"a b\\" next') == 'password=\\"<redacted>\\" next'
    assert redact_text('"password": "x y", b') == '"password": "<redacted>", b'


def test_a_schema_message_quoting_a_mapping_hides_its_secret_in_json(tmp_path: Path) -> None:
    """`env:` written as a mapping (`{HF_TOKEN: hf_…}`) is refused by the schema, and the message shows the mapping:
    the text report redacted it, JSON printed `{\\"HF_TOKEN\\": \\"SecretValue…\\"}`."""
    path = tmp_path / "k.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n"
        "      image: vllm/vllm-openai\n      env: {HF_TOKEN: SecretValueAbc1, WORKERS: \"4\"}\n"
        "      resources: {limits: {nvidia.com/gpu: 2}}\n"
    )
    for fmt in ("text", "json", "sarif"):
        code, out = invoke("audit", str(path), "--verbose", "--format", fmt)
        _check(code, out, fmt)
        assert "SecretValueAbc1" not in out, fmt
        assert "spec.containers[0].env" in out and "WORKERS" in out


def test_a_snapshot_hides_a_quoted_secret() -> None:
    """dump_facts redacted the JSON text, where `--password=\\"x\\"` kept its value."""
    from tpdoctor.facts.snapshot import dump_facts
    from tpdoctor.model import Facts

    facts = Facts()
    facts.errors.append('/etc/x.conf: cannot parse password="Hunter2SnapQ"')
    out = dump_facts(facts)
    assert "Hunter2SnapQ" not in out and "cannot parse password" in out


@pytest.mark.parametrize(
    "schema",
    [
        {"pattern": "^x$"},
        {"minLength": 40},
        {"maxLength": 3},
        {"format": "email"},
        {"oneOf": [{"pattern": "^a"}, {"pattern": "^b"}]},
        {"not": {"type": "string"}},
    ],
)
def test_every_schema_message_hides_a_value_at_a_secret_path(schema: dict[str, object]) -> None:
    """The fallback (jsonschema's own message, `'Hunter2Secret' does not match '^x$'`) printed the secret for every
    validator but type, enum and anyOf."""
    import jsonschema

    from tpdoctor.deploy.k8s_schema import _explain, _secret_at

    obj = {"kind": "Pod", "spec": {"containers": [{"env": [{"name": "DB_PASSWORD", "value": "Hunter2Secret"}]}]}}
    value = {"properties": {"value": schema}}
    full = {"properties": {"spec": {"properties": {"containers": {"items": {"properties": {"env": {"items": value}}}}}}}}
    errors = list(jsonschema.Draft202012Validator(full, format_checker=jsonschema.FormatChecker()).iter_errors(obj))
    assert errors
    for err in errors:
        got = list(_explain(err, _secret_at(obj, list(err.absolute_path))))
        assert got and all("Hunter2Secret" not in m for _, m in got), got
        assert got[0][0] == ["spec", "containers", 0, "env", 0, "value"]


# -- explain: reading -------------------------------------------------------------------------------------------------
def test_a_utf32_log_from_a_pipe_that_sends_two_bytes_first_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """peek(4) does one read of the pipe at most: when the writer's first write was `\\xff\\xfe`, the UTF-32-LE BOM was
    taken for UTF-16's and the log read as UTF-16 (a NUL between characters: nothing found)."""
    from tpdoctor.explain.reader import iter_blocks, open_log

    text = "NCCL WARN Cuda failure 'out of memory'\n".encode("utf-32-le")
    r, w = os.pipe()

    def writer() -> None:
        os.write(w, b"\xff\xfe")
        time.sleep(0.3)
        os.write(w, b"\x00\x00" + text)
        os.close(w)

    t = threading.Thread(target=writer)
    t.start()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.FileIO(r, "rb"))))
    notes: list[str] = []
    with open_log("-", notes) as stream:
        data = b"".join(iter_blocks(stream))
    t.join()
    assert data == b"NCCL WARN Cuda failure 'out of memory'\n"
    assert notes == ["<stdin>: UTF-32 text (BOM): decoded to UTF-8"]


def test_a_gzip_bomb_is_cut_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """10 MB of gzip expanding to 10 GB was read to its end (minutes). Here the floor is lowered to 1 MiB: a 200 MB
    expansion of a 0.7 MB file stops near 200 times its compressed size, with a note, and exits as usual."""
    from tpdoctor.explain import reader

    monkeypatch.setattr(reader, "GZIP_FLOOR", 1 << 20)
    bomb = tmp_path / "bomb.log.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(b"NCCL WARN Cuda failure 'out of memory'\n")
        block = (b"x" * 100 + b"\n") * 10000
        for _ in range(200):
            f.write(block)
    t = time.perf_counter()
    code, out = invoke("explain", str(bomb))
    _check(code, out, "explain")
    assert time.perf_counter() - t < 10
    assert "over 200 times its compressed size (a gzip bomb?): explained that head only" in out
    read = int(out.rsplit("read ", 1)[1].split()[0])
    assert read < 200 * bomb.stat().st_size // 101 + 100000  # lines of 101 bytes: about the cap, not 2 million
    small = tmp_path / "ok.log.gz"
    small.write_bytes(gzip.compress(b"NCCL WARN Cuda failure 'out of memory'\n" * 1000))
    code, out = invoke("explain", str(small))
    assert "gzip bomb" not in out and "read 1000 lines" in out, out


# -- check --root: the X socket directory -----------------------------------------------------------------------------
def test_the_displays_socket_is_found_among_many_decoys(tmp_path: Path) -> None:
    """/tmp/.X11-unix with X0..X199: the first 64 names in string order (X0, X1, X10, X100, ...) were kept, X99 was
    not among them, and display.x11-unavailable said DISPLAY=:99 had no socket."""
    from fakeroot import FakeRoot
    from tpdoctor.facts.collect import collect_facts
    from tpdoctor.model import CheckOptions
    from tpdoctor.rules.registry import run_fact_rules

    fr = FakeRoot(tmp_path).dockerenv()
    for n in range(200):
        fr.write(f"tmp/.X11-unix/X{n}", "")
    fr.write("tmp/.X11-unix/X\u00b2", "")  # isdigit() but no int(): skipped
    fr.write("proc/net/unix", "Num       RefCount Protocol Flags    Type St Inode Path\n")
    fr.set_env(DISPLAY=":99").flush()
    facts = collect_facts(fr.root, dict(fr.env), live=False)
    assert "X99" in facts.display.x11_sockets and len(facts.display.x11_sockets) == 64
    assert facts.display.x11_sockets[:3] == ["X0", "X1", "X2"]
    assert [f for f in run_fact_rules(facts, CheckOptions()) if f.cause == "display.x11-unavailable"] == []
