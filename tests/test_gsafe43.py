"""gsafe43: hostile-input pass (docs/security.md, ### gsafe43)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke


# -- audit --write: bytes outside the change ---------------------------------------------------------------------------
def test_a_json_write_keeps_nan_and_infinity_bare(tmp_path: Path) -> None:
    """`NaN`, `Infinity`, `-Infinity` (Python's json reads and writes them) were written back quoted, `"NaN"`: YAML reads
    the bare words as strings. A quoted "NaN" stays a string."""
    path = tmp_path / "compose.json"
    text = (
        '{\n  "services": {\n    "v": {\n      "image": "vllm/vllm-openai",\n      "privileged": true,\n'
        '      "command": "--tensor-parallel-size 2",\n      "x-ratio": NaN,\n      "x-max": Infinity,\n'
        '      "x-name": "NaN",\n      "x-min": -Infinity\n    }\n  }\n}\n'
    )
    path.write_text(text)
    code, out = invoke("audit", "--write", str(path))
    _check(code, out, "audit --write")
    new = path.read_text()
    for kept in ('"x-ratio": NaN,', '"x-max": Infinity,', '"x-name": "NaN",'):
        assert f"      {kept}\n" in new, new
    assert '"x-min": -Infinity,' in new and '"privileged"' not in new
    gone = set(text.splitlines()) - set(new.splitlines())
    assert gone == {'      "privileged": true,', '      "x-min": -Infinity'}, gone


def test_crlf_and_cr_only_files_are_capped_as_lf_files(tmp_path: Path) -> None:
    """`,\\r\\n` counted as one more item, so a CRLF JSON file was refused at half the size of the LF one; a file whose
    lines end in a lone CR counted as one line and was round-tripped whole (60k entries: 15 s before the refusal)."""
    from tpdoctor.deploy.io import _edit_items

    lf = '{"a": [\n' + ",\n".join(f'"V{i}"' for i in range(1000)) + "\n]}\n"
    assert _edit_items(lf.replace("\n", "\r\n")) == _edit_items(lf) == _edit_items(lf.replace("\n", "\r"))
    path = tmp_path / "compose.yaml"
    body = "services:\n  v:\n    image: vllm/vllm-openai\n    privileged: true\n    environment:\n"
    body += "".join(f"      - V{i}=x\n" for i in range(60_000))
    path.write_bytes(body.replace("\n", "\r").encode())
    t = time.perf_counter()
    code, out = invoke("audit", "--fix", str(path))
    assert code == 2 and "too many to edit and write back in good time" in out, out[-500:]
    assert time.perf_counter() - t < 5


def test_a_cr_only_file_keeps_its_line_ends(tmp_path: Path) -> None:
    """A file whose lines end in a lone CR was written back with LF: every line of it changed for a one-line fix."""
    path = tmp_path / "compose.yaml"
    text = (
        "services:\r  v:\r    image: vllm/vllm-openai\r    privileged: true\r"
        "    command: --tensor-parallel-size 2\r    environment:\r      - A=1\r"
    )
    path.write_bytes(text.encode())
    code, out = invoke("audit", "--write", str(path))
    _check(code, out, "audit --write")
    new = path.read_bytes()
    assert b"\n" not in new and b"privileged" not in new
    assert new.startswith(b"services:\r  v:\r    image: vllm/vllm-openai\r    command: --tensor-parallel-size 2\r")


def test_a_fix_keeps_lines_ruamel_would_re_spell(tmp_path: Path) -> None:
    """ruamel wrote `"a\\u2028b"` as `"a\\Lb"`, joined a bare `-` with the `name:` below it and a flow mapping over two
    lines into one, all on lines the fix never touched: now only the fix's own lines change."""
    path = tmp_path / "pod.yaml"
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {note: \"a\\u2028b\"}}\nspec:\n  containers:\n"
        "    - name: vllm\n      image: vllm/vllm-openai\n      args: [\"--tensor-parallel-size\", \"2\"]\n      env:\n"
        "        -\n          name: A\n          value: \"1\"\n        - {name: B,\n           value: \"2\"}\n"
        "      securityContext: {privileged: true}\n      resources: {limits: {nvidia.com/gpu: 2}}\n"
    )
    path.write_text(text)
    code, out = invoke("audit", "--write", str(path))
    _check(code, out, "audit --write")
    new = path.read_text()
    gone = set(text.splitlines()) - set(new.splitlines())
    assert gone == {"      securityContext: {privileged: true}"}, gone
    assert new.startswith(text.split("      securityContext")[0])


# -- the redactor: linear on hostile lines ------------------------------------------------------------------------------
def test_the_key_value_redactor_is_linear_on_alternating_shapes() -> None:
    """64 KiB lines of alternating shapes: `a-token:` (each key's bare value scanned again to the line's end: 2.5 s),
    `x a_token:b ` (the YAML key-start test went back over the whole line per key: 1.7 s), `key: ` (1.1 s), `-key\\t`
    (`"KeyRef" in line` once per key: 0.5 s), and runs of `-a`/`_-` where finditer tried every dash. Each one now takes
    milliseconds, and redacts what it did."""
    from tpdoctor.redact import _KEYSEP, _name_searchable, redact_line

    for shape in ("a-token:", "x a_token:b ", "key: ", "-key\t", "key-", "token-", "-a", "_-", "-a."):
        line = (shape * (262144 // len(shape) + 1))[:262144]  # 256 KiB: quadratic was 8-40 s, linear is ~0.2 s
        t = time.perf_counter()
        redact_line(line)
        sum(1 for _ in _KEYSEP.finditer(_name_searchable(line)))
        assert time.perf_counter() - t < 1.5, shape
    assert redact_line("x a_token:b " * 3).count("<redacted>") == 3
    assert redact_line("x " + "c" * 300 + "_token=Hunter2 y") == "x " + "c" * 300 + "_token=<redacted> y"
    assert redact_line("run " + "-x" * 100 + "-password Hunter2") == "run " + "-x" * 100 + "-password <redacted>"
    assert "Hunter2" not in redact_line("{a: 1, api_key: Hunter2}")


def test_the_yaml_key_start_test_reads_as_its_pattern() -> None:
    import itertools

    from tpdoctor.redact import _yaml_key_start

    # the pattern redact.py read a YAML key's start with before gsafe43 (quadratic: its `.*` per key)
    _YAML_KEY_START = re.compile(r"(?:.*(?:\{|,\s))?\s*(?:-\s+)?$")

    for n in range(6):
        for chars in itertools.product("{, \n-a", repeat=n):
            s = "".join(chars)
            for end in range(len(s) + 1):
                assert bool(_YAML_KEY_START.match(s, 0, end)) == _yaml_key_start(s, end, s.find("\n")), (s, end)


# -- --fix diffs: hide the secret, only the secret ------------------------------------------------------------------------
def test_a_fix_diff_hides_a_folded_secret_but_not_its_words_elsewhere(tmp_path: Path) -> None:
    """Every 8+ character word of a several-word secret was starred anywhere in the diff: `team: platform-deployment`
    printed as `team: platform-<redacted>`. The value's own lines are still hidden."""
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  v:\n    image: vllm/vllm-openai\n    privileged: true\n    command: --tensor-parallel-size 2\n"
        "    labels:\n      team: platform-deployment\n    environment:\n"
        "      DB_PASSWORD: >-\n        correct horse\n        deployment battery\n"
        "      API_TOKEN: \"Zebra9Quokka Lantern42x\n        Walrus77y\"\n"
    )
    code, out = invoke("audit", "--fix", str(path))
    _check(code, out, "audit --fix")
    assert "       team: platform-deployment\n" in out, out
    for secret in ("correct", "horse", "battery", "Zebra9Quokka", "Lantern42x", "Walrus77y"):
        assert secret not in out, secret
    assert "       DB_PASSWORD: >-\n         <redacted>\n         <redacted>\n" in out


# -- explain --config: the edit cap ---------------------------------------------------------------------------------------
def test_explain_config_over_the_edit_cap_is_one_line_and_just_under_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal told an `explain --config` user to run `audit` without --fix/--write; it names both ways out now.
    A config one item under the cap is still patched."""
    from tpdoctor.deploy import io as deploy_io

    monkeypatch.setattr(deploy_io, "MAX_EDIT_ITEMS", 300)
    log = tmp_path / "log.txt"
    log.write_text("RuntimeError: oneCCL: ze_fd_manager.cpp:158 opendir failed: could not open device directory\n")
    head = "services:\n  v:\n    image: intel/vllm\n    command: --tensor-parallel-size 2\n    environment:\n"
    cfg = tmp_path / "compose.yaml"
    cfg.write_text(head + "".join(f"      - V{i}=x\n" for i in range(300)))
    code, out = invoke("explain", str(log), "--config", str(cfg))
    errors = [x for x in out.splitlines() if "too many to edit" in x]
    assert code == 2 and len(errors) == 1 and "explain without --config" in errors[0], out
    assert "Traceback" not in out
    cfg.write_text(head + "".join(f"      - V{i}=x\n" for i in range(300 - 6)))
    code, out = invoke("explain", str(log), "--config", str(cfg))
    _check(code, out, "explain --config")
    assert "too many" not in out and f"+++ {cfg} (least privilege)" in out, out[-2000:]


# -- generate: hostile values -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["compose", "docker-run", "podman", "kubernetes"])
def test_generate_refuses_a_model_that_is_an_option(target: str) -> None:
    """`--model=--trust-remote-code` was written as the server's first argument (`vllm serve --trust-remote-code
    --port 8000 …`): an option, one that runs the repository's code. Refused; `./-name` still works."""
    args = ("generate", "--target", target, "--backend", "cuda", "--tp", "2", "--image", "vllm/vllm-openai")
    code, out = invoke(*args, "--model=--trust-remote-code")
    assert code == 2 and "not starting with a dash" in out and "serve --trust" not in out, out
    code, out = invoke(*args, "--model=./-x")
    _check(code, out, "generate")
    assert "./-x" in out


def test_a_fix_that_appends_a_key_keeps_the_files_last_comment(tmp_path: Path) -> None:
    """A comment on the file's last line (after a list of scalars, or of mappings) was dropped when --fix appended a
    key (`deploy:`) after the last entry: a line the fix never meant to touch."""
    for tail in ("    environment:   # c4\n      - A=1 # c5\n", "    volumes:\n      - type: bind\n        source: /d\n"):
        path = tmp_path / "compose.yaml"
        text = (
            "# head\nservices: # c1\n  v:   # c2\n    image: vllm/vllm-openai\n"
            "    command: --tensor-parallel-size 2\n    privileged: true\n" + tail + "# tail\n"
        )
        path.write_text(text)
        code, out = invoke("audit", "--write", str(path))
        _check(code, out, "audit --write")
        new = path.read_text()
        gone = set(text.splitlines()) - set(new.splitlines())
        assert gone == {"    privileged: true"}, (gone, new)
        assert tail + "# tail\n" in new, new


# -- verify: option values --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--expect-busbw", "nan"), "--expect-busbw must be a positive number"),
        (("--expect-busbw", "-5"), "--expect-busbw must be a positive number"),
        (("--expect-busbw", "inf"), "--expect-busbw must be a positive number"),
        (("--sizes", "1T"), "--sizes: size over 64 GiB"),
        (("--small-sizes", "1..99999999999999999"), "--small-sizes: size over 64 GiB"),
        (("--sizes", "1M..4G:abc"), "size factor must be a whole number"),
    ],
)
def test_verify_refuses_option_values_it_cannot_use(args: tuple[str, str], message: str) -> None:
    """`--expect-busbw nan` printed `ceiling nan GB/s` and judged nothing (exit 0); `--sizes 1T` launched the ranks and
    reported their allocation error as a blocker of the setup (exit 3); `--small-sizes 1..1e17` ran until the timeout;
    `:abc` printed Python's int() message. Each is an option error now: one line, exit 2, before torch is imported."""
    code, out = invoke("verify", "--backend", "gloo", "--gpus", "2", *args)
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1, out[-2000:]


# -- cluster: the Ray address ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "address", ["ray://user:Hunter2Pass@127.0.0.1:1", "user:Hunter2Pass@127.0.0.1:1", "127.0.0.1:99999", ":6379"]
)
def test_cluster_refuses_a_ray_address_with_credentials_or_no_port(address: str) -> None:
    """`ray://user:Hunter2Pass@head:10001`: `user:Hunter2Pass@head` was looked up as a host name (the password in a DNS
    query) and printed unredacted in the error (`(user:Hunter2Pass@127.0.0.1:1)`); a port past 65535 or an empty host
    went to the probe. Refused as an option error, the password nowhere."""
    from tpdoctor.cluster.remote import _gcs_endpoint
    from tpdoctor.errors import UsageError

    with pytest.raises(UsageError) as info:
        _gcs_endpoint(None, address)  # type: ignore[arg-type]
    assert "Hunter2Pass" not in str(info.value)
    code, out = invoke("cluster", "check", "--address", address, "--timeout", "2")
    assert code == 2 and "Hunter2Pass" not in out and "--address" in out, out
    assert _gcs_endpoint(None, "ray://[::1]:10001") == ("::1", 10001)  # type: ignore[arg-type]
