#!/usr/bin/env bash
# Prints the path of a valgrind that can run the broker: 3.20 or newer
# (older ones do not know pidfd_open, and the broker under them answers
# every Hello with EOF). Debian bookworm ships 3.19, so this builds 3.24
# from Debian trixie's source package into a cache directory outside the
# clone, keyed by version, fetching with a private APT source list (the
# system's lists are not touched). Deleting the cache is always safe.
set -euo pipefail

VALGRIND_VERSION=3.24.0
cache_root="${RP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rp-tools}"
prefix="$cache_root/valgrind-$VALGRIND_VERSION"

log() { echo "[valgrind] $*" >&2; }

usable() {
  local version
  version="$("$1" --version 2>/dev/null | sed -n 's/^valgrind-\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')"
  [[ -n "$version" ]] && read -r major minor <<<"$version" &&
    ((major > 3 || (major == 3 && minor >= 20)))
}

if command -v valgrind >/dev/null && usable "$(command -v valgrind)"; then
  command -v valgrind
  exit 0
fi
if [[ -f "$prefix/.complete" ]]; then
  echo "$prefix/bin/valgrind"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/parts"
cat >"$work/trixie-src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_private=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/parts"
             -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
cp "$work/trixie-src.sources" "$work/parts/"
log "fetching the valgrind $VALGRIND_VERSION source package (Debian trixie)"
apt-get "${apt_private[@]}" update -qq >&2
(cd "$work" && apt-get "${apt_private[@]}" source --download-only -qq valgrind >&2)
tar -xf "$(ls "$work"/valgrind_"$VALGRIND_VERSION"*.orig.tar.* | head -n 1)" -C "$work"

log "building (about 5 minutes on 2 cores)"
rm -rf "$prefix"
(cd "$work/valgrind-$VALGRIND_VERSION" && ./configure --prefix="$prefix" >&2 &&
 make -j"$(nproc)" >&2 && make install >&2)
touch "$prefix/.complete"
echo "$prefix/bin/valgrind"
