#!/usr/bin/env bash
# A REAL pip-installed oneCCL, read by tpdoctor (issue #18).
#
# Installs the `oneccl` wheel from PyPI (97 MB download, 506 MB installed: libccl.so,
# libccl.so.1 and libccl.so.1.0 are three copies of a 174 MB library) into a throw-away venv
# under $ROOT, then
#   1. copies the dist-info files the tests' fake roots use (tests/data/oneccl-pip-<ver>/),
#   2. runs tpdoctor's collector on it (`check --root`) and prints what it found,
#   3. runs the real-install test (tests/test_oneccl_install.py::test_real_pip_install).
# Too large for the unit suite, so it runs here once; its output is in bench/README.md.
#
#   bash bench/oneccl_pip_layout.sh [VERSION] [ROOT]      (defaults: 2021.15.1, /tmp/tpdoctor-oneccl-pip)
set -euo pipefail
VERSION="${1:-2021.15.1}"
ROOT="${2:-/tmp/tpdoctor-oneccl-pip}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$ROOT"
[ -x "$ROOT/venv/bin/python" ] || python3 -m venv --without-pip "$ROOT/venv"
pip --python "$ROOT/venv/bin/python" install --quiet --no-deps "oneccl==$VERSION"
SITE="$(echo "$ROOT"/venv/lib/python3*/site-packages)"
mkdir -p "$REPO/tests/data/oneccl-pip-$VERSION"
cp "$SITE/oneccl-$VERSION.dist-info/"{METADATA,RECORD,WHEEL} "$REPO/tests/data/oneccl-pip-$VERSION/"
du -sh "$ROOT/venv/lib"
printf 'PATH=/venv/bin:/usr/bin\n' > "$ROOT/env"
cd "$REPO"
PYTHONPATH=src python3 - "$ROOT" <<'PY'
import sys
from pathlib import Path
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.elf import read_dynamic
f = collect_facts(Path(sys.argv[1]), {"PATH": "/venv/bin:/usr/bin"}, live=False)
for p in f.oneccl.packages:
    print(f"package {p.name} {p.version} in {p.prefix} ({p.metadata})")
for lib in f.oneccl.libraries:
    with open(Path(sys.argv[1]) / lib.path.lstrip("/"), "rb") as fh:
        soname = read_dynamic(fh).soname
    print(f"library {lib.path} kind={lib.kind} version={lib.version} soname={soname} ({lib.version_source})")
PY
TPDOCTOR_REAL_ONECCL_ROOT="$ROOT" python3 -m pytest -q tests/test_oneccl_install.py -k real_pip_install
