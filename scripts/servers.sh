#!/usr/bin/env bash
# Local PostgreSQL and RabbitMQ for development and tests, from Debian's packages, on loopback, with
# every file in a project-local folder (.local/). Used when no Docker engine answers.
#   scripts/servers.sh install [PACKAGE...]
#                                install missing Debian packages (needs root): the servers' own, and the extra
#                                packages named (e.g. `servers.sh install hey nginx`, as scripts/bench.sh does)
#   scripts/servers.sh start     start both servers (idempotent), then write .local/servers.env; PostgreSQL runs
#                                with its durable settings (fsync, synchronous_commit, full_page_writes on)
#   scripts/servers.sh start --relaxed
#                                the same for test fixtures only: fsync and synchronous_commit off (a crash can
#                                lose acknowledged commits, which tests that never crash the server do not mind)
#   scripts/servers.sh stop      stop both servers
#   scripts/servers.sh durability  print PostgreSQL's fsync, synchronous_commit and full_page_writes
#   scripts/servers.sh kill-postgres | kill-rabbitmq
#                                crash one server (PostgreSQL stopped in immediate mode, RabbitMQ's node killed with
#                                SIGKILL) for the fault suite; refused on the default ports, which other runs share
#   scripts/servers.sh test-env  a fresh RabbitMQ vhost and database for one test run, in .local/servers-tests.env
#                                (PORTCULLIS_TEST_NAME=x: vhost portcullis-tests-x, database portcullis_tests_x, file
#                                servers-tests-x.env, so several test runs can share the servers at once)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="${PORTCULLIS_LOCAL:-$ROOT/.local}"
PG_PORT="${PORTCULLIS_PG_PORT:-24432}"
AMQP_PORT="${PORTCULLIS_AMQP_PORT:-24672}"
DIST_PORT="${PORTCULLIS_RABBIT_DIST_PORT:-24673}"
EPMD_PORT="${PORTCULLIS_EPMD_PORT:-24674}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
RABBIT_BIN=/usr/lib/rabbitmq/bin
DURABILITY=durable

log() { printf '[servers] %s\n' "$*" >&2; }
die() { printf '[servers] error: %s\n' "$*" >&2; exit 1; }

# A port of ours must be free before its server starts, and outside the kernel's ephemeral range
# (/proc/sys/net/ipv4/ip_local_port_range): a client's outgoing connection may hold such a port for a while, and the
# server's listen then fails (RabbitMQ's "tcp_listener_stopped" at boot, after 90 s of waiting).
check_port() { # check_port PORT WHAT
  local port="$1" what="$2" low="" high=""
  read -r low high < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  if [ -n "$low" ] && [ "$port" -ge "$low" ] && [ "$port" -le "$high" ]; then
    log "WARNING: $what's port $port is in the kernel's ephemeral range ($low-$high): an outgoing connection can take it" \
      "and the server then cannot listen; choose a port below $low"
  fi
  command -v ss >/dev/null || return 0
  # Listeners only: a crashed server's closing connections (the fault suite's) do not keep it from listening again.
  local taken; taken="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 3 || true)"
  [ -z "$taken" ] || die "port $port ($what) is already in use on this machine: $taken. Stop what listens there, or give" \
    "other ports (PORTCULLIS_PG_PORT, PORTCULLIS_AMQP_PORT, PORTCULLIS_RABBIT_DIST_PORT, PORTCULLIS_EPMD_PORT) and PORTCULLIS_LOCAL"
}

