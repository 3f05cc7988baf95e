#!/usr/bin/env bash
# Leg interop: the published Rust running-process crate (the reference
# implementation; exact version pinned in tests/interop/Cargo.toml and
# Cargo.lock) against our Release binaries: its v1 client against our
# broker, our client against its broker (built from the crate with the
# `daemon` feature), and endpoint naming on both sides. The cases are in
# tests/interop/src/; their JUnit XML goes to build/ci-interop/test-results/
# for ci/test.sh's summary.
#
# Rust: needs rustc >= 1.95 (the crate's rust-version). The toolchain on
# PATH (rustup's, ~/.cargo/bin) is used when new enough; otherwise Debian
# bookworm's rustc-web/cargo-web (1.96, from bookworm-security) are
# installed. Debian's plain rustc/cargo (1.63) are too old.
# Cargo's registry and build output live outside the clone, in
# ~/.cache/rp-interop/ (RP_INTEROP_CACHE), the build output keyed by the
# compiler, so a toolchain change rebuilds from scratch.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
rp_apt_install "${RP_BASE_PACKAGES[@]}"

# Both brokers refuse to run as root without this (CI runs as root).
export RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED=1

rp_rust_new_enough() {
  local version
  version="$("$1" --version 2>/dev/null | awk '{print $2}')" || return 1
  [[ -n "$version" ]] && [[ "$(printf '%s\n%s\n' 1.95.0 "$version" | sort -V | head -1)" == 1.95.0 ]]
}

# Sets `cargo` and exports RUSTC to a toolchain that can build the crate.
rp_rust_toolchain() {
  if [[ -d "$HOME/.cargo/bin" ]]; then PATH="$HOME/.cargo/bin:$PATH"; fi
  if command -v cargo >/dev/null && command -v rustc >/dev/null && rp_rust_new_enough rustc; then
    cargo="$(command -v cargo)"
    RUSTC="$(command -v rustc)"
  else
    rp_log "no rustc >= 1.95 on PATH: installing Debian's rustc-web and cargo-web"
    rp_apt_install rustc-web cargo-web
    cargo=/usr/bin/cargo
    RUSTC=/usr/bin/rustc
    rp_rust_new_enough "$RUSTC" || {
      rp_log "rustc-web is $("$RUSTC" --version); the crate needs >= 1.95"
      return 1
    }
  fi
  export RUSTC
}

seconds() { echo $(($(date +%s) - $1)); }

# 1. Our Release binaries: the linux-gcc leg's build when there is one.
# RP_INTEROP_CPP_BUILD=DIR uses an existing build directory as it is.
start=$(date +%s)
build="$RP_ROOT/build/ci-linux-gcc"
if [[ -n "${RP_INTEROP_CPP_BUILD:-}" ]]; then
  build="$(cd "$RP_INTEROP_CPP_BUILD" && pwd)"
  rp_log "C++: using $build as it is"
elif [[ -f "$build/CMakeCache.txt" ]]; then
  rp_log "C++: reusing $build"
else
  build="$RP_ROOT/build/linux-release"
  # shellcheck disable=SC2046
  (cd "$RP_ROOT" && cmake --preset linux-release $(rp_ccache_args) >/dev/null)
fi
if [[ -z "${RP_INTEROP_CPP_BUILD:-}" ]]; then
  cmake --build "$build" -j"$(nproc)" --target running-process-broker-v1 rp-echo-backend rp-connect
fi
rp_log "C++ binaries ready in $(seconds "$start") s"

# 2. The Rust side: the runner, its echo backend, and the crate's own broker.
start=$(date +%s)
rp_rust_toolchain
cache="${RP_INTEROP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rp-interop}"
export CARGO_HOME="$cache/cargo-home"
key="$("$RUSTC" -vV | sha256sum | cut -c1-16)"
export CARGO_TARGET_DIR="$cache/target-$key"
rp_log "Rust: $("$RUSTC" --version), target dir $CARGO_TARGET_DIR"
"$cargo" build --locked --manifest-path "$RP_ROOT/tests/interop/Cargo.toml" \
  -p rp-interop -p running-process \
  --bin rp-interop --bin rp-interop-echo-backend --bin running-process-broker-v1
rp_log "Rust binaries ready in $(seconds "$start") s"

# 3. Run the cases.
start=$(date +%s)
results="$RP_ROOT/build/ci-interop/test-results"
rm -rf "$results"
mkdir -p "$results"
status=0
"$CARGO_TARGET_DIR/debug/rp-interop" --cpp-build "$build" --rust-bin "$CARGO_TARGET_DIR/debug" \
  --junit "$results/interop.xml" || status=$?
rp_log "cases ran in $(seconds "$start") s"
exit "$status"
