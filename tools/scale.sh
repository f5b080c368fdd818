#!/usr/bin/env bash
# tools/scale.sh — issue 14's scale table: the same requests on an empty and a full
# database, side by side in one sitting, for SQLite and PostgreSQL.
# For each database: an "empty" one (tools/seed -scale 0: only the fixtures the load
# needs) and a full one (tools/seed -scale $SCALE, with an expired backlog); on each,
# Gatehouse is started on loopback and tools/scaleload measures, closed loop at
# $CONNS connections, RUNS runs of SECS seconds each: client_credentials, refresh
# rotation, introspection, the sign-in callback (through tools/scaleload's upstream
# OIDC IdP), the account page and a filtered admin-API audit query. On the full
# database the maintenance sweep starts with the server: it prunes the backlog while
# client_credentials and refresh-api load runs, and the script prints how long that took,
# the p99 during the sweep, and the 5xx and "database is locked" lines of the log.
# Ends with a markdown table (medians of the runs, full/empty ratio).
# Env: SCALE (default 0.01), DBS ("sqlite postgres"), RUNS (3), SECS (10), CONNS (16),
# PORT (18090; the IdP gets PORT+1), DATABASE_URL (postgres://USER@HOST/DB?…: a
# PostgreSQL server where USER may create the databases gatehouse_scale_empty and
# gatehouse_scale_full, which must not exist; default: a throwaway cluster started as
# the tests start one),
# SEED_FLAGS (more tools/seed flags), SCENARIOS (a subset of "cc refresh refresh-api
# introspect signin account audit"; refresh-api is refresh without an ID token, see
# tools/scaleload), KEEP=1 (keep the work dir; its master-key file serves its databases
# again: GATEHOUSE_MASTER_KEY=$(cat DIR/master-key)), SWEEP_POLL (seconds between the
# sweep phase's counts of what is left, default 5: at 10M rows each count is seconds of a
# CPU, which the load and the sweep share). Loopback only.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCALE=${SCALE:-0.01} DBS=${DBS:-sqlite postgres} RUNS=${RUNS:-3} SECS=${SECS:-10} CONNS=${CONNS:-16}
PORT=${PORT:-18090}
IDP_PORT=$((PORT + 1))
WORK=$(mktemp -d /tmp/gatehouse-scale.XXXX)
chmod 755 "$WORK" # the PostgreSQL cluster below runs as another user
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$WORK/gatehouse" ./cmd/gatehouse &&
  go build -o "$WORK/seed" ./tools/seed && go build -o "$WORK/scaleload" ./tools/scaleload)
GH="$WORK/gatehouse" SEED="$WORK/seed" LOAD="$WORK/scaleload"
BASE="http://127.0.0.1:$PORT" IDP="http://127.0.0.1:$IDP_PORT"
export GATEHOUSE_MASTER_KEY=$(head -c32 /dev/urandom | base64)
(umask 077 && echo "$GATEHOUSE_MASTER_KEY" > "$WORK/master-key")
export GATEHOUSE_LISTEN_ADDR="127.0.0.1:$PORT" GATEHOUSE_ISSUER="$BASE"
# As load.sh: log at warn (no access log), rate limits far above the offered load.
export GATEHOUSE_LOG_LEVEL=warn GATEHOUSE_OAUTH_RATE_PER_CLIENT=100000000 GATEHOUSE_OAUTH_RATE_PER_IP=100000000
export GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8 # the IdP is on loopback over http
# tools/scaleload signs each person in from an address of their own (X-Forwarded-For).
export GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32
# tools/seed's live sessions last 30 days and were seen within the last 12 hours.
export GATEHOUSE_SESSION_MAX_AGE=720h GATEHOUSE_SESSION_IDLE_TIMEOUT=24h
head -c24 /dev/urandom | base64 > "$WORK/idp-secret"