install() {
  local missing=() package
  for package in "$@"; do # extra packages a caller needs; checked by name, so only the missing ones are installed
    [[ "$package" =~ ^[a-z0-9][a-z0-9.+-]+$ ]] || die "'$package' is not a Debian package name"
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q ' installed$' || missing+=("$package")
  done
  [ -n "$PG_BIN" ] && [ -x "$PG_BIN/pg_ctl" ] || missing+=(postgresql)
  [ -x "$RABBIT_BIN/rabbitmq-server" ] || missing+=(rabbitmq-server)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  # The PostgreSQL parser as a C library, for the policy service's SQL analysis.
  ls /usr/lib/*/libpg_query.so.1504* >/dev/null 2>&1 || missing+=(libpg-query1504.0)
  # A real sshd for the ssh connector's tests and the demo's ssh target.
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v shfmt >/dev/null || missing+=(shfmt)  # the shell analysis' differential test parses with it
  # A headless browser for the approver console's browser test (driven by Playwright).
  command -v chromium >/dev/null || missing+=(chromium)
  # Unmodified PostgreSQL clients for the gateway's PostgreSQL port tests: psql, psycopg 3, psycopg2 + SQLAlchemy, asyncpg.
  command -v psql >/dev/null || missing+=(postgresql-client)
  /usr/bin/python3 -c 'import psycopg' 2>/dev/null || missing+=(python3-psycopg)
  /usr/bin/python3 -c 'import psycopg2, sqlalchemy' 2>/dev/null || missing+=(python3-psycopg2 python3-sqlalchemy)
  /usr/bin/python3 -c 'import asyncpg' 2>/dev/null || missing+=(python3-asyncpg)
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
  log "installing ${missing[*]} from Debian packages (apt-get)"
  # Debian's maintainer scripts would try to start the system-wide services (PostgreSQL, RabbitMQ, sshd, an nginx on
  # port 80); we run our own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
}

# Runs a command as a service user when we are root (initdb and RabbitMQ refuse root), else as us.
as_user() {
  local user="$1"; shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

secret() { # a password generated once per data folder, never printed
  local file="$1"
  [ -s "$file" ] || (umask 077; openssl rand -hex 24 > "$file")
  cat "$file"
}

start_postgres() {
  local dir="$LOCAL/postgres" owner=postgres
  [ "$(id -u)" = 0 ] || owner="$(id -un)"
  mkdir -p "$dir/run" "$LOCAL/secrets"
  local password; password="$(secret "$LOCAL/secrets/postgres-password")"
  chown -R "$owner" "$dir"
  if [ ! -s "$dir/data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $dir/data"
    local pwfile="$dir/pwfile"; (umask 077; printf '%s\n' "$password" > "$pwfile"); chown "$owner" "$pwfile"
    as_user "$owner" "$PG_BIN/initdb" -D "$dir/data" -U portcullis --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed (log above)"; }
    rm -f "$pwfile"
  fi
  # Durable unless a test fixture asked otherwise: the audit acknowledges the broker's messages once its
  # commit returns, so that commit must survive a crash of the server or the machine.
  local settings="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
  [ "$DURABILITY" = durable ] || settings="-c fsync=off -c synchronous_commit=off"
  local options="-c listen_addresses=127.0.0.1 -p $PG_PORT -k $dir/run -c max_connections=300 $settings"
  if as_user "$owner" "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    local running; running="$(pg_durability)"
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT ($running)"
    if [ "$DURABILITY" = durable ] && [ "$running" != "fsync=on synchronous_commit=on full_page_writes=on" ]; then
      local others; others="$(as_user "$owner" "$PG_BIN/psql" -h "$dir/run" -p "$PG_PORT" -U portcullis -d postgres -tAc \
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")"
      if [ "$others" = 0 ]; then
        log "it runs with relaxed durability and nobody is connected: restarting it with the durable settings"
        as_user "$owner" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -m fast -w -t 60 restart -o "$options" >/dev/null \
          || { tail -n 30 "$dir/postgres.log" >&2; die "PostgreSQL did not restart (log: $dir/postgres.log)"; }
        log "PostgreSQL now $(pg_durability)"
      else
        log "WARNING: it runs with relaxed durability ($running) and $others other connections use it, so it is left" \
          "running: a crash can lose acknowledged audit events. Restart it when they are done: scripts/servers.sh stop && scripts/servers.sh start"
      fi
    elif [ "$DURABILITY" = relaxed ] && [ "$running" != "fsync=off synchronous_commit=off full_page_writes=on" ]; then
      log "relaxed durability was asked for, but the server runs with its own settings; they are kept"
    fi
  else
    check_port "$PG_PORT" PostgreSQL
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT ($DURABILITY: $settings)"
    as_user "$owner" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start -o "$options" >/dev/null \
      || { tail -n 30 "$dir/postgres.log" >&2; die "PostgreSQL did not start (log: $dir/postgres.log)"; }
  fi
  as_user "$owner" "$PG_BIN/psql" -h "$dir/run" -p "$PG_PORT" -U portcullis -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='portcullis'" | grep -q 1 \
    || as_user "$owner" "$PG_BIN/createdb" -h "$dir/run" -p "$PG_PORT" -U portcullis portcullis
}

# The running server's durability settings, as "fsync=on synchronous_commit=on full_page_writes=on".
pg_durability() {
  local dir="$LOCAL/postgres" owner=postgres
  [ "$(id -u)" = 0 ] || owner="$(id -un)"
  as_user "$owner" "$PG_BIN/psql" -h "$dir/run" -p "$PG_PORT" -U portcullis -d postgres -tA -F '=' -c \
    "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY array_position(ARRAY['fsync','synchronous_commit','full_page_writes'], name::text)" \
    | paste -sd ' '
}

# The fault suite crashes the servers it started; never the shared ones on the default ports.
crash_guard() {
  [ "$PG_PORT" != 24432 ] && [ "$AMQP_PORT" != 24672 ] \
    || die "$1 is refused on the default ports (24432, 24672): other test runs share those servers. Set PORTCULLIS_PG_PORT, PORTCULLIS_AMQP_PORT, ... and PORTCULLIS_LOCAL for servers of your own"
}

kill_postgres() {
  crash_guard kill-postgres
  local dir="$LOCAL/postgres" owner=postgres
  [ "$(id -u)" = 0 ] || owner="$(id -un)"
  as_user "$owner" "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null && log "PostgreSQL stopped in immediate mode"
}

kill_rabbitmq() {
  crash_guard kill-rabbitmq
  local pid; pid="$(cat "$LOCAL/rabbitmq/rabbitmq.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || die "no RabbitMQ node pid in $LOCAL/rabbitmq/rabbitmq.pid"
  kill -9 "$pid" && log "RabbitMQ node $pid killed (SIGKILL)"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

stop_postgres() {
  local dir="$LOCAL/postgres" owner=postgres
  [ "$(id -u)" = 0 ] || owner="$(id -un)"
  [ -s "$dir/data/PG_VERSION" ] || return 0
  as_user "$owner" "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 && log "PostgreSQL stopped" || true
}

rabbit() { # rabbit OWNER COMMAND ARGS...: a RabbitMQ tool with our node's environment
  local owner="$1" dir="$LOCAL/rabbitmq"; shift
  as_user "$owner" env HOME="$dir/home" \
    RABBITMQ_NODENAME="portcullis@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$AMQP_PORT" \
    RABBITMQ_DIST_PORT="$DIST_PORT" ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_CONFIG_FILE="$dir/rabbitmq" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    "$@"
}

start_rabbitmq() {
  local dir="$LOCAL/rabbitmq" owner=rabbitmq
  [ "$(id -u)" = 0 ] || owner="$(id -un)"
  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log" "$LOCAL/secrets"
  local password; password="$(secret "$LOCAL/secrets/rabbitmq-password")"
  [ -f "$dir/enabled_plugins" ] || echo '[].' > "$dir/enabled_plugins"
  : > "$dir/rabbitmq-env.conf"
  # The default user is created on first boot only; loopback only, so the password never leaves here.
  cat > "$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
default_user = portcullis
default_pass = $password
loopback_users = none
log.file.level = warning
CONF
  chmod 600 "$dir/rabbitmq.conf"
  chown -R "$owner" "$dir"
  if rabbit "$owner" "$RABBIT_BIN/rabbitmqctl" -q status >/dev/null 2>&1; then
    log "RabbitMQ already running on 127.0.0.1:$AMQP_PORT"
    return 0
  fi
  check_port "$AMQP_PORT" "RabbitMQ (AMQP)"; check_port "$DIST_PORT" "RabbitMQ (Erlang distribution)"
  log "starting RabbitMQ on 127.0.0.1:$AMQP_PORT"
  rabbit "$owner" "$RABBIT_BIN/rabbitmq-server" -detached >"$dir/log/start.log" 2>&1 || true
  local i
  for i in $(seq 1 90); do
    if rabbit "$owner" "$RABBIT_BIN/rabbitmqctl" -q await_startup --timeout 2 >/dev/null 2>&1; then
      log "RabbitMQ ready"; return 0
    fi
    sleep 1
  done
  tail -n 30 "$dir/log/"*.log >&2 || true
  die "RabbitMQ did not start in 90 s (logs: $dir/log)"
}

stop_rabbitmq() {
  local dir="$LOCAL/rabbitmq" owner=rabbitmq
  [ "$(id -u)" = 0 ] || owner="$(id -un)"
  [ -d "$dir/mnesia" ] || return 0
  rabbit "$owner" "$RABBIT_BIN/rabbitmqctl" -q stop >/dev/null 2>&1 && log "RabbitMQ stopped" || true
  # epmd was started on our own port for this node only; another node's epmd (another port, in its
  # environment, not its command line) is left alone.
  local pid
  for pid in $(pgrep -u "$owner" -x epmd 2>/dev/null || true); do
    if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "ERL_EPMD_PORT=$EPMD_PORT"; then kill "$pid" 2>/dev/null || true; fi
  done
}

write_env() {
  local pg; pg="$(cat "$LOCAL/secrets/postgres-password")"
  local mq; mq="$(cat "$LOCAL/secrets/rabbitmq-password")"
  (umask 077; cat > "$LOCAL/servers.env" <<ENV
export PORTCULLIS_POSTGRES='Host=127.0.0.1;Port=$PG_PORT;Database=portcullis;Username=portcullis;Password=$pg'
export PORTCULLIS_RABBITMQ='amqp://portcullis:$mq@127.0.0.1:$AMQP_PORT/'
ENV
  )
}

# A clean slate for each test run, beside whatever the demo stack uses: its own vhost (no stale queues)
# and its own database (no stale streams).
test_env() {
  local owner=rabbitmq pg_owner=postgres dir="$LOCAL/postgres"
  [ "$(id -u)" = 0 ] || { owner="$(id -un)"; pg_owner="$(id -un)"; }
  local name="${PORTCULLIS_TEST_NAME:-}"
  [[ "$name" =~ ^[a-z0-9]*$ ]] || die "PORTCULLIS_TEST_NAME must be lower-case letters and digits"
  local vhost=portcullis-tests db=portcullis_tests file="$LOCAL/servers-tests.env"
  [ -z "$name" ] || { vhost="$vhost-$name"; db="${db}_$name"; file="$LOCAL/servers-tests-$name.env"; }
  rabbit "$owner" "$RABBIT_BIN/rabbitmqctl" -q delete_vhost "$vhost" >/dev/null 2>&1 || true
  rabbit "$owner" "$RABBIT_BIN/rabbitmqctl" -q add_vhost "$vhost" >/dev/null
  rabbit "$owner" "$RABBIT_BIN/rabbitmqctl" -q set_permissions -p "$vhost" portcullis '.*' '.*' '.*' >/dev/null
  as_user "$pg_owner" "$PG_BIN/dropdb" -h "$dir/run" -p "$PG_PORT" -U portcullis --if-exists --force "$db"
  as_user "$pg_owner" "$PG_BIN/createdb" -h "$dir/run" -p "$PG_PORT" -U portcullis "$db"
  local pg mq; pg="$(cat "$LOCAL/secrets/postgres-password")"; mq="$(cat "$LOCAL/secrets/rabbitmq-password")"
  (umask 077; cat > "$file" <<ENV
export PORTCULLIS_POSTGRES='Host=127.0.0.1;Port=$PG_PORT;Database=$db;Username=portcullis;Password=$pg'
export PORTCULLIS_RABBITMQ='amqp://portcullis:$mq@127.0.0.1:$AMQP_PORT/$vhost'
ENV
  )
  log "test vhost and database ready"
}

case "${1:-}" in
  install) shift; install "$@" ;;
  start)
    case "${2:-}" in
      --relaxed) DURABILITY=relaxed ;;
      "") ;;
      *) die "start takes only --relaxed" ;;
    esac
    install; start_postgres; start_rabbitmq; write_env ;;
  stop) stop_rabbitmq; stop_postgres ;;
  durability) pg_durability ;;
  kill-postgres) kill_postgres ;;
  kill-rabbitmq) kill_rabbitmq ;;
  test-env) test_env ;;
  *) echo "usage: $0 install [PACKAGE...]|start [--relaxed]|stop|durability|kill-postgres|kill-rabbitmq|test-env" >&2; exit 2 ;;
esac
