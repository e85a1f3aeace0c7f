#!/usr/bin/env bash
# Build what the real-oneCCL tests run, into a cache directory outside the repository:
#   - Debian's Level Zero loader (apt: libze1) and the Level Zero null driver, built from Debian's
#     own `level-zero` source package (apt-get source, with a private deb-src list: the machine's
#     apt sources are not touched);
#   - per oneCCL version: `pip install oneccl-devel==V oneccl==V` into a venv, and repro.cpp
#     compiled with g++ against that version's headers;
#   - zeshim.c and pidfd_probe.c (version independent).
# Recipe and measurements: ../shared/research/oneccl-real/README.md. Never writes into the repo.
#
# Usage: tests/oneccl_real/build.sh [VERSION...]   (default: the versions in versions.txt)
# Env:   TPDOCTOR_ONECCL_CACHE (default /var/tmp/tpdoctor-oneccl-real)
# Result per version: $CACHE/v/$V/STATUS, one line: "ok", "unbuildable: <why>" or "unrunnable:
# <why>" (built, but SYCL cannot even list the null driver's GPU on this machine) (exit 0 either
# way: a version the recipe cannot build is a finding, reported by the tests). Exit 1 only when
# the shared parts (apt, null driver, shim) cannot be built.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${TPDOCTOR_ONECCL_CACHE:-/var/tmp/tpdoctor-oneccl-real}
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"; flock 9          # one build at a time (pytest sessions, CI steps)
T0=$SECONDS; t() { echo "[oneccl-real +$((SECONDS - T0))s] $*"; }
if [ $# -gt 0 ]; then VERSIONS=("$@"); else mapfile -t VERSIONS < <(grep -Ev '^\s*(#|$)' "$HERE/versions.txt" | awk '{print $1}'); fi

# ---------------------------------------------------------------- 1. apt: loader, compilers
need=()
for p in libze1 g++ cmake make python3-venv; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  t "apt-get install ${need[*]}"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---------------------------------------------------------------- 2. null driver from Debian source
LZ=$CACHE/lz
if [ ! -e "$LZ/lib/libze_null.so.1" ]; then
  t "Level Zero null driver from Debian's level-zero source package"
  src=$CACHE/apt-src; rm -rf "$src" "$LZ"; mkdir -p "$src/lists/partial" "$src/dl"
  # deb-src twins of the machine's deb entries (same mirror, same suites), in a private list dir
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -n '/^Types: deb$/,/^$/p' /etc/apt/sources.list.d/debian.sources | sed 's/^Types: deb$/Types: deb-src/' >"$src/src.sources"
  else
    grep -h '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' >"$src/src.list"
  fi
  opts=(-o "Dir::Etc::SourceParts=$src" -o "Dir::Etc::SourceList=/dev/null" -o "Dir::State::Lists=$src/lists")
  apt-get "${opts[@]}" update -qq
  (cd "$src/dl" && apt-get "${opts[@]}" source --download-only -qq level-zero >/dev/null)
  mkdir -p "$LZ/src"; tar xzf "$src"/dl/level-zero_*.orig.tar.gz -C "$LZ/src" --strip-components=1
  basename "$src"/dl/level-zero_*.dsc >"$LZ/SOURCE"
  cmake -S "$LZ/src" -B "$LZ/build" -DCMAKE_BUILD_TYPE=Release >"$LZ/cmake.log" 2>&1
  make -C "$LZ/build" -j"$(nproc)" ze_null >"$LZ/make.log" 2>&1
  mkdir -p "$LZ/lib"; cp -a "$LZ"/build/lib/libze_null.so* "$LZ/lib/"
  rm -rf "$LZ/build" "$LZ/src"            # keep only the driver
fi

# ---------------------------------------------------------------- 3. shim + probe (version independent)
COMMON=$CACHE/common; mkdir -p "$COMMON"
if [ ! -e "$COMMON/libzeshim.so" ] || [ "$HERE/zeshim.c" -nt "$COMMON/libzeshim.so" ]; then
  gcc -shared -fPIC -o "$COMMON/libzeshim.so" "$HERE/zeshim.c" -Wl,--no-as-needed -l:libze_loader.so.1
fi
if [ ! -e "$COMMON/pidfd_probe" ] || [ "$HERE/pidfd_probe.c" -nt "$COMMON/pidfd_probe" ]; then
  gcc -O2 -o "$COMMON/pidfd_probe" "$HERE/pidfd_probe.c"
fi

# ---------------------------------------------------------------- 4. per version: wheels + program
pins() {  # the pip requirements of a version: versions.txt's extra pins after the version
  grep -E "^$1(\s|$)" "$HERE/versions.txt" | head -1 | cut -s -d' ' -f2- || true
}
install_version() {
  local v=$1 d=$CACHE/v/$1
  local venv=$d/venv
  if [ ! -e "$venv/lib/libccl.so" ]; then
    rm -rf "$d"; mkdir -p "$d"
    python3 -m venv "$venv"
    # shellcheck disable=SC2046
    local reqs=("oneccl-devel==$v")
    # the runtime is its own package from 2021.14 on; pin it with the headers
    [ "$(printf '%s\n' 2021.14 "$v" | sort -V | head -1)" = 2021.14 ] && reqs+=("oneccl==$v")
    if ! "$venv/bin/pip" install -q --no-warn-script-location "${reqs[@]}" $(pins "$v") \
        >"$d/pip.log" 2>&1; then
      local why; why=$(grep -m1 -E '^ERROR: (Could not find|No matching|ResolutionImpossible|Cannot install)' "$d/pip.log" || tail -1 "$d/pip.log")
      rm -rf "$venv"
      echo "unbuildable: pip cannot install oneccl-devel==$v from this index: $why" >"$d/STATUS"
      return
    fi
  fi
  [ -e "$d/STATUS" ] && [ -x "$d/bin/repro" ] && [ "$d/bin/repro" -nt "$HERE/repro.cpp" ] \
    && [ "$d/STATUS" -nt "$HERE/build.sh" ] && return
  if [ ! -e "$venv/include/sycl/sycl.hpp" ]; then
    echo "unbuildable: no SYCL headers in the venv (its intel-sycl-rt ships none before 2025.0)" >"$d/STATUS"
    return
  fi
  mkdir -p "$d/bin"
  # host-only SYCL with g++: CCL_ENABLE_SYCL is keyed on SYCL_LANGUAGE_VERSION + __INTEL_LLVM_COMPILER
  if ! g++ -std=c++17 -O1 -w -DSYCL_LANGUAGE_VERSION=202001 -D__INTEL_LLVM_COMPILER=20250000 \
      '-D__SYCL2020_DEPRECATED(x)=' '-D__SYCL_DEPRECATED(x)=' -o "$d/bin/repro" "$HERE/repro.cpp" \
      -I"$venv/include" -I"$venv/include/sycl" -L"$venv/lib" -lccl -lsycl -Wl,-rpath,"$venv/lib" \
      >"$d/gcc.log" 2>&1; then
    echo "unbuildable: g++ cannot compile the test program against its headers: $(grep -m1 'error' "$d/gcc.log")" >"$d/STATUS"
    return
  fi
  # smoke test on this machine: SYCL must find the null driver's GPU (no container, no communicator)
  local smoke rc
  smoke=$(ONECCL_VENV=$venv ONECCL_LZ=$LZ/lib ONECCL_COMMON=$COMMON timeout 120 sh "$HERE/ccl-env.sh" \
    "$d/bin/repro" --devices 2>&1) && rc=0 || rc=$?
  if [ $rc -ne 0 ]; then
    local sycl; sycl=$(grep -m1 -o 'intel-sycl-rt [^ ]*' <("$venv/bin/pip" list 2>/dev/null | sed 's/  */ /') || true)
    if [ $rc -eq 139 ] || [ $rc -eq 134 ]; then
      echo "unrunnable: SYCL device discovery crashes (exit $rc) on Debian 12's Level Zero loader 1.8.12 + null driver: ${sycl:-its intel-sycl-rt}'s UR Level Zero adapter needs a newer loader (SIGSEGV in zelLoaderTranslateHandleInternal, seen with gdb)" >"$d/STATUS"
    else
      echo "unrunnable: SYCL device discovery failed (exit $rc): $(echo "$smoke" | tail -1)" >"$d/STATUS"
    fi
    return
  fi
  echo ok >"$d/STATUS"
}
t "oneCCL versions: ${VERSIONS[*]}"
# pip installs are network/unpack bound: the versions run side by side
pids=()
for v in "${VERSIONS[@]}"; do
  ( install_version "$v" ) & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done   # each writes its STATUS
for v in "${VERSIONS[@]}"; do t "oneCCL $v: $(cat "$CACHE/v/$v/STATUS")"; done
chmod -R a+rX "$CACHE"
t "done"
