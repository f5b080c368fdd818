#!/usr/bin/env bash
# tools/load.sh — load-test Gatehouse's client_credentials and introspection paths.
# Builds Gatehouse, starts it on a fresh SQLite database in a temp dir (loopback
# only), registers an API, a client_credentials client and a resource-server client
# through the CLI, then drives POST /oauth2/token and POST /oauth2/introspect with wrk
# through ../shared/bench/loadrun.sh at 1 and 16 connections, then introspection at a
# fixed 1,000 requests/s with tools/openloop (wrk cannot hold a rate), and prints the
# medians.
# Env: RUNS (default 3), SECS (default 15), PORT (default 18080), BENCH (the kit dir).
# Like hydra-bench.sh, logs at warn (no per-request access log line), and the rate
# limits are raised far above the offered load so they measure their cost, not cap.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$ROOT/../shared/bench}
RUNS=${RUNS:-3} SECS=${SECS:-15} PORT=${PORT:-18080}
WORK=$(mktemp -d /tmp/gatehouse-load.XXXX)
GH="$WORK/gatehouse"
# A static build (no cgo: Gatehouse needs none) maps no C library, ~1.6 MiB less RSS.
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$GH" ./cmd/gatehouse && go build -o "$WORK/openloop" ./tools/openloop)
# The issue's CPU target is stated against one go-jose ES256 JWT signature on this
# machine, whose speed drifts between sittings: time that signature before and after
# the load and report the ratio, not only the milliseconds.
sign_ns() {
  (cd "$ROOT" && go test ./broker/keys -run '^$' -bench 'Sign/ES256-bare-go-jose$' -benchtime 20000x -count 3) |
    awk '/ns\/op/{print $3}'
}
SIGN_NS=$(sign_ns)
export GATEHOUSE_DATABASE_URL="sqlite:$WORK/gatehouse.db"
export GATEHOUSE_MASTER_KEY=$(head -c32 /dev/urandom | base64)
export GATEHOUSE_LISTEN_ADDR="127.0.0.1:$PORT" GATEHOUSE_ISSUER="http://127.0.0.1:$PORT"
export GATEHOUSE_LOG_LEVEL=warn GATEHOUSE_OAUTH_RATE_PER_CLIENT=100000000 GATEHOUSE_OAUTH_RATE_PER_IP=100000000
cd "$WORK"
"$GH" apis create --id bench --audience https://api.bench.test --name Bench --scope api --json > api.json
"$GH" clients create --name bench --grant-type client_credentials --scope api --default-api https://api.bench.test --json > client.json
"$GH" clients create --name bench-rs --grant-type client_credentials --scope api --default-api https://api.bench.test \
  --resource-server-for https://api.bench.test --json > rs.json
"$GH" serve > server.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
basic() { printf '%s:%s' "$(jq -r .id "$1")" "$(jq -r .client_secret "$1")" | base64 -w0; }
CC_AUTH="Basic $(basic client.json)" RS_AUTH="Basic $(basic rs.json)"
echo "--- sample token response"
curl -s -H "Authorization: $CC_AUTH" -d "grant_type=client_credentials&scope=api" "http://127.0.0.1:$PORT/oauth2/token" | tee tok.json; echo
AT=$(jq -r .access_token tok.json)
[ -n "$AT" ] && [ "$AT" != null ] || { echo "token request failed"; cat server.log; exit 1; }
sleep 3
echo "RSS_IDLE_KB=$(awk '/^VmRSS/{print $2}' /proc/$PID/status) (after 1 token)" | tee results.txt
WRK_AUTH="$CC_AUTH" WRK_BODY="grant_type=client_credentials&scope=api" \
  "$BENCH/loadrun.sh" gatehouse-cc "http://127.0.0.1:$PORT/oauth2/token" $PID "$RUNS" 1 10 | tee -a results.txt
WRK_AUTH="$CC_AUTH" WRK_BODY="grant_type=client_credentials&scope=api" \
  "$BENCH/loadrun.sh" gatehouse-cc "http://127.0.0.1:$PORT/oauth2/token" $PID "$RUNS" 16 "$SECS" | tee -a results.txt
WRK_AUTH="$RS_AUTH" WRK_BODY="token=$AT" \
  "$BENCH/loadrun.sh" gatehouse-introspect "http://127.0.0.1:$PORT/oauth2/introspect" $PID "$RUNS" 1 10 | tee -a results.txt
WRK_AUTH="$RS_AUTH" WRK_BODY="token=$AT" \
  "$BENCH/loadrun.sh" gatehouse-introspect "http://127.0.0.1:$PORT/oauth2/introspect" $PID "$RUNS" 16 "$SECS" | tee -a results.txt
# Open loop: requests due every 1 ms whatever the server does, latency counted from
# when each was due; the server's CPU per request as loadrun.sh computes it.
cpu() { sed 's/.*) //' /proc/$PID/stat | awk '{print $12+$13}'; }
"$WORK/openloop" -url "http://127.0.0.1:$PORT/oauth2/introspect" -rate 1000 -duration 5s -warmup 0 \
  -body "token=$AT" -auth "$RS_AUTH" -label warmup >/dev/null
for i in $(seq 1 "$RUNS"); do
  ( while kill -0 $PID 2>/dev/null; do awk '/^VmRSS/{print $2}' /proc/$PID/status; sleep 0.5; done ) > rss.txt &
  SAMPLER=$!
  c0=$(cpu)
  out=$("$WORK/openloop" -url "http://127.0.0.1:$PORT/oauth2/introspect" -rate 1000 -duration "${SECS}s" -warmup 0 \
    -body "token=$AT" -auth "$RS_AUTH" -label "gatehouse-introspect-rate1000-run$i")
  c1=$(cpu)
  kill $SAMPLER; wait $SAMPLER 2>/dev/null || true
  reqs=$(sed 's/.* reqs=\([0-9]*\).*/\1/' <<<"$out")
  echo "$out $(awk -v d=$((c1-c0)) -v t="$(getconf CLK_TCK)" -v r="$reqs" 'BEGIN{printf "srv_cpu_ms_per_req=%.3f", d*1000/t/r}') rss_max_kb=$(sort -n rss.txt | tail -1)" | tee -a results.txt
  sleep 2
done
echo "RSS_END_KB=$(awk '/^VmRSS/{print $2}' /proc/$PID/status)"
echo "server log lines at warn or above: $(wc -l < server.log)"
head -c 2000 server.log # the first of them, if any: a clean run has none
SIGN_NS="$SIGN_NS $(sign_ns)"
python3 "$BENCH/summarize.py" results.txt
# Median CPU per client_credentials request at 16 connections over the median go-jose
# ES256 signature (the target: about 2x).
med() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
cc_ms=$(grep 'label=gatehouse-cc-c16-run' results.txt | sed 's/.*srv_cpu_ms_per_req=\([0-9.]*\).*/\1/' | med)
sig=$(tr ' ' '\n' <<<"$SIGN_NS" | grep . | med)
awk -v c="$cc_ms" -v s="$sig" 'BEGIN{printf "client_credentials CPU/request %.3f ms = %.2f x one go-jose ES256 signature (%.1f us, median of the same sitting)\n", c, c*1e6/s, s/1000}' 
