#!/usr/bin/env bash
# The request path under load (issue 20), against the local stack as `make up` starts it (scripts/stack.sh):
#   HTTP  GET /customers/1: (a) directly to the demo upstream, (b) through nginx as a plain reverse proxy that adds
#         the same upstream credential the gateway adds, (c) through Portcullis (/http/demo/customers/1, a real
#         agent token, audit on), each at concurrency 1 and 32, with hey;
#   SQL   one small SELECT through POST /sql/warehouse, against the same statement sent directly to PostgreSQL as
#         the gateway's driver sends it (pooled connection, extended protocol, a transaction with its
#         statement_timeout), with pgbench;
#   wire  the same SELECT through the gateway's PostgreSQL port (TLS, the agent's token as password, its session named
#         in the startup options), against the same statement sent straight to PostgreSQL with the same client and
#         settings (pgbench, a custom script; the simple and the extended query protocol), each at concurrency 1 and 32;
#   exec  one command through POST /exec/ops, against the same command over plain ssh (a new connection each,
#         as the gateway's connector opens one per command).
# It prints requests/s and p50/p90/p99 with the ratios to direct and to nginx, the CPU time per request of every
# process (broker, database, each service) from /proc/<pid>/stat, then checks that the audit stored every
# request of the run exactly once and that nothing was executed without its record.
#
#   scripts/bench.sh            (make bench) run it; the report goes to $LOCAL/bench/<time>/report.md
#   scripts/bench.sh --record   the same, and the report replaces the last run's section of docs/benchmarks.md
#
# Settings (environment): BENCH_REQUESTS (per HTTP and SQL run at concurrency 32, default 4096), BENCH_REQUESTS_C1
# (at concurrency 1, default 1000), BENCH_EXEC_REQUESTS (default 100),
# BENCH_PATHS (which of "http sql wire exec" to run, default all), BENCH_NGINX_PORT (default 5170), BENCH_WIRE_PORT
# (the gateway's PostgreSQL port, default 6432), PORTCULLIS_PORT_OFFSET (scripts/stack.sh's), BENCH_ALLOW_RELAXED=1 (measure even if PostgreSQL is not durable: loudly
# marked), and scripts/servers.sh's PORTCULLIS_LOCAL, PORTCULLIS_PG_PORT, ... for a stack of one's own.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="${PORTCULLIS_LOCAL:-$ROOT/.local}"
PG_PORT="${PORTCULLIS_PG_PORT:-24432}"
O="${PORTCULLIS_PORT_OFFSET:-0}" # scripts/stack.sh's: added to every port of the stack
GATEWAY="http://127.0.0.1:$((5000 + O))"; DEMO="http://127.0.0.1:$((5180 + O))"; ISSUER="http://127.0.0.1:$((5100 + O))/"
NGINX_PORT="${BENCH_NGINX_PORT:-$((5170 + O))}"; NGINX="http://127.0.0.1:$NGINX_PORT"
SSH_PORT=$((5122 + O))
WIRE_PORT="${BENCH_WIRE_PORT:-$((6432 + O))}" # the gateway's PostgreSQL port (scripts/stack.sh)
# Requests per run: fewer at concurrency 1, where Portcullis answers tens a second today. Each run sends a multiple
# of its concurrency (hey gives each worker n/c requests).
REQUESTS="${BENCH_REQUESTS:-4096}"; REQUESTS_C1="${BENCH_REQUESTS_C1:-1000}"; EXEC_REQUESTS="${BENCH_EXEC_REQUESTS:-100}"
WARMUP=300
PATHS="${BENCH_PATHS:-http sql wire exec}"
CONCURRENCIES=(1 32)
# The same request on every path. The statement is the gateway's (policy and masking run on it); the command is
# one the demo policy allows (exec-inspection).
HTTP_PATH="/customers/1"
SQL="SELECT id, name, email FROM demo.customers WHERE id = 1"
COMMAND="uptime"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$LOCAL/bench/$STAMP"
SESSION="bench-$STAMP"
CLK_TCK="$(getconf CLK_TCK)"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

