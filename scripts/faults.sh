#!/usr/bin/env bash
# The fault suite: the whole stack under steady agent load (/http, /sql, /exec) while each part crashes and is
# repaired, then a table of what the agents got and what the audit recorded, per fault.
#   scripts/faults.sh           every fault: SIGKILL of the gateway, policy, masking, approval and audit services,
#                               RabbitMQ killed, PostgreSQL stopped in immediate mode (about 6 minutes)
#   scripts/faults.sh --short   the audit, RabbitMQ and PostgreSQL (what CI runs, about 5 minutes)
#   scripts/faults.sh --only=RabbitMQ   the faults whose name contains the text
# It kills the servers it runs on, so it runs PostgreSQL and RabbitMQ of its own (durable settings, their own
# ports and folder, .local-faults/), never the shared ones; they are stopped at the end. Exit status 0 when
# every invariant held.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PORTCULLIS_LOCAL="${PORTCULLIS_FAULTS_LOCAL:-$ROOT/.local-faults}"
export PORTCULLIS_PG_PORT="${PORTCULLIS_FAULTS_PG_PORT:-26432}" PORTCULLIS_AMQP_PORT="${PORTCULLIS_FAULTS_AMQP_PORT:-26672}"
export PORTCULLIS_RABBIT_DIST_PORT="${PORTCULLIS_FAULTS_DIST_PORT:-26673}" PORTCULLIS_EPMD_PORT="${PORTCULLIS_FAULTS_EPMD_PORT:-26674}"
export PORTCULLIS_TEST_NAME=faults
log() { printf '[faults] %s\n' "$*" >&2; }

mkdir -p "$PORTCULLIS_LOCAL"
"$ROOT/scripts/servers.sh" start || { log "the suite's servers did not start"; exit 1; }
trap '"$ROOT/scripts/servers.sh" stop' EXIT
"$ROOT/scripts/servers.sh" test-env || exit 1
# shellcheck disable=SC1091
. "$PORTCULLIS_LOCAL/servers-tests-faults.env"
export PORTCULLIS_RABBITMQ PORTCULLIS_POSTGRES

# PORTCULLIS_FAULTS_BUILD=0: use what is built (dotnet test does not build this console project).
if [ "${PORTCULLIS_FAULTS_BUILD:-1}" != 0 ]; then
  log "dotnet build tests/Portcullis.Faults"
  dotnet build "$ROOT/tests/Portcullis.Faults" --nologo -v quiet >"$PORTCULLIS_LOCAL/build.log" 2>&1 \
    || { tail -n 30 "$PORTCULLIS_LOCAL/build.log" >&2; log "build failed"; exit 1; }
fi
dotnet "$ROOT/tests/Portcullis.Faults/bin/Debug/net10.0/Portcullis.Faults.dll" "$@"
