"""Facts as JSON: `check --snapshot` writes them, `--from-snapshot` and `--example` read them."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from tpdoctor.errors import InputError, UsageError
from tpdoctor.facts.process import redact_env
from tpdoctor.model.facts import SCHEMA_VERSION, Facts

EXAMPLES_DIR = "data/examples"


def dump_facts(facts: Facts) -> str:
    data = facts.model_copy(update={"env": redact_env(facts.env)})
    return data.model_dump_json(indent=2) + "\n"


def write_snapshot(facts: Facts, path: Path) -> None:
    try:
        path.write_text(dump_facts(facts), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write snapshot {path}: {exc.strerror or exc}") from None


def parse_snapshot(text: str, origin: str) -> Facts:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{origin}: not a tpdoctor snapshot (invalid JSON: {exc})") from None
    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise InputError(f"{origin}: not a tpdoctor snapshot (no schema_version)")
    if raw["schema_version"] != SCHEMA_VERSION:
        raise InputError(
            f"{origin}: snapshot schema {raw['schema_version']!r}, this tpdoctor reads {SCHEMA_VERSION}"
        )
    try:
        return Facts.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{origin}: invalid snapshot at {where}: {first['msg']}") from None


def read_snapshot(path: Path) -> Facts:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read snapshot {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_snapshot(text, str(path))


def example_names() -> dict[str, str]:
    """name -> one-line label of every built-in example snapshot."""
    base = resources.files("tpdoctor").joinpath(EXAMPLES_DIR)
    out: dict[str, str] = {}
    for entry in sorted(base.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            label = json.loads(entry.read_text(encoding="utf-8")).get("label") or ""
            out[entry.name[: -len(".json")]] = label
    return out


def load_example(name: str) -> Facts:
    names = example_names()
    if name not in names:
        raise UsageError(f"unknown example {name!r}; available: {', '.join(names)} (or: list)")
    text = resources.files("tpdoctor").joinpath(f"{EXAMPLES_DIR}/{name}.json").read_text(encoding="utf-8")
    return parse_snapshot(text, f"example {name}")


def read_compare_snapshot(path: Path) -> Facts:
    """A snapshot for `check --compare`: Facts as JSON, bare or under a "facts" key (a JSON report)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read snapshot {path}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("facts"), dict) and "dev" not in data:
        data = data["facts"]
    try:
        return Facts.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"{path} is not a tpdoctor snapshot: {exc.error_count()} error(s)") from None