install() { # the bench's own tools, through the one installer (scripts/servers.sh install PACKAGE...)
  local missing=()
  command -v hey >/dev/null || missing+=(hey)
  command -v nginx >/dev/null || missing+=(nginx)
  command -v pgbench >/dev/null || missing+=(postgresql-contrib)
  command -v ssh >/dev/null || missing+=(openssh-client)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  "$ROOT/scripts/servers.sh" install "${missing[@]}"
}

ensure_stack() {
  if ! curl -fsS -o /dev/null "$GATEWAY/health/ready" 2>/dev/null; then
    log "the stack does not answer on $GATEWAY: starting it (scripts/stack.sh up)"
    "$ROOT/scripts/stack.sh" up >&2
  fi
}

psql_pg() { # psql_pg DATABASE ARGS...: the stack's PostgreSQL as its superuser, over the local socket
  local db="$1"; shift
  local pg_bin; pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  local cmd=("$pg_bin/psql" -h "$LOCAL/postgres/run" -p "$PG_PORT" -U portcullis -d "$db" -v ON_ERROR_STOP=1 -qtA "$@")
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "${cmd[@]}"; else "${cmd[@]}"; fi
}

DURABILITY=""
check_durability() {
  DURABILITY="$("$ROOT/scripts/servers.sh" durability)"
  log "PostgreSQL: $DURABILITY"
  if [ "$DURABILITY" != "fsync=on synchronous_commit=on full_page_writes=on" ]; then
    if [ "${BENCH_ALLOW_RELAXED:-}" = 1 ]; then
      log "WARNING ************************************************************************************"
      log "WARNING PostgreSQL is NOT durable ($DURABILITY): these figures are not the durable stack's."
      log "WARNING ************************************************************************************"
    else
      die "PostgreSQL runs relaxed ($DURABILITY); the figures must be durable. Restart the stack (make down && make up), or BENCH_ALLOW_RELAXED=1 to measure anyway"
    fi
  fi
}

token() { # token CLIENT: an access token from the stack's OpenID provider, minted once per run
  curl -fsS -d grant_type=client_credentials -d client_id="$1" -d client_secret="$(cat "$LOCAL/secrets/$1")" \
    "${ISSUER}connect/token" | tr -d '\n ' | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

# nginx as a plain reverse proxy in front of the demo upstream, adding the credential the gateway adds, with
# keep-alive connections upstream as YARP keeps them.
start_nginx() {
  local dir="$OUT/nginx"; mkdir -p "$dir/logs" "$dir/tmp"
  cat > "$dir/nginx.conf" <<CONF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi; uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
  upstream demo { server 127.0.0.1:$((5180 + O)); keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://demo;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Api-Key "$API_KEY";
    }
  }
}
CONF
  chmod 600 "$dir/nginx.conf"
  nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" || die "nginx did not start (log: $dir/logs/error.log)"
  NGINX_PID="$(cat "$dir/nginx.pid")"
  log "nginx on $NGINX (pid $NGINX_PID, config $dir/nginx.conf)"
}

