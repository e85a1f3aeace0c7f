"""Load the YAML data files shipped in the package (causes, fixes, signatures) fast.

ruamel.yaml's pure-Python safe loader takes ~0.2 s for signatures.yaml alone, which is most of
a short `explain` run when ruamel.yaml.clib is absent. libyaml through PyYAML's CSafeLoader
parses the same files in ~15 ms. Both give identical data for every shipped file
(tests/test_yamldata.py compares them), so the C loader is used when it is importable and
ruamel's loader otherwise. User files (compose, manifests) keep ruamel's round-trip loader.
"""

from __future__ import annotations

from typing import Any


def load_data_yaml(text: str) -> Any:
    """Parse a packaged data file (plain mappings, lists, strings, numbers, booleans)."""
    try:
        import yaml

        loader = yaml.CSafeLoader  # libyaml; the pure-Python PyYAML loader is no faster than ruamel
    except (ImportError, AttributeError):
        return ruamel_load(text)
    return yaml.load(text, Loader=loader)  # CSafeLoader: the safe loader


def ruamel_load(text: str) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(text)