PID= IDP_PID= PG_PID= PG_DIR= PG_BIN=
cleanup() {
  for p in $PID $IDP_PID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  # pg_ctl, not a signal to runuser, which does not pass it on: the script then
  # waited for ever, and the cluster ran on after it.
  if [ -n "$PG_PID" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    wait "$PG_PID" 2>/dev/null || true
  fi
  [ -n "${KEEP:-}" ] && echo "work dir kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

# A throwaway PostgreSQL cluster as broker/store/pgtest starts one: initdb and
# postgres as the postgres user, a unix socket in the work dir, no TCP port.
start_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then PG_ADMIN=$DATABASE_URL; return; fi
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PG_DIR="$WORK/pg"; mkdir -p "$PG_DIR/sock"; chown -R postgres "$PG_DIR"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth trust -E UTF8 --no-locale > "$PG_DIR/initdb.log"
  runuser -u postgres -- "$PG_BIN/postgres" -D "$PG_DIR/data" -k "$PG_DIR/sock" -c listen_addresses= > "$PG_DIR/postgres.log" 2>&1 &
  PG_PID=$!
  PG_ADMIN="postgres://postgres@/postgres?host=$PG_DIR/sock&sslmode=disable"
  for _ in $(seq 1 100); do psql "$PG_ADMIN" -qc 'SELECT 1' >/dev/null 2>&1 && return; sleep 0.2; done
  cat "$PG_DIR/postgres.log"; exit 1
}

# db_url DB NAME: a new database of the kind, for the empty or the full run.
db_url() {
  if [ "$1" = sqlite ]; then echo "sqlite:$WORK/$2.db"; return; fi
  psql "$PG_ADMIN" -qc "CREATE DATABASE gatehouse_scale_$2" >/dev/null
  # The admin URL with the new database's name as its path.
  local base=${PG_ADMIN%%\?*}
  echo "${base%/*}/gatehouse_scale_$2${PG_ADMIN#"$base"}"
}

# register: the API, providers and clients the seeded rows and the load refer to
# (tools/seed's -audience, -providers and -clients defaults).
register() {
  local dir=$1 p
  "$GH" apis create --id scale --audience https://api.scale.test --name Scale --scope api --json > /dev/null
  # scale-idp2 holds the seeded second identities; nobody signs in through it
  # during the load, so its issuer (which must differ) need not answer.
  local idp2="http://127.0.0.1:$((IDP_PORT + 1))"
  for p in "scale-idp $IDP" "scale-idp2 $idp2"; do
    set -- $p
    "$GH" providers add-oidc --id "$1" --name "Scale $1" --oidc-issuer "$2" --client-id gatehouse-scale \
      --client-secret-file "$WORK/idp-secret" --skip-check > /dev/null
  done
  for c in scale-app scale-web; do
    "$GH" clients create --id "$c" --name "$c" --grant-type authorization_code --grant-type refresh_token \
      --scope openid --scope email --scope profile --scope api --redirect-uri "https://$c.scale.test/callback" \
      --default-api https://api.scale.test --json > "$dir/$c.json"
  done
  "$GH" clients create --name scale-cc --grant-type client_credentials --scope api --default-api https://api.scale.test --json > "$dir/cc.json"
  "$GH" clients create --name scale-rs --grant-type client_credentials --scope api --default-api https://api.scale.test \
    --resource-server-for https://api.scale.test --json > "$dir/rs.json"
  "$GH" clients create --name scale-admin --grant-type client_credentials --scope gatehouse:admin \
    --default-api "$BASE/api/admin/v1" --json > "$dir/admin.json"
}
basic() { printf 'Basic %s' "$(printf '%s:%s' "$(jq -r .id "$1")" "$(jq -r .client_secret "$1")" | base64 -w0)"; }

start_server() {
  "$GH" serve > "$1/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 300); do curl -fs "$BASE/healthz" >/dev/null && return; sleep 0.1; done
  cat "$1/server.log"; exit 1
}
stop_server() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

# scenario DIR NAME LABEL SECS: one tools/scaleload run.
scenario() {
  local dir=$1 name=$2 label=$3 secs=$4 warm=${5:-3s}
  local args=(-url "$BASE" -scenario "$name" -label "$label" -conns "$CONNS" -duration "${secs}s" -warmup "$warm")
  case $name in
    cc) args+=(-auth "$(basic "$dir/cc.json")") ;;
    refresh | refresh-api) args+=(-app-auth "$(basic "$dir/scale-app.json")" -tokens "$dir/refresh-tokens.txt") ;;
    introspect) args+=(-auth "$(basic "$dir/rs.json")" -app-auth "$(basic "$dir/scale-app.json")" -tokens "$dir/refresh-tokens.txt") ;;
    signin | account) args+=(-people "$dir/people.tsv") ;;
    audit) args+=(-auth "$(basic "$dir/admin.json")") ;;
  esac
  "$LOAD" "${args[@]}" || echo "RESULT label=$label reqs=0 failed"
}