stop_nginx() {
  [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null || return 0
  local i; for i in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
  log "nginx stopped"
}

# --- CPU time per process, from /proc/<pid>/stat --------------------------------------------------------------

tree_pids() { # a process and its descendants
  local child; echo "$1"
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree_pids "$child"; done
}

tree_ticks() { # utime+stime of a process tree, plus the children it has reaped (exited backends, ssh sessions)
  local pid total=0 t
  for pid in $(tree_pids "$1"); do
    t="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}')" || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}

PROCESSES=()
find_processes() {
  local name pid
  PROCESSES=("rabbitmq $(cat "$LOCAL/rabbitmq/rabbitmq.pid")" "postgresql $(head -n 1 "$LOCAL/postgres/data/postmaster.pid")")
  for name in gateway policy masking audit approval identity demo; do
    pid="$(cat "$LOCAL/run/$name.pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && PROCESSES+=("$name $pid")
  done
  PROCESSES+=("nginx $NGINX_PID")
  pid="$(cat "$LOCAL/run/sshd.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && PROCESSES+=("sshd $pid")
}

cpu_snapshot() { # cpu_snapshot FILE: "name ticks" per process; FILE.xact: PostgreSQL's transactions so far
  local entry file="$1"
  psql_pg postgres -c "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database" > "$file.xact"
  for entry in "${PROCESSES[@]}"; do
    # shellcheck disable=SC2086
    set -- $entry
    echo "$1 $(tree_ticks "$2")"
  done > "$file"
}

requests_for() { # requests_for CONCURRENCY: this run's request count, a multiple of the concurrency
  local n="$REQUESTS"; [ "$1" = 1 ] && n="$REQUESTS_C1"
  echo $(( n / $1 * $1 ))
}

# --- runs -----------------------------------------------------------------------------------------------------

# Each run adds a line to results.tsv: group path concurrency requests ok rps p50 p90 p99 (ms), and its CPU
# per request to cpu.tsv: run process ms.
record_cpu() { # record_cpu RUN REQUESTS BEFORE AFTER
  awk -v run="$1" -v n="$2" -v hz="$CLK_TCK" 'NR == FNR {before[$1] = $2; next}
    {printf "%s\t%s\t%.3f\n", run, $1, ($2 - before[$1]) * 1000 / hz / n}' "$3" "$4" >> "$OUT/cpu.tsv"
  # PostgreSQL's statistics lag a backend's transactions by up to its idle interval: a rate over a long run.
  awk -v run="$1" -v n="$2" 'NR == FNR {before = $1; next} {printf "%s\t%.2f\n", run, ($1 - before) / n}' "$3.xact" "$4.xact" >> "$OUT/xact.tsv"
}

percentiles() { # percentiles FILE-OF-MS-VALUES: "p50 p90 p99"
  sort -n "$1" | awk '{v[NR] = $1} END {
    split("50 90 99", ps, " ")
    for (i = 1; i <= 3; i++) { k = int((ps[i] * NR + 99) / 100); if (k < 1) k = 1; printf "%.2f%s", v[k], (i < 3 ? " " : "\n") } }'
}

hey_run() { # hey_run GROUP PATH CONCURRENCY HEY-ARGS... URL
  local group="$1" path="$2" c="$3" n; n="$(requests_for "$3")"; shift 3
  local file="$OUT/$group-$path-c$c"
  cpu_snapshot "$OUT/cpu.before"
  # Every request's time, status and start offset (hey's own summary skips its 99th percentile below 100 requests),
  # so all paths' percentiles come from the same computation.
  hey -n "$n" -c "$c" -o csv "$@" > "$file.csv"
  cpu_snapshot "$OUT/cpu.after"
  record_cpu "$group $path c$c" "$n" "$OUT/cpu.before" "$OUT/cpu.after"
  awk -F, 'NR > 1 {printf "%.3f\n", $1 * 1000}' "$file.csv" > "$file.ms"
  local rps ok
  rps="$(awk -F, 'NR > 1 {n++; if ($8 + $1 > end) end = $8 + $1} END {printf "%.2f", n / end}' "$file.csv")"
  ok="$(awk -F, 'NR > 1 && $7 == 200 {n++} END {print n + 0}' "$file.csv")"
  # shellcheck disable=SC2046
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$group" "$path" "$c" "$n" "$ok" "$rps" $(percentiles "$file.ms" | tr ' ' '\t') >> "$OUT/results.tsv"
  local p50; p50="$(percentiles "$file.ms" | cut -d' ' -f1)"
  [ "$ok" = "$n" ] || log "WARNING: $group via $path at concurrency $c: $ok of $n answered 200 (see $file.csv)"
  log "$group $path c$c: $rps requests/s, p50 $p50 ms"
}

