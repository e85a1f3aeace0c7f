#!/bin/bash
# Build .gpu-deps/py3XX (tpdoctor's runtime dependencies, binary wheels) for the GPU host, which
# cannot reach a package index. Run here, then carry ".gpu-deps" with the device run.
set -eu
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# one Python version is ~28 MB; the carry limit is 64 MiB, so build only the GPU host's version.
# WITH_EXPLAIN=1 adds explain's fast path (hyperscan, PyYAML: ~37 MB in all) for bench/gpu/explain_bench_quiet.sh;
# leave it out when .gpu-ray (~31 MB) travels too.
for v in ${PY_VERSIONS:-3.12}; do
  dest="$REPO/.gpu-deps/py${v/./}"
  rm -rf "$dest"
  python3 -m pip install --quiet --target "$dest" --only-binary=:all: --python-version "$v" \
    --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    "pydantic>=2.6" "ruamel.yaml>=0.18" "typer>=0.12" "rich>=13" "pyahocorasick>=2.0" ${WITH_EXPLAIN:+"PyYAML>=6" "hyperscan>=0.7"}
done
du -sh "$REPO/.gpu-deps"
