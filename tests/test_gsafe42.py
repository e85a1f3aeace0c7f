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
    escaped_pair = 'env=[{\\"name\\": \\"DB_PASSWORD\\", \\"value\\": \\"Hunter2xyz\\"}]\n'  # a pod spec in a log
    assert "Hunter2xyz" not in redact_text(escaped_pair) and "Hunter2xyz" not in redact_text(escaped_pair * 30000)
    assert redact_text('{\\"name\\": \\"HF_HOME\\", \\"value\\": \\"/data\\"}') == '{\\"name\\": \\"HF_HOME\\", \\"value\\": \\"/data\\"}'


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
    with reader.open_log(str(bomb)) as stream:  # the scan pool still sizes a gzip log by its file
        assert reader.size_hint(stream) == bomb.stat().st_size
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


# -- audit: Podman Quadlet, and edits of huge files -------------------------------------------------------------------
QUADLET = """\
[Unit]
Description=vLLM

[Container]
Image=docker.io/vllm/vllm-openai:latest
AddDevice=nvidia.com/gpu=all
PodmanArgs=--ipc=host
SecurityLabelDisable=true
Exec=--model x --tensor-parallel-size 2

[Install]
WantedBy=default.target
"""


def test_a_quadlet_unit_is_named_not_called_invalid_yaml(tmp_path: Path) -> None:
    """A `.container` file (systemd INI) ended in `invalid YAML at line 2, column 1: expected '<document start>'`."""
    for name in ("vllm.container", "vllm.ini"):
        path = tmp_path / name
        path.write_text(QUADLET)
        code, out = invoke("audit", str(path))
        assert code == 2 and "a Podman Quadlet unit ([Container] section, systemd INI)" in out, out
        assert "invalid YAML" not in out and out.count("\n") == 1
    code, out = invoke("audit", "--skip-other", str(tmp_path / "vllm.container"))
    _check(code, out, "audit --skip-other")
    assert "skipped: " in out and "Quadlet" in out
    compose = tmp_path / "compose.yaml"  # a compose file quoting a unit in a block scalar is still compose
    compose.write_text("services:\n  v:\n    image: x\n    labels:\n      unit: |\n        [Container]\n        Image=x\n")
    code, out = invoke("audit", str(compose))
    assert "Quadlet" not in out, out


def test_fix_refuses_a_file_too_big_to_edit_in_good_time(tmp_path: Path) -> None:
    """A 100k-entry environment list took 28 s under `audit --fix` (the round-trip loader, twice; minutes on a slower
    machine) where `audit` took 1.7 s: refused at once, with a message; `audit` alone still reads it."""
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  v:\n    image: vllm/vllm-openai\n    privileged: true\n    environment:\n"
        + "".join(f"      - V{i}=x\n" for i in range(100_000))
    )
    before = path.read_bytes()
    t = time.perf_counter()
    for args in (("audit", "--fix", str(path)), ("audit", "--write", str(path))):
        code, out = invoke(*args)
        assert code == 2 and "too many to edit and write back in good time" in out, out
    assert time.perf_counter() - t < 10
    assert path.read_bytes() == before
    code, out = invoke("audit", str(path))
    _check(code, out, "audit")
    assert "security.privileged" in out


# -- audit --write on JSON: bytes outside the change ------------------------------------------------------------------
def _json_deployment() -> str:
    import json

    dep = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "vllm", "annotations": {"note": "AAA"}},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
            "containers": [{"name": "vllm", "image": "vllm/vllm-openai", "args": ["--tensor-parallel-size", "2"],
                            "securityContext": {"privileged": True},
                            "resources": {"limits": {"nvidia.com/gpu": 2, "cpu": "CCC", "memory": "DDD"}}}]}}},
    }  # fmt: skip
    text = json.dumps(dep, indent=4) + "\n"
    # Go's encoder escapes < > & as \u003c \u003e \u0026; a hand-written file says 1.0e3 and 2.50
    return text.replace('"AAA"', '"\\u003cb\\u003e caf\\u00e9 \\u0026"').replace('"CCC"', "1.0e3").replace('"DDD"', "2.50")


def test_a_json_write_keeps_every_line_it_does_not_change(tmp_path: Path) -> None:
    """json.dumps of the whole tree rewrote `\\u003cb\\u003e caf\\u00e9` as `<b> café` and `1.0e3` as `1000.0`, lines far
    from the fix."""
    import json

    path = tmp_path / "k.json"
    text = _json_deployment()
    path.write_text(text)
    code, out = invoke("audit", "--write", str(path))
    _check(code, out, "audit --write")
    new = path.read_text()
    for kept in ('"note": "\\u003cb\\u003e caf\\u00e9 \\u0026"', '"cpu": 1.0e3,', '"memory": 2.50'):
        assert kept in new, kept
    container = json.loads(new)["spec"]["template"]["spec"]["containers"][0]
    assert "privileged" not in container["securityContext"]
    gone = set(text.splitlines()) - set(new.splitlines())
    assert gone == {'                            "privileged": true'}, gone


