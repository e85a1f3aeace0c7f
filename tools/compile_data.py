"""Write the precompiled JSON copies of the packaged YAML data (src/tpdoctor/data/compiled/).

    python3 tools/compile_data.py          # after editing any src/tpdoctor/data/**/*.yaml

tpdoctor reads a copy only while it matches its YAML (CRC-32 and length, model/yamldata.py), so a
stale copy costs speed, never correctness; tests/test_yamldata.py fails until this is run. A file
whose data JSON cannot hold exactly (non-string keys, dates) gets no copy and is read from YAML.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from tpdoctor.model.yamldata import COMPILED_DIR, fingerprint, load_data_yaml  # noqa: E402

DATA = SRC / "tpdoctor" / "data"
OUT = DATA / COMPILED_DIR


def main() -> None:
    wanted: set[Path] = set()
    for src in sorted(DATA.rglob("*.yaml")):
        name = src.relative_to(DATA).as_posix()
        text = src.read_text(encoding="utf-8")
        data = load_data_yaml(text)  # libyaml, as tests/test_yamldata.py checks against ruamel
        if json.loads(json.dumps(data)) != data:
            print(f"skipped {name}: its data does not survive JSON", file=sys.stderr)
            continue
        dest = OUT / f"{name}.json"
        wanted.add(dest)
        body = json.dumps(
            {"source": fingerprint(text), "data": data}, ensure_ascii=False, separators=(",", ":")
        )
        if not dest.exists() or dest.read_text(encoding="utf-8") != body + "\n":
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(body + "\n", encoding="utf-8")
            print(f"wrote {dest.relative_to(SRC.parent)}")
    for old in OUT.rglob("*.json"):
        if old not in wanted:
            old.unlink()
            print(f"removed {old.relative_to(SRC.parent)}")


if __name__ == "__main__":
    main()
