"""The fast libyaml loader must read every shipped data file exactly as ruamel.yaml does."""

from __future__ import annotations

from importlib import resources

import pytest

from tpdoctor.model.yamldata import load_data_yaml, ruamel_load


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