# What the stack costs with no request at all (pollers, timers, the projection daemon), per second: the baseline
# each run's figures include.
idle_run() {
  cpu_snapshot "$OUT/cpu.before"; sleep 5; cpu_snapshot "$OUT/cpu.after"
  record_cpu "idle, per second (not per request)" 5 "$OUT/cpu.before" "$OUT/cpu.after"
}

http_runs() {
  local c
  hey -n "$WARMUP" -c 8 -H "X-Api-Key: $API_KEY" "$DEMO$HTTP_PATH" >/dev/null
  hey -n "$WARMUP" -c 8 "$NGINX$HTTP_PATH" >/dev/null
  hey -n "$WARMUP" -c 8 -H "Authorization: Bearer $AGENT" -H "X-Session-Id: $SESSION-warmup" "$GATEWAY/http/demo$HTTP_PATH" >/dev/null
  for c in "${CONCURRENCIES[@]}"; do hey_run http direct "$c" -H "X-Api-Key: $API_KEY" "$DEMO$HTTP_PATH"; done
  for c in "${CONCURRENCIES[@]}"; do hey_run http nginx "$c" "$NGINX$HTTP_PATH"; done
  # What reached the upstream from here on came through the gateway: the demo counts it (GET /__requests).
  curl -fsS -X DELETE "$DEMO/__requests" >/dev/null
  for c in "${CONCURRENCIES[@]}"; do
    hey_run http portcullis "$c" -H "Authorization: Bearer $AGENT" -H "X-Session-Id: $SESSION-http" "$GATEWAY/http/demo$HTTP_PATH"
  done
  UPSTREAM_SEEN="$(curl -fsS "$DEMO/__requests" | grep -o "\"path\":\"$HTTP_PATH\"" | wc -l)"
}

# pgbench_run GROUP VIA CONCURRENCY MODE SCRIPT PASSWORD CONNINFO: one timed pgbench run (its per-transaction log
# gives every statement's time), a line in results.tsv and its CPU per request.
pgbench_run() {
  local group="$1" via="$2" c="$3" mode="$4" script="$5" password="$6" conninfo="$7" n; n="$(requests_for "$3")"
  local name="$group-$via-c$c"; local prefix="$OUT/pgbench-$name"
  cpu_snapshot "$OUT/cpu.before"
  ( cd "$OUT" && PGPASSWORD="$password" pgbench -n -M "$mode" -c "$c" -j "$(( c < 2 ? 1 : 2 ))" -t "$(( n / c ))" \
      -f "$script" --log --log-prefix="$prefix" "$conninfo" > "$OUT/$name.txt" 2>&1 ) || { cat "$OUT/$name.txt" >&2; die "pgbench failed ($group via $via, concurrency $c)"; }
  cpu_snapshot "$OUT/cpu.after"
  record_cpu "$group $via c$c" "$n" "$OUT/cpu.before" "$OUT/cpu.after"
  # Each statement's time is the gap between its end and the end of the same client's statement before it (the log
  # gives each one's end to the microsecond): pgbench's own latency column reads the clock lazily and logs 0 for a
  # statement that completes within one pass of its loop, as sub-millisecond statements do. A client's first
  # statement has no predecessor and keeps pgbench's figure.
  cat "$prefix".* | awk '{ end = $5 * 1000000 + $6
    printf "%.3f\n", (($1 in last) ? end - last[$1] : $3) / 1000; last[$1] = end }' > "$OUT/$name.ms"
  local rps ok; rps="$(awk '/^tps = / {printf "%.2f", $3}' "$OUT/$name.txt")"; ok="$(wc -l < "$OUT/$name.ms")"
  # shellcheck disable=SC2046
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$group" "$via" "$c" "$n" "$ok" "$rps" $(percentiles "$OUT/$name.ms" | tr ' ' '\t') >> "$OUT/results.tsv"
  [ "$ok" = "$n" ] || log "WARNING: $group via $via at concurrency $c: $ok of $n statements completed (see $OUT/$name.txt)"
  log "$group $via c$c: $rps requests/s, p50 $(percentiles "$OUT/$name.ms" | cut -d' ' -f1) ms"
}

