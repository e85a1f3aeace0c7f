"""gsafe39: `audit --write` against links, a file swapped between read and write, read-only files.

The bug: write_fixed checked the file by its path, then created the temp file and renamed it by the same path. A
directory link on that path swapped after the check (`d -> a` turned into `d -> b`) moved the fixed file and its
backup into the other directory: root wrote a file where the link's owner chose. Now the directory is opened once
and every step names the file in that descriptor's directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke
from tpdoctor import safewrite

POD = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: vllm   # kept\nspec:\n  containers:\n  - name: vllm\n"
    '    image: vllm/vllm-openai:latest\n    args: ["--model", "m", "--tensor-parallel-size", "2"]\n'
    "    resources:\n      limits:\n        nvidia.com/gpu: 2\n    securityContext:\n      privileged: true\n"
)


def test_a_directory_link_swapped_after_the_check_does_not_move_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "pod.yaml").write_text(POD)
    d = tmp_path / "d"
    d.symlink_to(a)
    real = safewrite.TextStyle.apply

    def swap_then_apply(self: safewrite.TextStyle, text: str) -> bytes:
        d.unlink()
        d.symlink_to(b)  # after the file was checked, before it is placed
        return real(self, text)

    monkeypatch.setattr(safewrite.TextStyle, "apply", swap_then_apply)
    code, out = invoke("audit", str(d / "pod.yaml"), "--write")
    _check(code, out, "swap")
    assert sorted(os.listdir(b)) == [], os.listdir(b)
    assert (a / "pod.yaml.tpdoctor.bak").read_text() == POD
    assert "privileged" not in (a / "pod.yaml").read_text()


def test_links_read_only_hard_links_and_replaced_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "target.yaml"
    target.write_text(POD)
    (tmp_path / "sym.yaml").symlink_to(target)
    code, out = invoke("audit", str(tmp_path / "sym.yaml"), "--write")
    assert code == 2 and "symbolic link" in out and target.read_text() == POD
    ro = tmp_path / "ro.yaml"
    ro.write_text(POD)
    ro.chmod(0o444)
    code, out = invoke("audit", str(ro), "--write")
    assert code == 2 and "read-only" in out and ro.read_text() == POD
    # a hard link: the named file is replaced by rename; the other name keeps the original (design: noted)
    hl = tmp_path / "hl.yaml"
    hl.write_text(POD)
    os.link(hl, tmp_path / "hl2.yaml")
    code, out = invoke("audit", str(hl), "--write")
    _check(code, out, "hard link")
    assert (tmp_path / "hl2.yaml").read_text() == POD and "privileged" not in hl.read_text()
    # replaced between read and write: refused, the new file untouched
    swapped = tmp_path / "swap.yaml"
    swapped.write_text(POD)
    real = safewrite.write_fixed

    def replace_first(state: safewrite.ReadState, new_text: str, style: safewrite.TextStyle) -> Path:
        other = tmp_path / "other.yaml"
        other.write_text(POD + "# changed\n")
        os.replace(other, swapped)
        return real(state, new_text, style)

    monkeypatch.setattr(safewrite, "write_fixed", replace_first)
    code, out = invoke("audit", str(swapped), "--write")
    assert code == 2 and "changed since" in out, out
    assert swapped.read_text() == POD + "# changed\n"


def test_only_the_changed_lines_change(tmp_path: Path) -> None:
    f = tmp_path / "pod.yaml"
    f.write_bytes(POD.replace("\n", "\r\n").encode())
    code, out = invoke("audit", str(f), "--write")
    _check(code, out, "crlf")
    new = f.read_bytes().decode()
    assert "\r\n" in new and "\n" not in new.replace("\r\n", "")
    assert "  name: vllm   # kept\r\n" in new
    code, out = invoke("audit", str(f), "--write")  # a second --write changes nothing
    assert f.read_bytes().decode() == new