def test_a_json_change_on_a_line_written_otherwise_is_refused() -> None:
    from tpdoctor.deploy.io import _json_spliced
    from tpdoctor.errors import InputError

    like = '{\n  "a": 1.0e3,\n  "b": true\n}\n'
    assert _json_spliced(like, {"a": 1000.0, "b": False}, "  ") == '{\n  "a": 1.0e3,\n  "b": false\n}\n'
    with pytest.raises(InputError, match=r"written otherwise than json\.dumps"):
        _json_spliced(like, {"a": 1000.0}, "  ")  # the comma after 1.0e3 goes: that line would be re-spelled
    with pytest.raises(InputError, match="one-line JSON"):
        _json_spliced('{"a": 1e3, "b": true}', {"a": 1000.0}, None)
    assert _json_spliced('{"a":1,"b":true}\n', {"a": 1}, None) == '{"a":1}\n'


def test_audit_write_refuses_a_json_fix_on_a_line_it_would_re_spell(tmp_path: Path) -> None:
    """The added keys follow `"image": "vllm\\/vllm-openai"`, whose line gains a comma: json.dumps would write it
    `vllm/vllm-openai`. One line naming the file, exit 2, the file and its directory unchanged."""
    path = tmp_path / "compose.json"
    text = '{\n  "services": {\n    "v": {\n      "privileged": true,\n      "image": "vllm\\/vllm-openai"\n    }\n  }\n}\n'
    path.write_text(text)
    code, out = invoke("audit", "--write", str(path))
    assert code == 2 and f"{path}: the fix falls on a JSON line written otherwise" in out, out
    assert path.read_text() == text and sorted(p.name for p in tmp_path.iterdir()) == ["compose.json"]


# -- outputs: never through a hard link or a planted symlink -----------------------------------------------------------
def test_a_snapshot_path_that_is_a_hard_link_is_not_written_through(tmp_path: Path) -> None:
    """`check --snapshot F` where F is a second name of another file (planted in a shared directory): the file was
    truncated at open and the snapshot written into it, as root. Refused, one line, the file unchanged."""
    root = tmp_path / "root"
    root.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    snap = tmp_path / "snap.json"
    os.link(victim, snap)
    code, out = invoke("check", "--root", str(root), "--tp", "2", "--snapshot", str(snap))
    assert code == 2 and "a hard link (2 names of one file): not written through" in out, out
    assert victim.read_text() == "precious\n"
    fresh = tmp_path / "fresh.json"
    code, out = invoke("check", "--root", str(root), "--tp", "2", "--snapshot", str(fresh))
    _check(code, out, "check --snapshot")
    assert fresh.read_text().startswith("{")


def test_verify_logs_in_a_shared_directory_are_not_written_through_links(tmp_path: Path) -> None:
    """`verify --logs DIR`: config.json and rank<N>.log were written with write_text/open('w') (the workers' events
    with open('a')), following a link planted in DIR to any file root may write."""
    from tpdoctor.errors import InputError
    from tpdoctor.verify.launcher import launch
    from tpdoctor.verify.worker import EventLog

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for planted, link in (("config.json", os.symlink), ("rank0.log", os.link), ("rank0.log", os.symlink)):
        run_dir = tmp_path / f"logs-{planted}-{link.__name__}"
        run_dir.mkdir()
        link(victim, run_dir / planted)
        with pytest.raises(InputError, match=f"{planted}: cannot write"):
            launch(1, {}, run_dir, {}, timeout=5)
        assert victim.read_text() == "precious\n"
    events = tmp_path / "events"
    events.mkdir()
    os.symlink(victim, events / "rank0.jsonl")
    with pytest.raises(OSError):
        EventLog(events / "rank0.jsonl", 0)
    assert victim.read_text() == "precious\n"


def test_a_root_with_thousands_of_render_nodes_is_read_in_bounded_time(tmp_path: Path) -> None:
    """20k `renderD*` directories under /sys/class/drm: each was read (vendor, device, driver link, drm/) in string
    order: 6.6 s, 33 s at 100k. The first 1024 in number order are read, with a note."""
    from tpdoctor.facts.collect import collect_facts

    drm = tmp_path / "sys/class/drm"
    drm.mkdir(parents=True)
    for i in range(5000):
        (drm / f"renderD{i}").mkdir()
    t = time.perf_counter()
    facts = collect_facts(tmp_path, {}, live=False)
    assert time.perf_counter() - t < 4
    assert [g.render for g in facts.drm[:3]] == ["renderD0", "renderD1", "renderD2"] and len(facts.drm) == 1024
    assert any("5000 render nodes, over tpdoctor's limit of 1024" in e for e in facts.errors)


