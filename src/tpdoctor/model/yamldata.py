"""Load the YAML data files shipped in the package (causes, fixes, signatures, error codes) fast.

Three ways, fastest first:
- the precompiled copy, `data/compiled/<file>.json`, written by `python3 tools/compile_data.py`:
  JSON loads in ~1/50 of libyaml's time and needs no yaml import (~15 ms). It is used only when
  its CRC-32 and length match the YAML text read now, so an edited YAML file without a fresh
  copy is still read right, from the YAML (tests/test_yamldata.py says the copies are fresh);
- libyaml through PyYAML's CSafeLoader (~15 ms for signatures.yaml);
- ruamel.yaml's pure-Python safe loader (~0.2 s for signatures.yaml) when PyYAML is absent.
All give identical data for every shipped file (tests/test_yamldata.py). User files (compose,
manifests) keep ruamel's round-trip loader.
"""

from __future__ import annotations

from typing import Any

COMPILED_DIR = "compiled"  # under data/


def load_data_yaml(text: str, name: str | None = None) -> Any:
    """Parse a packaged data file (plain mappings, lists, strings, numbers, booleans).

    `name`: its path under data/ ("fixes/oneccl.yaml"), to use the precompiled copy."""
    if name is not None:
        found, data = _compiled(name, text)
        if found:
            return data
    try:
        import yaml

        loader = yaml.CSafeLoader  # libyaml; the pure-Python PyYAML loader is no faster than ruamel
    except (ImportError, AttributeError):
        return ruamel_load(text)
    return yaml.load(text, Loader=loader)  # CSafeLoader: the safe loader


def ruamel_load(text: str) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(text)


def fingerprint(text: str) -> dict[str, int]:
    """What ties a compiled copy to the YAML text it was made from."""
    import zlib

    raw = text.encode("utf-8")
    return {"crc32": zlib.crc32(raw), "size": len(raw)}


def compiled_path(name: str) -> str:
    return f"{COMPILED_DIR}/{name}.json"


def _compiled(name: str, text: str) -> tuple[bool, Any]:
    import json

    from tpdoctor.model.pkgdata import read_data

    try:
        entry = json.loads(read_data(compiled_path(name)))
    except (OSError, ValueError):
        return False, None
    if not isinstance(entry, dict) or entry.get("source") != fingerprint(text):
        return False, None  # stale: the YAML changed after tools/compile_data.py ran
    return True, entry.get("data")
