"""The fast libyaml loader must read every shipped data file exactly as ruamel.yaml does."""

from __future__ import annotations

from importlib import resources

import pytest

from tpdoctor.model.yamldata import _compiled, load_data_yaml, ruamel_load


def _data_files() -> list[str]:
    base = resources.files("tpdoctor").joinpath("data")
    out = []
    stack = [base]
    while stack:
        d = stack.pop()
        for e in d.iterdir():
            if e.is_dir():
                stack.append(e)
            elif e.name.endswith(".yaml"):
                out.append(e.read_text(encoding="utf-8"))
    return out


def test_there_are_data_files() -> None:
    assert len(_data_files()) >= 10


@pytest.mark.parametrize("text", _data_files())
def test_fast_loader_equals_ruamel(text: str) -> None:
    assert load_data_yaml(text) == ruamel_load(text)


def test_yaml_11_booleans_would_be_caught() -> None:
    # the case the equality test exists for: YAML 1.1 (libyaml) reads `on` as True, 1.2 as "on"
    text = "k: on\n"
    pytest.importorskip("yaml")
    assert (load_data_yaml(text) == ruamel_load(text)) is False


def _data_paths() -> list[tuple[str, str]]:
    base = resources.files("tpdoctor").joinpath("data")
    out = []
    stack = [(base, "")]
    while stack:
        d, prefix = stack.pop()
        for e in d.iterdir():
            if e.is_dir() and e.name != "compiled":
                stack.append((e, f"{prefix}{e.name}/"))
            elif e.name.endswith(".yaml"):
                out.append((f"{prefix}{e.name}", e.read_text(encoding="utf-8")))
    return sorted(out)


def test_precompiled_copies_are_fresh_and_identical() -> None:
    """`python3 tools/compile_data.py` after editing a data file: a stale copy is never used
    (the YAML is read instead), but it costs check its start-up."""
    compiled = 0
    for name, text in _data_paths():
        found, data = _compiled(name, text)
        assert found, f"data/compiled/{name}.json is missing or stale: run python3 tools/compile_data.py"
        assert data == load_data_yaml(text) == ruamel_load(text)
        assert load_data_yaml(text, name) == data
        compiled += 1
    assert compiled >= 20


def test_a_stale_copy_is_not_used() -> None:
    name, text = next(p for p in _data_paths() if p[0] == "causes.yaml")
    edited = text.replace("\n", "\nzz.stale-check:\n  severity: notice\n  summary: s\n", 1)
    assert _compiled(name, edited) == (False, None)
    assert "zz.stale-check" in load_data_yaml(edited, name)
