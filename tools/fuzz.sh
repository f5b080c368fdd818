#!/usr/bin/env bash
# tools/fuzz.sh — run every Go fuzz target (func Fuzz… in a _test.go file) in turn,
# each for FUZZTIME, and print per target the executions, the new interesting
# inputs and whether it failed. A failure leaves its input in the package's
# testdata/fuzz/<Target>/, where `go test` replays it from then on as a regression
# test: fix the code, keep the file. Exits non-zero if any target failed.
# Env: FUZZTIME (default 10m; a duration or Nx), FUZZ (regexp of target names,
# default all), FUZZPARALLEL (workers per target, default: go test's, GOMAXPROCS),
# FUZZMINIMIZETIME (default 10s): how long a new interesting input is minimised
# before fuzzing goes on. go test's default, 60s, is spent before any execution is
# reported, and on a slow target or a busy machine it took all of a short run.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
FUZZTIME=${FUZZTIME:-10m} FUZZ=${FUZZ:-.} FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-10s}
PARALLEL=()
[ -n "${FUZZPARALLEL:-}" ] && PARALLEL=(-parallel "$FUZZPARALLEL")
LOGS=$(mktemp -d /tmp/gatehouse-fuzz.XXXX)
# "./pkg/dir FuzzName" for every target, in a stable order.
targets=$(git grep -n -P '^func Fuzz\w+\(f \*testing\.F\)' -- '*_test.go' |
  sed -E 's#^(.*)/[^/]+_test\.go:[0-9]+:func (Fuzz[A-Za-z0-9_]+)\(.*#./\1 \2#; s#^[^/]+_test\.go:[0-9]+:func (Fuzz[A-Za-z0-9_]+)\(.*#. \1#' |
  grep -E " ($FUZZ)" | sort -u)
[ -n "$targets" ] || { echo "no fuzz target matches FUZZ=$FUZZ"; exit 1; }
failed=0
summary=()
while read -r pkg name; do
  log="$LOGS/$name.log"
  echo "== $name ($pkg) for $FUZZTIME"
  go test -tags demo "$pkg" -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "${PARALLEL[@]}" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  interesting=$(grep -o 'new interesting: [0-9]*' "$log" | tail -1 | awk '{print $3}')
  result=ok
  if [ $rc -ne 0 ]; then
    failed=1
    crasher=$(grep -o 'testdata/fuzz/[^ ]*' "$log" | head -1)
    result="FAIL ${crasher:+($pkg/$crasher)} see $log"
    tail -30 "$log"
  fi
  summary+=("$(printf '%-26s %-22s %12s %6s  %s' "$name" "$pkg" "${execs:-0}" "${interesting:-0}" "$result")")
done <<<"$targets"
echo
printf '%-26s %-22s %12s %6s  %s\n' TARGET PACKAGE EXECUTIONS NEW RESULT
printf '%s\n' "${summary[@]}"
echo "logs: $LOGS"
exit $failed
