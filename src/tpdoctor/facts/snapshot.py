"""Facts as JSON: `check --snapshot` writes them; every command that takes one reads it here
(`check --from-snapshot`, `check --compare`, `audit --host-facts`, `explain --config
--host-facts`, `generate --host-facts`, `--example`): one reader, one schema check, one error."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tpdoctor.errors import InputError, UsageError
from tpdoctor.facts.process import redact_env
from tpdoctor.model.facts import SCHEMA_VERSION, Facts
from tpdoctor.model.pkgdata import list_data, read_data
from tpdoctor.termsafe import UNICODE_CONTROLS

EXAMPLES_DIR = "examples"  # under data/
MAX_SNAPSHOT = 64 << 20  # a 20k-device snapshot is ~10 MB


def dump_facts(facts: Facts) -> str:
    from tpdoctor.redact import redact_strings, redact_text

    # env by name and by value shape, then every other string (errors, paths) by shape, before JSON escapes its
    # quotes (`password=\\"x\\"` in a command line passed the redactor of the dumped text: gsafe42)
    data = facts.model_copy(update={"env": redact_env(facts.env)})
    plain = redact_strings(data.model_dump(mode="json"))
    text = json.dumps(plain, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    return redact_text(_INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


# ensure_ascii=False keeps names readable, and kept C1 controls (U+009B is an 8-bit CSI) and the bidi controls raw: a
# device node or file name under --root holding U+202E reordered `cat snapshot.json` on a terminal (gsafe45). Outside
# a JSON string they cannot occur, so each is written as its \u escape (json.loads reads the same string back).
_INVISIBLE = re.compile("[" + "".join(map(chr, UNICODE_CONTROLS)) + "]")  # termsafe's non-ASCII controls


def write_snapshot(facts: Facts, path: Path) -> None:
    from tpdoctor.safewrite import write_output_file

    try:
        write_output_file(path, dump_facts(facts), mode=0o644)
    except OSError as exc:
        raise InputError(f"cannot write snapshot {path}: {exc.strerror or exc}") from None


def parse_snapshot(text: str, origin: str) -> Facts:
    try:
        raw = json.loads(text)
    except RecursionError:
        raise InputError(f"{origin}: not a tpdoctor snapshot (JSON nested too deeply)") from None
    except ValueError as exc:
        raise InputError(f"{origin}: not a tpdoctor snapshot (invalid JSON: {exc})") from None
    if isinstance(raw, dict) and "schema_version" not in raw and isinstance(raw.get("facts"), dict):
        raise InputError(
            f"{origin}: a JSON report with facts inside, not a snapshot: pass the file `tpdoctor check --snapshot FILE` writes"
        )
    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise InputError(
            f"{origin}: not a tpdoctor snapshot (no schema_version; write one with `check --snapshot FILE`)"
        )
    if raw["schema_version"] != SCHEMA_VERSION:
        raise InputError(
            f"{origin}: snapshot schema {raw['schema_version']!r}, this tpdoctor reads {SCHEMA_VERSION}"
        )
    from pydantic import ValidationError  # only here: validating outside JSON needs it

    try:
        return Facts.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{origin}: invalid snapshot at {where}: {first['msg']}") from None


def read_snapshot(path: Path) -> Facts:
    """The one snapshot reader: size-limited, UTF-8, schema version checked, shape validated."""
    from tpdoctor.boundedio import read_text_bounded

    return parse_snapshot(read_text_bounded(path, MAX_SNAPSHOT, what="snapshot"), str(path))


def example_names() -> dict[str, str]:
    """name -> one-line label of every built-in example snapshot."""
    out: dict[str, str] = {}
    for name in list_data(EXAMPLES_DIR, ".json"):
        label = json.loads(read_data(f"{EXAMPLES_DIR}/{name}")).get("label") or ""
        out[name[: -len(".json")]] = label
    return out


def load_example(name: str) -> Facts:
    names = example_names()
    if name not in names:
        raise UsageError(f"unknown example {name!r}; available: {', '.join(names)} (or: list)")
    # our own data, checked by tests/test_snapshot_examples.py and test_datamodel.py: built
    # without pydantic, whose import and schema build were two thirds of `check --example`
    from tpdoctor.model.datamodel import build

    raw = json.loads(read_data(f"{EXAMPLES_DIR}/{name}.json"))
    if raw.get("schema_version") != SCHEMA_VERSION:
        return parse_snapshot(json.dumps(raw), f"example {name}")  # says what is wrong
    return build(Facts, raw)


def read_compare_snapshot(path: Path) -> Facts:
    """A snapshot for `check --compare`: the same reader as every other command."""
    return read_snapshot(path)
