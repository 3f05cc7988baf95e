#!/usr/bin/env bash
# The broker demo: a broker on a temporary endpoint and state directory, the
# echo service installed, rp-connect sending a line through it (printing the
# echo and the route), the broker's status, then a clean stop.
#   demo/broker_demo.sh BUILD_DIR
set -euo pipefail
build="$(cd "${1:?usage: broker_demo.sh BUILD_DIR}" && pwd)"
broker="$build/broker/running-process-broker-v1"
demo="$(mktemp -d /tmp/rp-demo.XXXXXX)"  # mode 0700
trap 'rm -rf "$demo"' EXIT
if [[ $(id -u) -eq 0 ]]; then
  echo "(running as root: the broker refuses that unless RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED=1)"
  export RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED=1
fi
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$broker" servicedef install --service echo --binary-path "$build/tools/rp-echo-backend" \
  --isolation shared --service-def-dir "$demo/services"
echo
echo "\$ $broker --socket $demo/broker.sock serve --service-def-dir $demo/services --state-dir $demo/state --manifest-dir $demo/manifests &"
"$broker" --socket "$demo/broker.sock" serve --service-def-dir "$demo/services" \
  --state-dir "$demo/state" --manifest-dir "$demo/manifests" 2>"$demo/broker.log" &
broker_pid=$!
for _ in $(seq 200); do
  "$broker" --socket "$demo/broker.sock" healthz >/dev/null 2>&1 && break
  sleep 0.05
done
step "$broker" --socket "$demo/broker.sock" healthz
echo
echo "\$ echo 'hello through the broker' | rp-connect -v --socket $demo/broker.sock echo 1.0.0"
echo 'hello through the broker' | "$build/tools/rp-connect" -v --socket "$demo/broker.sock" echo 1.0.0
echo
echo "\$ echo 'and again' | rp-connect -v --socket $demo/broker.sock echo 1.0.0"
echo 'and again' | "$build/tools/rp-connect" -v --socket "$demo/broker.sock" echo 1.0.0
step "$broker" --socket "$demo/broker.sock" status
echo
echo "\$ kill -TERM $broker_pid   # stops the broker and its backends"
kill -TERM "$broker_pid"
wait "$broker_pid"
echo "broker exited with $?"
echo
echo "--- broker log"
cat "$demo/broker.log"
echo "--- echo backend log"
cat "$demo"/state/logs/*.log