SCENARIOS=${SCENARIOS:-cc refresh refresh-api introspect signin account audit}
measure() {
  local db=$1 kind=$2 dir=$3
  for s in $SCENARIOS; do
    for i in $(seq 1 "$RUNS"); do scenario "$dir" "$s" "$db-$kind-$s-run$i" "$SECS" | tee -a "$WORK/results.txt"; done
  done
}

# One database kind: empty run, seed, sweep under load, full run.
sitting() {
  local db=$1
  for kind in empty full; do
    local dir="$WORK/$db-$kind"; mkdir -p "$dir"
    export GATEHOUSE_DATABASE_URL; GATEHOUSE_DATABASE_URL=$(db_url "$db" "$kind")
    local scale=0; [ "$kind" = full ] && scale=$SCALE
    echo "--- $db $kind: seed -scale $scale"
    # shellcheck disable=SC2086 # SEED_FLAGS is a list of flags
    "$SEED" -scale "$scale" -out "$dir" ${SEED_FLAGS:-} | tee "$dir/seed.txt"
    grep 'rows/s' "$dir/seed.txt" | sed "s/^/$db-$kind /" >> "$WORK/seed-rates.txt"
    if [ -z "$IDP_PID" ]; then
      "$LOAD" -idp "127.0.0.1:$IDP_PORT" -people "$dir/people.tsv" -idp-secret "$(cat "$WORK/idp-secret")" > "$WORK/idp.log" 2>&1 &
      IDP_PID=$!
      for _ in $(seq 1 100); do curl -fs "$IDP/.well-known/openid-configuration" >/dev/null && break; sleep 0.1; done
    fi
    register "$dir"
    if [ "$kind" = full ]; then
      sweep "$db" "$dir"
    else
      start_server "$dir"
    fi
    echo "--- $db $kind: measuring"
    measure "$db" "$kind" "$dir"
    stop_server
    echo "$db-$kind server log: $(wc -l < "$dir/server.log") lines at warn or above; first ones:"; head -c 1500 "$dir/server.log"
  done
}

