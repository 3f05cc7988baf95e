#!/usr/bin/env bash
# Leg linux-clang-sanitizers: clang with AddressSanitizer (+LeakSanitizer)
# and UndefinedBehaviorSanitizer, every test natively.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
rp_apt_install "${RP_BASE_PACKAGES[@]}" clang libclang-rt-14-dev
build="$RP_ROOT/build/ci-linux-clang-san"
# shellcheck disable=SC2046
cmake -S "$RP_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DRP_SANITIZE=address,undefined \
  -DRP_BUILD_BENCH=OFF $(rp_ccache_args) >/dev/null
cmake --build "$build" -j"$(nproc)"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
rp_ctest "$build"