# The demo database as the agent's own login reaches it directly (the stack's PostgreSQL serves no TLS).
direct_conninfo() { echo "host=127.0.0.1 port=$PG_PORT user=portcullis_demo_agent dbname=portcullis_demo sslmode=disable $*"; }

declare -A SCANS_BEFORE=() SCANS_AFTER=()
table_scans() { psql_pg portcullis_demo -c "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relid = 'demo.customers'::regclass"; }

sql_runs() {
  local c body; body="{\"sql\": \"$SQL\"}"
  hey -n "$WARMUP" -c 8 -m POST -T application/json -d "$body" -H "Authorization: Bearer $AGENT" -H "X-Session-Id: $SESSION-warmup" "$GATEWAY/sql/warehouse" >/dev/null
  # The gateway's SQL connector, statement by statement: a pooled connection, a transaction, the connection's
  # statement_timeout (portcullis.yaml: 5s), the statement in the extended protocol, commit.
  printf 'BEGIN;\nSET LOCAL statement_timeout = 5000;\n%s;\nCOMMIT;\n' "$SQL" > "$OUT/sql.pgbench"
  for c in "${CONCURRENCIES[@]}"; do
    pgbench_run sql direct "$c" extended "$OUT/sql.pgbench" "$(cat "$LOCAL/secrets/demo-db-password")" "$(direct_conninfo)"
  done
  # Statements executed on demo.customers, read from the table's scan counters: a backend reports them when it
  # goes idle, within PostgreSQL's 10 s idle interval, hence the wait before each reading.
  sleep 11; SCANS_BEFORE[sql]="$(table_scans)"
  for c in "${CONCURRENCIES[@]}"; do
    hey_run sql portcullis "$c" -m POST -T application/json -d "$body" \
      -H "Authorization: Bearer $AGENT" -H "X-Session-Id: $SESSION-sql" "$GATEWAY/sql/warehouse"
  done
  sleep 11; SCANS_AFTER[sql]="$(table_scans)"
}

# The PostgreSQL wire path (issue 21): the statement as a client sends it, through the gateway's PostgreSQL port
# (TLS, the agent's token as password, the run's session in the startup options) and straight to PostgreSQL, with the
# same client, script and protocol on both sides; in the simple and the extended query protocol. pgbench keeps its
# connections, so the TLS handshake and the token's validation at connect are outside the per-statement figures.
wire_runs() {
  local mode c kind
  printf '%s;\n' "$SQL" > "$OUT/wire.pgbench"
  local password; password="$(cat "$LOCAL/secrets/demo-db-password")"
  wire_conninfo() { echo "host=127.0.0.1 port=$WIRE_PORT user=agent dbname=warehouse sslmode=require options='-c portcullis.session=$1'"; }
  for mode in simple extended; do
    PGPASSWORD="$AGENT" pgbench -n -M "$mode" -c 4 -j 1 -t 25 -f "$OUT/wire.pgbench" "$(wire_conninfo "$SESSION-warmup")" > "$OUT/wire-warmup-$mode.txt" 2>&1 \
      || { cat "$OUT/wire-warmup-$mode.txt" >&2; die "pgbench through the gateway's PostgreSQL port (127.0.0.1:$WIRE_PORT) failed"; }
    PGPASSWORD="$password" pgbench -n -M "$mode" -c 4 -j 1 -t 25 -f "$OUT/wire.pgbench" "$(direct_conninfo)" >/dev/null 2>&1
    for c in "${CONCURRENCIES[@]}"; do
      pgbench_run "wire-$mode" direct "$c" "$mode" "$OUT/wire.pgbench" "$password" "$(direct_conninfo "options='-c portcullis.session=$SESSION-wire-$mode'")"
    done
  done
  sleep 11
  for mode in simple extended; do
    kind="wire-$mode"; SCANS_BEFORE[$kind]="$(table_scans)"
    for c in "${CONCURRENCIES[@]}"; do
      pgbench_run "$kind" portcullis "$c" "$mode" "$OUT/wire.pgbench" "$AGENT" "$(wire_conninfo "$SESSION-$kind")"
    done
    sleep 11; SCANS_AFTER[$kind]="$(table_scans)"
  done
}

