#!/usr/bin/env bash
# Builds protobuf-lite for x86_64-w64-mingw32 from Debian's protobuf source
# package and installs it into a cache directory outside the clone, keyed by
# the protobuf version and the mingw compiler version. Prints the install
# prefix on stdout. Rebuilds whenever the cached prefix is missing or
# incomplete, so deleting the cache is always safe.
set -euo pipefail

PROTOBUF_VERSION=3.21.12
cache_root="${RP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rp-winleg}"
mingw_gcc_version="$(x86_64-w64-mingw32-g++-posix -dumpfullversion)"
prefix="$cache_root/protobuf-lite-$PROTOBUF_VERSION-mingw-gcc$mingw_gcc_version"

if [[ -f "$prefix/.complete" ]]; then
  echo "$prefix"
  exit 0
fi

log() { echo "[mingw-protobuf] $*" >&2; }

# Source packages need a deb-src entry; add one that mirrors the deb entries.
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  log "adding deb-src entries"
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      > /etc/apt/sources.list.d/rp-deb-src.sources
  else
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > /etc/apt/sources.list.d/rp-deb-src.list
  fi
  apt-get update -qq >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log "fetching protobuf source package"
(cd "$work" && apt-get source --download-only -qq "protobuf=$PROTOBUF_VERSION*" >&2 ||
               apt-get source --download-only -qq protobuf >&2)
tarball="$(ls "$work"/protobuf_"$PROTOBUF_VERSION"*.orig.tar.* | head -n 1)"
tar -xf "$tarball" -C "$work"
src="$(find "$work" -maxdepth 1 -type d -name "protobuf-$PROTOBUF_VERSION*" | head -n 1)"

toolchain="$(cd "$(dirname "$0")/../.." && pwd)/cmake/mingw-w64-x86_64.cmake"
log "building libprotobuf-lite with $mingw_gcc_version (this takes about a minute)"
rm -rf "$prefix"
cmake -S "$src" -B "$work/build" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CROSSCOMPILING_EMULATOR= \
  -Dprotobuf_BUILD_TESTS=OFF -Dprotobuf_BUILD_PROTOC_BINARIES=OFF \
  -Dprotobuf_WITH_ZLIB=OFF -Dprotobuf_BUILD_SHARED_LIBS=OFF \
  -DCMAKE_INSTALL_PREFIX="$prefix" >&2
cmake --build "$work/build" --target libprotobuf-lite >&2
cmake --install "$work/build" --component libprotobuf-lite >&2
cmake --install "$work/build" --component protobuf-headers >&2
touch "$prefix/.complete"
echo "$prefix"
