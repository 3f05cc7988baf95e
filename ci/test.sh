#!/usr/bin/env bash
# The whole test suite: every CI leg in turn (2 cores: nothing is gained by
# running them in parallel). Prints each leg's time, and at the end the
# summed results (GoogleTest XML, and the interop leg's JUnit XML) as
# "N passed, N failed". Fails if any leg fails.
#   ci/test.sh                 all legs
#   ci/test.sh linux-gcc ...   only the named legs
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
legs=("$@")
((${#legs[@]})) || legs=(linux-gcc linux-clang-sanitizers windows-mingw-wine interop)

declare -A status seconds
for leg in "${legs[@]}"; do
  echo "=== leg $leg"
  start=$(date +%s)
  if bash "$root/ci/$leg.sh"; then status[$leg]=ok; else status[$leg]=FAILED; fi
  seconds[$leg]=$(($(date +%s) - start))
  echo "=== leg $leg: ${status[$leg]} in ${seconds[$leg]} s"
done

echo
echo "=== summary"
failed_legs=0
for leg in "${legs[@]}"; do
  printf '%-26s %-7s %5d s\n' "$leg" "${status[$leg]}" "${seconds[$leg]}"
  [[ ${status[$leg]} == ok ]] || failed_legs=$((failed_legs + 1))
done
python3 "$root/ci/lib/sum_gtest_xml.py" "$root"/build/ci-*/test-results
exit $((failed_legs > 0))