# sweep DB DIR: start the server on the full database, whose first maintenance
# pass prunes the expired backlog; poll what is left, and run client_credentials
# and refresh-api load until it is gone (at most 30 minutes).
sweep() {
  local db=$1 dir=$2
  local before; before=$("$SEED" -status)
  local t0; t0=$(date +%s.%N)
  start_server "$dir"
  ( while :; do
      s=$("$SEED" -status 2>/dev/null || echo "status failed")
      echo "$(date +%s.%N) $s"
      case $s in "expired_refresh=0 expired_sessions=0") break ;; esac
      sleep "${SWEEP_POLL:-5}"
    done ) > "$dir/sweep.txt" &
  local poller=$! n=0
  while kill -0 $poller 2>/dev/null && [ $n -lt 180 ]; do
    n=$((n + 1))
    for s in cc refresh-api; do scenario "$dir" "$s" "$db-sweep-$s-run$n" 5 0s | tee -a "$WORK/results.txt"; done
  done
  kill $poller 2>/dev/null || true; wait $poller 2>/dev/null || true
  local t1; t1=$(tail -1 "$dir/sweep.txt" | cut -d' ' -f1)
  local busy; busy=$(grep -ciE 'database is locked|SQLITE_BUSY' "$dir/server.log" || true)
  local errs; errs=$(grep -ciE 'level=ERROR|"level":"ERROR"' "$dir/server.log" || true)
  # The sessions are swept first (each ended as a logout ends it), then the
  # refresh tokens in batches: the poll says when each was done.
  local ts; ts=$(awk '/expired_sessions=0$/{print $1; exit}' "$dir/sweep.txt")
  awk -v a="$t0" -v s="${ts:-$t1}" -v b="$t1" -v db="$db" -v before="$before" -v busy="$busy" -v errs="$errs" \
    -v left="$(tail -1 "$dir/sweep.txt" | cut -d' ' -f2-)" \
    'BEGIN{printf "SWEEP %s: %s pruned in %.1fs from the server start (sessions done after %.1fs, then the refresh tokens in %.1fs; left: %s); log lines at error: %s, database is locked/SQLITE_BUSY: %s\n", db, before, b-a, s-a, b-s, left, errs, busy}' |
    tee -a "$WORK/sweeps.txt"
}

case " $DBS " in *" postgres "*) start_postgres ;; esac
for db in $DBS; do sitting "$db"; done

echo; echo "### Scale: empty vs full database (scale $SCALE, $CONNS connections, median of $RUNS runs of ${SECS}s; load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$WORK/results.txt" "$WORK/sweeps.txt" "$SCENARIOS" <<'EOF'
import re, statistics, sys
res, sweeps, scen = sys.argv[1], sys.argv[2], sys.argv[3].split()
runs = {}
for line in open(res):
    m = re.search(r'label=(\S+)-run\d+ .*p50_ms=([\d.]+) .*p99_ms=([\d.]+) .*non2xx=(\d+)', line)
    if m:
        runs.setdefault(m[1], []).append((float(m[2]), float(m[3]), int(m[4])))
def med(label, i):
    v = [r[i] for r in runs.get(label, [])]
    return statistics.median(v) if v else None
f = lambda x: '–' if x is None else f'{x:.2f}'
ratio = lambda a, b: '–' if not a or b is None else f'{b/a:.2f}×'
print('| request | database | empty p50 ms | empty p99 ms | full p50 ms | full p99 ms | full/empty p50 | full/empty p99 | failed (empty/full) |')
print('|---|---|---:|---:|---:|---:|---:|---:|---:|')
dbs = sorted({k.split('-')[0] for k in runs})
for s in scen:
    for db in dbs:
        e, u = f'{db}-empty-{s}', f'{db}-full-{s}'
        fails = lambda l: sum(r[2] for r in runs.get(l, []))
        print(f'| {s} | {db} | {f(med(e,0))} | {f(med(e,1))} | {f(med(u,0))} | {f(med(u,1))} | {ratio(med(e,0), med(u,0))} | {ratio(med(e,1), med(u,1))} | {fails(e)}/{fails(u)} |')
print()
print('| during the sweep | database | p99 ms during (median of runs) | p99 ms without (full run) | failed requests during |')
print('|---|---|---:|---:|---:|')
for db in dbs:
    for s in ('cc', 'refresh-api'):
        d = f'{db}-sweep-{s}'
        print(f'| {s} | {db} | {f(med(d,1))} | {f(med(f"{db}-full-{s}",1))} | {sum(r[2] for r in runs.get(d, []))} |')
print()
try:
    for line in open(sweeps):
        print('-', line.strip())
except FileNotFoundError:
    pass
EOF
echo; echo "seeding rates:"; cat "$WORK/seed-rates.txt"