def test_a_fix_diff_of_a_file_without_a_final_newline_keeps_its_lines_apart(tmp_path: Path) -> None:
    """A script whose last line had no newline: difflib left the `-` line unended, so the `+` line and then the report
    were printed on the same line (`-docker run … \\+docker run …No known cause…`); the patch did not apply."""
    import shutil
    import subprocess

    script = tmp_path / "run.sh"
    script.write_text("docker run --privileged --gpus all vllm/vllm-openai --tensor-parallel-size 2")
    code, out = invoke("audit", "--fix", str(script))
    _check(code, out, "audit --fix")
    lines = out.splitlines()
    minus = next(i for i, x in enumerate(lines) if x.startswith("-docker run"))
    assert lines[minus + 1] == "\\ No newline at end of file" and lines[minus + 2].startswith("+docker run --gpus all")
    assert lines[minus + 3] == "\\ No newline at end of file"
    if shutil.which("patch"):
        diff = "\n".join(lines[minus - 3 : minus + 4]).replace(f"{script} (least privilege)", str(script)) + "\n"
        subprocess.run(["patch", "-s", str(script)], input=diff.encode(), check=True)
        assert script.read_text().startswith("docker run --gpus all --shm-size 16g")


def test_fix_diffs_hide_secret_env_values_in_any_layout(tmp_path: Path) -> None:
    """Env entries written value first after a bare `-`, as a folded block above `name:`, or as a flow mapping over two
    lines: the line redactor did not see whose value it was, and the --fix diff printed all three (ruamel re-lays two
    of them out, so they were removed lines)."""
    path = tmp_path / "pod.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: vllm\n"
        "      image: vllm/vllm-openai\n      args: [\"--tensor-parallel-size\", \"2\"]\n      env:\n"
        "        -\n          value: Hunter2ValFirst\n          name: DB_PASSWORD\n"
        "        - value: >-\n            FoldedTok9xyz\n          name: API_TOKEN\n"
        "        - {value: \"FlowTok9xyz\",\n           name: API_KEY}\n"
        "        - name: WORKERS_COUNT_HINT\n          value: visible-value\n"
        "      securityContext: {privileged: true}\n      resources: {limits: {nvidia.com/gpu: 2}}\n"
    )
    code, out = invoke("audit", "--fix", str(path))
    _check(code, out, "audit --fix")
    # gsafe43: the lines ruamel re-laid out are no longer written (only the fix's own lines change), so the diff
    # holds no `+        - value: <redacted>` line; the secrets stay hidden in whatever context it shows
    assert "-        -\n" not in out and "+        - value:" not in out
    for secret in ("Hunter2ValFirst", "FoldedTok9xyz", "FlowTok9xyz"):
        assert secret not in out, secret
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "services:\n  v:\n    image: vllm/vllm-openai\n    privileged: true\n    command: --tensor-parallel-size 2\n"
        "    environment: {HF_HOME: /data, DB_PASSWORD: \"Hunter2Compose\",\n      HF_TOKEN: \"${HF_TOKEN}\"}\n"
    )
    code, out = invoke("audit", "--fix", str(compose))
    _check(code, out, "audit --fix")
    assert "Hunter2Compose" not in out and "${HF_TOKEN}" in out and "HF_HOME: /data" in out


def test_json_write_back_of_many_objects_stays_linear() -> None:
    """The first splice aligned the file's lines with difflib: quadratic on thousands of `}` lines (100 Deployments
    of kubectl JSON: +10 s). Lines are now matched one for one, by occurrence."""
    import json

    from tpdoctor.deploy.io import _json_spliced

    items = [{"name": f"c{i}", "note": "<b>", "gpu": 2.0, "privileged": True, "z": {"a": [1, 2]}} for i in range(3000)]
    like = json.dumps({"items": items}, indent=2).replace('"<b>"', '"\\u003cb\\u003e"').replace("2.0,", "2.0e0,") + "\n"
    new = {"items": [{k: v for k, v in x.items() if k != "privileged"} for x in items]}
    t = time.perf_counter()
    out = _json_spliced(like, new, 2)
    assert time.perf_counter() - t < 3
    assert out.count('"note": "\\u003cb\\u003e"') == 3000 and out.count('"gpu": 2.0e0,') == 3000
    assert json.loads(out) == new and "privileged" not in out
