#!/usr/bin/env bash
# broker-instructions.sh [build_dir [route [connections]]]
#
# Instructions the broker runs per connection, counted by callgrind while
# rp-broker-bench drives one route (handoff or reconnect, 1 client). On
# this VM the broker's CPU time per connection moves by +-20% from run to
# run with the host's load; this count moves by a few percent, so it shows
# a change in our own code that timing cannot. It sees user space only:
# system calls and wakeups, most of a handoff's cost, are not in it.
#
# Prints the total per connection and the 25 most expensive functions
# (inclusive, per connection). Counting starts after 3 s of warm-up
# (callgrind_control -z); connections are counted as calls of
# ReadPeerIdentity, made once per accepted connection.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$here/build/linux-release}" && pwd)"
route="${2:-handoff}"
connections="${3:-3000}"
valgrind="$("$here/ci/lib/valgrind.sh")"
tools="$(dirname "$valgrind")"

# rp-broker-bench finds the broker and the echo backend beside its own
# directory: give it a copy of the tree whose broker runs under callgrind.
# The backend is a copy, not a symlink (the broker does not cache stamps
# of symlinked executables, which would add a stat per Hello).
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bench" "$work/broker" "$work/tools"
cp "$build/bench/rp-broker-bench" "$work/bench/"
cp "$build/tools/rp-echo-backend" "$work/tools/"
cat >"$work/broker/running-process-broker-v1" <<EOF
#!/bin/sh
exec "$valgrind" --tool=callgrind --callgrind-out-file="$work/callgrind.%p.out" \\
  "$build/broker/running-process-broker-v1" "\$@"
EOF
chmod +x "$work/broker/running-process-broker-v1"

"$work/bench/rp-broker-bench" "$connections" "$route" 1 >"$work/bench.txt" 2>&1 &
bench=$!
serving=""
for _ in $(seq 200); do
  serving="$(pgrep -f "callgrind.*running-process-broker-v1 --socket" | head -n 1 || true)"
  [[ -n "$serving" ]] && break
  sleep 0.1
done
[[ -n "$serving" ]] || { echo "the broker did not start" >&2; cat "$work/bench.txt" >&2; exit 1; }
sleep 3
"$tools/callgrind_control" -z "$serving" >/dev/null 2>&1
wait "$bench" || { cat "$work/bench.txt" >&2; exit 1; }

out="$work/callgrind.$serving.out"
# In the caller tree each function's block lists its callers ("<", with
# call counts) above its own line ("*"); blocks are separated by blank lines.
calls="$("$tools/callgrind_annotate" --tree=caller --threshold=100 "$out" 2>/dev/null |
  awk '/^$/ { if (mine) found = sum; sum = 0; mine = 0; next }
       / < / && match($0, /\([0-9,]+x\)/) {
         n = substr($0, RSTART + 1, RLENGTH - 3); gsub(",", "", n); sum += n }
       / \*  .*ReadPeerIdentity/ { mine = 1 }
       END { if (mine) found = sum; print found + 0 }')"
total="$(grep -E '^(summary|totals):' "$out" | tail -n 1 | awk '{print $2}')"
[[ -n "$calls" && "$calls" -gt 0 ]] || { echo "no connections counted" >&2; exit 1; }
echo "route $route, 1 client: $calls connections counted, $((total / calls)) instructions each"
echo "most expensive, inclusive, per connection (the event loop's own frames left out):"
"$tools/callgrind_annotate" --inclusive=yes --threshold=100 "$out" 2>/dev/null |
  awk -v n="$calls" -v total="$total" '
    /^ *[0-9,]+ +\( *[0-9.]+%\) +/ {
      count = $1; gsub(",", "", count)
      if (count > 0.9 * total) next
      sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "")
      if (++shown > 25) exit
      printf "%9d  %s\n", count / n, substr($0, 1, 110)
    }'
