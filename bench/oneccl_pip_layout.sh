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
# torch's XPU wheel is not on PyPI (download.pytorch.org only), so its two relevant parts are
# stood in: the METADATA pin line as torch 2.8's PYTORCH_EXTRA_INSTALL_REQUIREMENTS["xpu"] writes
# it, and a libtorch_xpu.so built here with DT_NEEDED libccl.so.1 and torch's DT_RPATH
# ($ORIGIN/../../../..:$ORIGIN, pytorch .ci/manywheel/build_xpu.sh).
mkdir -p "$SITE/torch-2.8.0+xpu.dist-info" "$SITE/torch/lib"
printf 'Metadata-Version: 2.1\nName: torch\nVersion: 2.8.0+xpu\nRequires-Dist: oneccl==%s; platform_system == "Linux" and platform_machine == "x86_64"\n' "$VERSION" \
  > "$SITE/torch-2.8.0+xpu.dist-info/METADATA"
echo 'int tpdoctor_stub(void) { return 0; }' > "$ROOT/stub.c"
cc -shared -fPIC -o "$SITE/torch/lib/libtorch_xpu.so" "$ROOT/stub.c" -Wl,-soname,libtorch_xpu.so \
  -Wl,--no-as-needed -L"$ROOT/venv/lib" -l:libccl.so.1 -Wl,--allow-shlib-undefined \
  -Wl,--disable-new-dtags,-rpath,'$ORIGIN/../../../..:$ORIGIN'
readelf -d "$SITE/torch/lib/libtorch_xpu.so" | grep -E 'NEEDED.*ccl|RPATH'

printf 'PATH=/venv/bin:/usr/bin\n' > "$ROOT/env"
cd "$REPO"
PYTHONPATH=src python3 - "$ROOT" <<'PY'
import sys
from pathlib import Path
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.elf import read_dynamic
from tpdoctor.model import CheckOptions
from tpdoctor.oneccl.loader import loaded_ccl
from tpdoctor.oneccl.model import predict_mode
env = {"PATH": "/venv/bin:/usr/bin", "LD_LIBRARY_PATH": "/opt/intel/oneapi/ccl/2021.13/lib"}
f = collect_facts(Path(sys.argv[1]), env, live=False)
for p in f.oneccl.packages:
    print(f"package {p.name} {p.version} in {p.prefix} ({p.metadata})")
for lib in f.oneccl.libraries:
    with open(Path(sys.argv[1]) / lib.path.lstrip("/"), "rb") as fh:
        soname = read_dynamic(fh).soname
    print(f"library {lib.path} kind={lib.kind} version={lib.version} soname={soname} ({lib.version_source})")
loaded = loaded_ccl(f)
print(f"loaded: {loaded.library.path if loaded and loaded.library else None}: {loaded.why if loaded else ''}")
m = predict_mode(f, CheckOptions(tp=2, backend="xpu"))
print(f"mode: oneCCL {m.version.label}: requested {m.requested}, predicted {m.mode}")
PY
TPDOCTOR_REAL_ONECCL_ROOT="$ROOT" python3 -m pytest -q tests/test_oneccl_install.py -k real_pip_install
