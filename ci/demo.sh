#!/usr/bin/env bash
# The README's first command: installs the build dependencies, builds, and
# runs the broker demo (demo/broker_demo.sh). `ci/demo.sh transfer` runs the
# lower-level demo instead: a live connection handed from one process to
# another.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
rp_apt_install "${RP_BASE_PACKAGES[@]}"
build="$RP_ROOT/build/demo"
# shellcheck disable=SC2046
cmake -S "$RP_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRP_BUILD_TESTS=OFF \
  $(rp_ccache_args) >/dev/null
if [[ "${1:-}" == transfer ]]; then
  cmake --build "$build" -j"$(nproc)" --target rp-transfer-demo
  exec "$build/demo/rp-transfer-demo"
fi
cmake --build "$build" -j"$(nproc)" --target running-process-broker-v1 rp-echo-backend rp-connect
exec "$RP_ROOT/demo/broker_demo.sh" "$build"
