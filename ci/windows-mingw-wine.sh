#!/usr/bin/env bash
# Leg windows-mingw-wine: mingw-w64 cross build, every test under Wine (real
# named pipes, real DuplicateHandle between real processes).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
rp_apt_install "${RP_BASE_PACKAGES[@]}" g++-mingw-w64-x86-64-posix wine wine64 dpkg-dev \
  libz-mingw-w64-dev
protobuf_prefix="$("$RP_ROOT/ci/lib/mingw-protobuf.sh")"
build="$RP_ROOT/build/ci-windows-mingw"
# -O1: about a third cheaper to compile than -O3 for the heavy TUs.
# shellcheck disable=SC2046
cmake -S "$RP_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE=-O1 -DCMAKE_C_FLAGS_RELEASE=-O1 \
  -DCMAKE_TOOLCHAIN_FILE="$RP_ROOT/cmake/mingw-w64-x86_64.cmake" \
  -DRP_PROTOBUF_PREFIX="$protobuf_prefix" $(rp_ccache_args) >/dev/null
cmake --build "$build" -j"$(nproc)"

# One persistent wineserver for the whole run: without it every test process
# pays ~1 s, and wine's services inherit ctest's pipe and make it hang
# (shared/windows-leg-notes.md, W1).
export WINEPREFIX="$build/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$WINEPREFIX"
wineserver -k 2>/dev/null || true
wineserver -p
trap 'wineserver -k 2>/dev/null || true' EXIT
wineboot -i </dev/null >/dev/null 2>&1
RP_UNDER_WINE=1 rp_ctest "$build"
