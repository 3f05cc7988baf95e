#!/usr/bin/env bash
# Leg linux-gcc: Release build with gcc, every test natively.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
rp_apt_install "${RP_BASE_PACKAGES[@]}"
build="$RP_ROOT/build/ci-linux-gcc"
# shellcheck disable=SC2046
cmake -S "$RP_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ $(rp_ccache_args) >/dev/null
cmake --build "$build" -j"$(nproc)"
rp_ctest "$build"
