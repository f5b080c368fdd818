#!/usr/bin/env bash
# tools/load-exchange.sh — load-test token exchange (RFC 8693) of an upstream OIDC ID token.
# Builds Gatehouse and ../shared/bench/mockissuer (an upstream issuer minting RS256 ID
# tokens), starts both on loopback with a fresh SQLite database in a temp dir, registers
# through the CLI an OIDC provider for the issuer (exchange on, audience "bench-app",
# one-time use off so one token can be replayed by the load, users created on first
# exchange), an API and a confidential client with client_credentials and token
# exchange; exchanges one ID token once (creating its user), then drives that same
# exchange with wrk through ../shared/bench/loadrun.sh at 1 and 16 connections. It
# times the bare crypto of an exchange (one go-jose RS256 verification + one ES256
# signature, BenchmarkExchangeCrypto in broker/keys) before and after the load, and
# prints the server's CPU ms per exchange, its ratio to that crypto, req/s, and both
# against Dex v2.45.1's figures in ../shared/bench/README.md.
# Env: RUNS (default 3), SECS (default 15), PORT (default 18080; the issuer gets PORT+1),
# BENCH (the kit dir), SETUP_ONLY=1 (stop after the first exchange: no load).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$ROOT/../shared/bench}
RUNS=${RUNS:-3} SECS=${SECS:-15} PORT=${PORT:-18080}
MOCK_PORT=$((PORT + 1))
# Dex v2.45.1, token exchange with memory storage (../shared/bench/README.md).
DEX_CPU_MS=0.96 DEX_RPS_C16=2017
WORK=$(mktemp -d /tmp/gatehouse-load-exchange.XXXX)
GH="$WORK/gatehouse"
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$GH" ./cmd/gatehouse)
(cd "$BENCH/mockissuer" && CGO_ENABLED=0 go build -trimpath -o "$WORK/mockissuer" .)
crypto_ns() {
  (cd "$ROOT" && go test ./broker/keys -run '^$' -bench 'ExchangeCrypto/' -benchtime 5000x -count 3) |
    awk '/ns\/op/{print $3}'
}
[ -n "${SETUP_ONLY:-}" ] || CRYPTO_NS=$(crypto_ns)

"$WORK/mockissuer" -addr "127.0.0.1:$MOCK_PORT" > "$WORK/mockissuer.log" 2>&1 &
MOCK_PID=$!
PID=
cleanup() {
  [ -z "$PID" ] || { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ISSUER="http://127.0.0.1:$MOCK_PORT"
for _ in $(seq 1 100); do curl -fs "$ISSUER/.well-known/openid-configuration" >/dev/null && break; sleep 0.1; done

export GATEHOUSE_DATABASE_URL="sqlite:$WORK/gatehouse.db"
export GATEHOUSE_MASTER_KEY=$(head -c32 /dev/urandom | base64)
export GATEHOUSE_LISTEN_ADDR="127.0.0.1:$PORT" GATEHOUSE_ISSUER="http://127.0.0.1:$PORT"
# The mock issuer is on loopback over http: an IdP address Gatehouse refuses unless allowed.
export GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8
# As load.sh: log at warn, rate limits far above the offered load.
export GATEHOUSE_LOG_LEVEL=warn GATEHOUSE_OAUTH_RATE_PER_CLIENT=100000000 GATEHOUSE_OAUTH_RATE_PER_IP=100000000
cd "$WORK"
TX=urn:ietf:params:oauth:grant-type:token-exchange
echo "mock-issuer-client-secret-unused" > upstream-secret
"$GH" providers add-oidc --id bench-idp --name "Bench IdP" --oidc-issuer "$ISSUER" --client-id gatehouse-bench \
  --client-secret-file upstream-secret --exchange --exchange-audience bench-app --exchange-create-users >/dev/null
"$GH" apis create --id bench --audience https://api.bench.test --name Bench --scope api --json > api.json
"$GH" clients create --name bench-exchange --grant-type client_credentials --grant-type "$TX" \
  --exchange-token-type id_token --exchange-provider bench-idp --scope api --default-api https://api.bench.test \
  --json > client.json
"$GH" serve > server.log 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
AUTH="Basic $(printf '%s:%s' "$(jq -r .id client.json)" "$(jq -r .client_secret client.json)" | base64 -w0)"
ID_TOKEN=$(curl -fsS "$ISSUER/mint?sub=user-1&aud=bench-app&ttl=1h")
BODY="grant_type=$TX&subject_token_type=urn:ietf:params:oauth:token-type:id_token&subject_token=$ID_TOKEN&scope=api"
echo "--- the first exchange (creates user-1's account)"
curl -sS -H "Authorization: $AUTH" -d "$BODY" "http://127.0.0.1:$PORT/oauth2/token" | tee first.json; echo
AT=$(jq -r .access_token first.json)
[ -n "$AT" ] && [ "$AT" != null ] || { echo "token exchange failed"; cat server.log; exit 1; }
[ -z "${SETUP_ONLY:-}" ] || { echo "SETUP_ONLY: provider, API, client and one exchange work"; exit 0; }

sleep 3
echo "RSS_IDLE_KB=$(awk '/^VmRSS/{print $2}' /proc/$PID/status) (after 1 exchange)" | tee results.txt
WRK_AUTH="$AUTH" WRK_BODY="$BODY" \
  "$BENCH/loadrun.sh" gatehouse-exchange "http://127.0.0.1:$PORT/oauth2/token" $PID "$RUNS" 1 10 | tee -a results.txt
WRK_AUTH="$AUTH" WRK_BODY="$BODY" \
  "$BENCH/loadrun.sh" gatehouse-exchange "http://127.0.0.1:$PORT/oauth2/token" $PID "$RUNS" 16 "$SECS" | tee -a results.txt
echo "RSS_END_KB=$(awk '/^VmRSS/{print $2}' /proc/$PID/status)"
echo "server log lines at warn or above: $(wc -l < server.log)"
head -c 2000 server.log # the first of them, if any: a clean run has none
CRYPTO_NS="$CRYPTO_NS $(crypto_ns)"
python3 "$BENCH/summarize.py" results.txt
med() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
field() { grep "label=gatehouse-exchange-c$1-run" results.txt | sed "s/.* $2=\([0-9.]*\).*/\1/" | med; }
cpu_ms=$(field 16 srv_cpu_ms_per_req) rps16=$(field 16 rps) rps1=$(field 1 rps)
crypto=$(tr ' ' '\n' <<<"$CRYPTO_NS" | grep . | med)
non2xx=$(grep -h 'label=gatehouse-exchange-c' results.txt | sed 's/.* non2xx=\([0-9]*\).*/\1/' | awk '{s+=$1} END{print s+0}')
awk -v c="$cpu_ms" -v k="$crypto" -v r16="$rps16" -v r1="$rps1" -v dc="$DEX_CPU_MS" -v dr="$DEX_RPS_C16" -v e="$non2xx" 'BEGIN{
  printf "ID-token exchange: CPU/exchange %.3f ms (16 conns, median) = %.2f x the bare crypto (one go-jose RS256 verify + one ES256 sign: %.1f us, median of the same sitting)\n", c, c*1e6/k, k/1000
  printf "req/s: %.0f at 16 connections, %.0f at 1; non-2xx responses: %d\n", r16, r1, e
  printf "vs Dex v2.45.1 (%.2f ms CPU, %d req/s at 16 conns, ../shared/bench/README.md): %.1f x less CPU per exchange, %.2f x its req/s\n", dc, dr, dc/c, r16/dr
}'