ssh_direct() { # the command as the gateway's connector sends it, over a new connection each time
  ssh -q -p "$SSH_PORT" -i "$LOCAL/ssh/gateway_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$OUT/known_hosts" portcullis-demo@127.0.0.1 "exec timeout --kill-after=1 10 sh -c '$COMMAND'" >/dev/null
}

exec_runs() {
  [ -f "$LOCAL/run/sshd.pid" ] || { log "no demo sshd (the stack runs it only as root): the exec path is skipped"; return 0; }
  printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$LOCAL/ssh/host_ed25519.pub")" > "$OUT/known_hosts"
  local body="{\"command\": \"$COMMAND\"}" i t0 t1 start end
  hey -n 20 -c 1 -m POST -T application/json -d "$body" -H "Authorization: Bearer $AGENT" -H "X-Session-Id: $SESSION-warmup" "$GATEWAY/exec/ops" >/dev/null
  for i in 1 2 3 4 5; do ssh_direct; done
  : > "$OUT/exec-direct-c1.ms"
  cpu_snapshot "$OUT/cpu.before"; start="$(date +%s%N)"
  for i in $(seq 1 "$EXEC_REQUESTS"); do
    t0="$(date +%s%N)"; ssh_direct; t1="$(date +%s%N)"
    echo "$(( (t1 - t0) / 1000 ))" | awk '{printf "%.3f\n", $1 / 1000}' >> "$OUT/exec-direct-c1.ms"
  done
  end="$(date +%s%N)"; cpu_snapshot "$OUT/cpu.after"
  record_cpu "exec direct c1" "$EXEC_REQUESTS" "$OUT/cpu.before" "$OUT/cpu.after"
  # shellcheck disable=SC2046
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' exec direct 1 "$EXEC_REQUESTS" "$EXEC_REQUESTS" \
    "$(awk -v n="$EXEC_REQUESTS" -v ns="$((end - start))" 'BEGIN {printf "%.2f", n * 1e9 / ns}')" \
    $(percentiles "$OUT/exec-direct-c1.ms" | tr ' ' '\t') >> "$OUT/results.tsv"
  SSH_LOGINS_BEFORE="$(grep -c 'Accepted publickey for portcullis-demo' "$LOCAL/logs/sshd.log" || true)"
  REQUESTS_C1="$EXEC_REQUESTS" hey_run exec portcullis 1 -m POST -T application/json -d "$body" \
    -H "Authorization: Bearer $AGENT" -H "X-Session-Id: $SESSION-exec" "$GATEWAY/exec/ops"
  SSH_LOGINS_AFTER="$(grep -c 'Accepted publickey for portcullis-demo' "$LOCAL/logs/sshd.log" || true)"
}

# --- report ---------------------------------------------------------------------------------------------------

