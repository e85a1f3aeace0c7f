"""gsafe43: hostile-input pass (docs/security.md, ### gsafe43)."""

from __future__ import annotations

import time
from pathlib import Path

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
