"""gsafe39: hostile TOML in the files `check` reads on a host (the toolkit's config.toml, containerd's config.toml
and its imports).

tomllib's time and memory grow with the square of a dotted key's parts: a 200 KiB toolkit config.toml of
`a.a.a...a = 1` (100000 parts) ran `check --root` for two minutes and was killed for memory. Nesting past Python's
recursion limit (`x = [[[[...`) aborted the whole check (exit 2) instead of being one unreadable file. Both are now
one line in facts.errors, and the file is left unjudged (no 'refused' claim: whether the daemon loads it is not
known)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeroot import FakeRoot
from test_safety_fuzz import _check, invoke
from tpdoctor.facts.collect import collect_facts

TOOLKIT = "etc/nvidia-container-runtime/config.toml"
CONTAINERD = "etc/containerd/config.toml"
DEEP_KEY = ".".join(["a"] * 10000) + " = 1\n"  # 1.4 s in tomllib before; 100000 parts: killed for memory
DEEP_INLINE = "x = {" + ".".join(["a"] * 10000) + " = 1}\n"
DEEP_HEADER = "[" + ".".join(["a"] * 10000) + "]\n"
DEEP_ARRAY = "x = " + "[" * 5000 + "]" * 5000 + "\n"
HOSTILE = {"key": DEEP_KEY, "inline": DEEP_INLINE, "header": DEEP_HEADER, "array": DEEP_ARRAY}


def _host(tmp_path: Path) -> FakeRoot:
    fr = FakeRoot(tmp_path)
    fr.mounts = ["/dev/sda1 / ext4 rw,relatime 0 0", "devtmpfs /dev devtmpfs rw,nosuid 0 0"]
    fr.write("usr/bin/nvidia-container-runtime", "").write("usr/bin/containerd", "")
    return fr


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_a_hostile_toolkit_config_is_one_unjudged_file(tmp_path: Path, shape: str) -> None:
    fr = _host(tmp_path)
    fr.write(TOOLKIT, HOSTILE[shape])
    fr.flush()
    facts = collect_facts(fr.root, dict(fr.env), live=False)
    tk = facts.nvidia_toolkit
    assert tk.config_state == "invalid" and tk.config_refused is None
    assert any(e.startswith("/etc/nvidia-container-runtime/config.toml: ") and "not read" in e for e in facts.errors)


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_a_hostile_containerd_config_or_import_is_one_unjudged_file(tmp_path: Path, shape: str) -> None:
    fr = _host(tmp_path / "main")
    fr.write(CONTAINERD, HOSTILE[shape])
    fr.flush()
    facts = collect_facts(fr.root, dict(fr.env), live=False)
    assert facts.engines.containerd_state == "invalid" and facts.engines.containerd_refused is None
    imp = _host(tmp_path / "import")
    imp.write(CONTAINERD, 'version = 2\nimports = ["/etc/containerd/conf.d/*.toml"]\n')
    imp.write("etc/containerd/conf.d/99-x.toml", HOSTILE[shape])
    imp.flush()
    facts = collect_facts(imp.root, dict(imp.env), live=False)
    assert facts.engines.containerd_refused is None
    assert any("99-x.toml" in e and "not read" in e for e in facts.errors)


def test_check_through_the_cli_reports_and_goes_on(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.write(TOOLKIT, ".".join(["a"] * 10000) + " = 1\n").write(CONTAINERD, DEEP_ARRAY)
    fr.flush()
    code, out = invoke("check", "--root", str(fr.root), "--tp", "2", "--format", "json")
    _check(code, out, "hostile toml")
    errors = json.loads(out)["facts"]["errors"]
    assert any("a key of 10000 parts" in e for e in errors)
    assert any(e.startswith("/etc/containerd/config.toml: arrays or tables nested too deeply") for e in errors)


def test_real_keys_pass_the_guard() -> None:
    from tpdoctor.facts.nvidia_toolkit import MAX_TOML_KEY_PARTS, _toml_key_parts, _toml_loads

    real = (
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]\n'
        'BinaryName = "/usr/bin/nvidia-container-runtime"  # a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s\n'
        'x = "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t"\ny = """\n' + "a." * 100 + '\n"""\nz = [1.5, 2.5]\n'
        "t = 1979-05-27T07:32:00.999\n"
        "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.nvidia]\nruntime_type = 'io.containerd.runc.v2'\n"
    )
    assert _toml_key_parts(real) <= 7 < MAX_TOML_KEY_PARTS
    assert _toml_loads(real)["version"] == 2
    assert _toml_key_parts(".".join(["a"] * (MAX_TOML_KEY_PARTS + 1)) + " = 1\n") == MAX_TOML_KEY_PARTS + 1


def test_a_daemon_json_nested_too_deeply_is_one_unjudged_file(tmp_path: Path) -> None:
    """json.loads's RecursionError aborted the whole check (exit 2) like the TOML above."""
    fr = _host(tmp_path)
    fr.write("usr/bin/dockerd", "").write("etc/docker/daemon.json", '{"a": ' + "[" * 100000 + "]" * 100000 + "}")
    fr.flush()
    code, out = invoke("check", "--root", str(fr.root), "--tp", "2", "--format", "json")
    _check(code, out, "deep daemon.json")
    assert "/etc/docker/daemon.json: arrays or objects nested too deeply: not read" in json.loads(out)["facts"]["errors"]


TOML_PIECES = ["a", "b.", ".", '"', "'", '"""', "'''", "=", " = 1", "[", "]", "[[", "{", "}", ",", "\n", "#", "\\",
               " ", "1.5", "x.y.z = 2\n", "[t.u]\n"]


def test_the_guard_never_raises_but_value_errors() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    from test_safety_fuzz import FUZZ
    from tpdoctor.facts.nvidia_toolkit import MAX_TOML_KEY_PARTS, _toml_key_parts, _toml_loads

    @FUZZ
    @given(st.lists(st.sampled_from(TOML_PIECES), max_size=60).map("".join))
    def run(text: str) -> None:
        parts = _toml_key_parts(text)
        try:
            _toml_loads(text)
        except ValueError:
            return
        # what tomllib accepted had no key deeper than the guard lets through
        assert parts <= MAX_TOML_KEY_PARTS

    run()