report_results() {
  echo "| path | via | concurrency | requests | requests/s | p50 ms | p90 ms | p99 ms | requests/s ÷ direct | requests/s ÷ nginx | p50 over direct |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  awk -F'\t' '
    { key = $1 SUBSEP $3; if ($2 == "direct") { drps[key] = $6; dp50[key] = $7 } if ($2 == "nginx") nrps[key] = $6; row[NR] = $0 }
    END { for (i = 1; i <= NR; i++) { split(row[i], f, "\t"); key = f[1] SUBSEP f[3]
      vd = (f[2] == "direct" || !(key in drps)) ? "" : sprintf("%.3f", f[6] / drps[key])
      vn = (f[2] == "portcullis" && (key in nrps)) ? sprintf("%.3f", f[6] / nrps[key]) : ""
      add = (f[2] == "direct" || !(key in dp50)) ? "" : sprintf("%+.2f ms", f[7] - dp50[key])
      ok = (f[5] == f[4]) ? "" : sprintf(" (%s ok)", f[5])
      printf "| %s | %s | %s | %s%s | %.1f | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], f[3], f[4], ok, f[6], f[7], f[8], f[9], vd, vn, add } }' "$OUT/results.tsv"
}

report_cpu() {
  local runs; runs="$(awk -F'\t' '{print $1}' "$OUT/cpu.tsv" | awk '!seen[$0]++')"
  printf '| process |'; while IFS= read -r r; do printf ' %s |' "$r"; done <<< "$runs"; echo
  printf '| --- |'; while IFS= read -r r; do printf ' ---: |'; done <<< "$runs"; echo
  awk -F'\t' '
    { if (!($1 in rseen)) { rseen[$1] = 1; runs[++nr] = $1 } if (!($2 in pseen)) { pseen[$2] = 1; procs[++np] = $2 } ms[$1, $2] = $3; total[$1] += $3 }
    END { for (p = 1; p <= np; p++) { printf "| %s |", procs[p]; for (r = 1; r <= nr; r++) printf " %.3f |", ms[runs[r], procs[p]]; print "" }
      printf "| **total** |"; for (r = 1; r <= nr; r++) printf " **%.3f** |", total[runs[r]]; print "" }' "$OUT/cpu.tsv"
  printf '| PostgreSQL transactions per request (count, pg_stat_database) |'
  awk -F'\t' '{printf " %s |", $2}' "$OUT/xact.tsv"; echo
}

# The audit's side of the run: every event of each session, by type, with the number of distinct requests.
audit_counts() { # audit_counts SESSION: "type count distinct-requests" per line
  psql_pg portcullis -F ' ' -c "SELECT type, count(*), count(DISTINCT data->>'RequestId') FROM audit.mt_events WHERE stream_id = '$1' GROUP BY type ORDER BY type"
}

count_of() { awk -v t="$2" '$1 == t {print $'"$3"'}' <<< "$1"; }

FAILURES=0
check() { # check WHAT EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "- ok: $1: $3"; else echo "- **FAILED**: $1: expected $2, got $3"; FAILURES=$((FAILURES + 1)); fi
}

no_loss() {
  local kind expected counts i previous="" type
  for kind in $(awk -F'\t' '$2 == "portcullis" && !seen[$1]++ {print $1}' "$OUT/results.tsv"); do
    expected="$(awk -F'\t' -v k="$kind" '$1 == k && $2 == "portcullis" {n += $4} END {print n + 0}' "$OUT/results.tsv")"
    [ "$expected" -gt 0 ] || continue
    # The audit stores behind the answers; wait until its count stops growing (at most two minutes).
    for i in $(seq 1 120); do
      counts="$(audit_counts "$SESSION-$kind")"
      [ "$(count_of "$counts" request_completed 2)" = "$expected" ] && break
      [ "$i" -gt 10 ] && [ "$counts" = "$previous" ] && break
      previous="$counts"; sleep 1
    done
    echo "Session \`$SESSION-$kind\` ($expected requests sent through Portcullis):"
    echo
    for type in request_received policy_evaluated request_forwarded response_masked request_completed; do
      check "$type events stored" "$expected" "$(count_of "$counts" "$type" 2)"
      check "$type events, distinct requests (each stored once)" "$expected" "$(count_of "$counts" "$type" 3)"
    done
    case "$kind" in
      http) check "requests the demo upstream received (its own count) = requests forwarded in the audit" \
              "$(count_of "$counts" request_forwarded 2)" "$UPSTREAM_SEEN" ;;
      sql|wire-*) check "statements run on demo.customers (pg_stat_user_tables scans) = statements forwarded in the audit" \
              "$(count_of "$counts" request_forwarded 2)" "$(( SCANS_AFTER[$kind] - SCANS_BEFORE[$kind] ))" ;;
      exec) check "ssh logins on the demo sshd (its log) = commands forwarded in the audit" \
              "$(count_of "$counts" request_forwarded 2)" "$(( SSH_LOGINS_AFTER - SSH_LOGINS_BEFORE ))" ;;
    esac
    echo
  done
}

