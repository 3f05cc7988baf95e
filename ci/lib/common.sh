# Shared helpers for the CI leg scripts. Source it; do not run it.
# Every leg installs what it needs itself, so a fresh Debian/Ubuntu machine
# only needs git and this clone.

RP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RP_CACHE_DIR="${RP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rp-winleg}"
export RP_CACHE_DIR

rp_log() { echo "[$(basename "$0")] $*" >&2; }

# The packages every leg builds against (Debian bookworm names).
RP_BASE_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libboost1.81-dev libprotobuf-dev protobuf-compiler libspdlog-dev libfmt-dev
  libssl-dev zlib1g-dev librust-blake3-dev googletest libgtest-dev
  python3 python3-prometheus-client
)

# Installs the given Debian packages when any is missing. `apt-get update`
# runs first, as a fresh machine's package lists may be empty or old.
rp_apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    rp_log "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

# ccache outside the clone, keyed to survive fresh clones of the project.
rp_ccache_args() {
  if command -v ccache >/dev/null; then
    export CCACHE_DIR="$RP_CACHE_DIR/ccache" CCACHE_BASEDIR="$RP_ROOT" CCACHE_NOHASHDIR=1
    mkdir -p "$CCACHE_DIR"
    echo "-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
  fi
}

# Runs ctest in `build_dir` with gtest XML results in build_dir/test-results
# (ci/test.sh sums them up).
# Under Wine (RP_UNDER_WINE=1) the test programs need that path in Windows
# form.
rp_ctest() {
  local build_dir="$1"
  shift
  rm -rf "$build_dir/test-results"
  mkdir -p "$build_dir/test-results"
  local results="$build_dir/test-results/"
  if [[ "${RP_UNDER_WINE:-0}" == 1 ]]; then
    results="$(winepath -w "$build_dir/test-results")\\"
  fi
  GTEST_OUTPUT="xml:$results" ctest --test-dir "$build_dir" \
    --output-on-failure --timeout 600 "$@"
}