machine() {
  echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/ {print $2}') GiB memory, kernel $(uname -r), load average before the run: $LOAD"
  echo "- date: $STARTED; commit $(git -C "$ROOT" rev-parse --short HEAD)"
  echo "- command: \`make bench\` (scripts/bench.sh; BENCH_REQUESTS=$REQUESTS, BENCH_REQUESTS_C1=$REQUESTS_C1, BENCH_EXEC_REQUESTS=$EXEC_REQUESTS)"
  echo "- PostgreSQL $( [ "$DURABILITY" = "fsync=on synchronous_commit=on full_page_writes=on" ] && echo durable || echo "**NOT durable**"): $DURABILITY"
  echo "- tools: $(dpkg-query -W -f '${Package} ${Version}' hey 2>/dev/null), $(nginx -v 2>&1 | sed 's/.*: //'), $(pgbench --version), $(ssh -V 2>&1 | cut -d, -f1)"
}

report() {
  echo "### Run of $STARTED"
  echo
  machine
  echo
  local durable="PostgreSQL durable (fsync, synchronous_commit, full_page_writes on)"
  [ "$DURABILITY" = "fsync=on synchronous_commit=on full_page_writes=on" ] || durable="**PostgreSQL NOT durable ($DURABILITY)**"
  echo "Requests/s and latency, $durable."
  echo "Clients: hey; for SQL direct, pgbench running the gateway's transaction; for the wire path, pgbench with the same"
  echo "statement and protocol (simple, extended) on both sides, TLS through the gateway, plaintext direct (the stack's"
  echo "PostgreSQL serves no TLS); for exec direct, ssh timed per command. Ratios are requests/s against the same path's direct and nginx runs at the same concurrency; the"
  echo "last column is the median added over direct:"
  echo
  report_results
  echo
  echo "CPU time per request, in ms, of each process (its /proc/<pid>/stat utime+stime, with its children's, before"
  echo "and after each run; PostgreSQL is the postmaster's whole process tree):"
  echo
  report_cpu
  echo
  echo "No-loss check (the audit's event store in PostgreSQL, audit.mt_events, by session):"
  echo
  no_loss
}

record_in_docs() {
  local docs="$ROOT/docs/benchmarks.md" begin="<!-- bench:begin -->" end="<!-- bench:end -->"
  grep -q "$begin" "$docs" || die "$docs has no $begin ... $end section"
  awk -v begin="$begin" -v end="$end" -v file="$1" '
    $0 == begin { print; while ((getline line < file) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 } !skip' "$docs" > "$docs.new" && mv "$docs.new" "$docs"
  log "docs/benchmarks.md updated"
}

main() {
  local record=""
  case "${1:-}" in --record) record=1 ;; "") ;; *) die "usage: $0 [--record]" ;; esac
  install
  ensure_stack
  check_durability
  LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"; STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
  mkdir -p "$OUT"; : > "$OUT/results.tsv"; : > "$OUT/cpu.tsv"; : > "$OUT/xact.tsv"
  API_KEY="$(cat "$LOCAL/secrets/demo-api-key")"
  AGENT="$(token demo-agent)"; [ -n "$AGENT" ] || die "no agent token from $ISSUER"
  trap stop_nginx EXIT
  start_nginx
  find_processes
  log "run $SESSION: $REQUESTS requests per HTTP and SQL run, $EXEC_REQUESTS per exec run; results in $OUT"
  idle_run
  local path
  for path in http sql wire exec; do
    if [[ " $PATHS " == *" $path "* ]]; then "${path}_runs"; fi
  done
  report > "$OUT/report.md"
  cat "$OUT/report.md"
  [ -z "$record" ] || record_in_docs "$OUT/report.md"
  [ "$FAILURES" = 0 ] || die "the no-loss check failed $FAILURES time(s) (above)"
}

main "$@"
