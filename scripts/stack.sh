#!/usr/bin/env bash
# The local Portcullis stack without Docker: PostgreSQL and RabbitMQ (scripts/servers.sh), the development
# OpenID provider, the five services and the demo upstream, all on loopback.
#   scripts/stack.sh up       build, start everything, print the gateway URL and a working curl line
#   scripts/stack.sh down     stop everything
#   scripts/stack.sh status   what is running
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="${PORTCULLIS_LOCAL:-$ROOT/.local}"
CONFIGURATION="${CONFIGURATION:-Release}"
RUN="$LOCAL/run"; LOGS="$LOCAL/logs"
GATEWAY_URL="http://127.0.0.1:5000"; ISSUER="http://127.0.0.1:5100/"

# name port project-folder assembly
SERVICES=(
  "identity 5100 services/identity Portcullis.Identity"
  "demo 5180 services/demo Portcullis.Demo"
  "policy 5101 services/policy Portcullis.Policy"
  "masking 5102 services/masking Portcullis.Masking"
  "approval 5103 services/approval Portcullis.Approval"
  "audit 5104 services/audit Portcullis.Audit"
  "gateway 5000 services/gateway Portcullis.Gateway"
)

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

docker_engine() { command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1; }

secret() { [ -s "$1" ] || (umask 077; openssl rand -hex 24 > "$1"); cat "$1"; }

write_identity_config() {
  mkdir -p "$LOCAL/identity" "$LOCAL/secrets"
  local agent auditor
  agent="$(secret "$LOCAL/secrets/demo-agent")"; auditor="$(secret "$LOCAL/secrets/demo-auditor")"
  (umask 077; cat > "$LOCAL/identity/identity.json" <<JSON
{ "Identity": {
    "Issuer": "$ISSUER",
    "SigningKeyPath": "$LOCAL/identity/signing-key.pem",
    "Clients": {
      "demo-agent":   { "Secret": "$agent",   "Groups": "agents" },
      "demo-auditor": { "Secret": "$auditor", "Groups": "auditors" }
    } } }
JSON
  )
}

start_service() {
  local name="$1" port="$2" folder="$3" assembly="$4"
  local dll="$ROOT/$folder/bin/$CONFIGURATION/net10.0/$assembly.dll"
  [ -f "$dll" ] || die "$dll is missing: the build did not produce it"
  if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
    log "$name already running"; return 0
  fi
  # shellcheck disable=SC1091
  ( set -a; . "$LOCAL/servers.env"; set +a
    export ConnectionStrings__RabbitMq="$PORTCULLIS_RABBITMQ" ConnectionStrings__Postgres="$PORTCULLIS_POSTGRES"
    unset PORTCULLIS_RABBITMQ PORTCULLIS_POSTGRES
    export DOTNET_ENVIRONMENT=Development ASPNETCORE_ENVIRONMENT=Development
    export Portcullis__ConfigPath="$ROOT/portcullis.yaml"
    export Auth__Authority="$ISSUER" Auth__RequireHttpsMetadata=false
    export Identity__ConfigFile="$LOCAL/identity/identity.json"
    cd "$ROOT/$folder"
    exec dotnet "$dll" --urls "http://127.0.0.1:$port" ) >"$LOGS/$name.log" 2>&1 &
  echo $! > "$RUN/$name.pid"
}

wait_ready() {
  local name="$1" port="$2" path="/health/ready" i
  [ "$name" = demo ] && path="/health/live"
  for i in $(seq 1 60); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port$path" 2>/dev/null; then log "$name ready on :$port"; return 0; fi
    if ! kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
      tail -n 30 "$LOGS/$name.log" >&2; die "$name exited during start-up (log: $LOGS/$name.log)"
    fi
    sleep 1
  done
  tail -n 30 "$LOGS/$name.log" >&2; die "$name was not ready within 60 s (log: $LOGS/$name.log)"
}

up() {
  if docker_engine && [ "${PORTCULLIS_NO_DOCKER:-}" = "" ]; then
    log "a Docker engine answers: docker compose -f compose/docker-compose.yml up is the other way to run; using local processes here"
  fi
  "$ROOT/scripts/servers.sh" start
  log "building ($CONFIGURATION)"
  dotnet build "$ROOT/Platform.sln" -c "$CONFIGURATION" -nologo -v q -clp:ErrorsOnly >&2 || die "build failed (errors above)"
  mkdir -p "$RUN" "$LOGS"
  write_identity_config
  local entry
  for entry in "${SERVICES[@]}"; do
    # shellcheck disable=SC2086
    set -- $entry
    start_service "$@"
    wait_ready "$1" "$2"
  done
  cat <<MSG

Portcullis is up. Gateway: $GATEWAY_URL   OpenID provider: $ISSUER   Audit: http://127.0.0.1:5104
Logs: $LOGS   Stop: make down

Try it (an agent's token, a customer record with its email masked, then a denied admin call):
  TOKEN=\$(curl -s -d grant_type=client_credentials -d client_id=demo-agent -d client_secret=\$(cat $LOCAL/secrets/demo-agent) ${ISSUER}connect/token | tr -d '\n ' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s -H "Authorization: Bearer \$TOKEN" -H "X-Session-Id: demo-1" $GATEWAY_URL/http/demo/customers/1
  curl -s -H "Authorization: Bearer \$TOKEN" -H "X-Session-Id: demo-1" $GATEWAY_URL/http/demo/admin/config

The session's audit timeline (an auditor's token):
  AUDIT=\$(curl -s -d grant_type=client_credentials -d client_id=demo-auditor -d client_secret=\$(cat $LOCAL/secrets/demo-auditor) ${ISSUER}connect/token | tr -d '\n ' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s -H "Authorization: Bearer \$AUDIT" http://127.0.0.1:5104/sessions/demo-1
MSG
}

demo() {
  local token body
  token=$(curl -s -d grant_type=client_credentials -d client_id=demo-agent -d client_secret="$(cat "$LOCAL/secrets/demo-agent")" \
    "${ISSUER}connect/token" | tr -d '\n ' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  body=$(curl -s -H "Authorization: Bearer $token" -H "X-Session-Id: demo-1" "$GATEWAY_URL/http/demo/customers/1")
  log "demo: GET /http/demo/customers/1 -> $body"
  body=$(curl -s -H "Authorization: Bearer $token" -H "X-Session-Id: demo-1" "$GATEWAY_URL/http/demo/admin/config")
  log "demo: GET /http/demo/admin/config -> $body"
}

down() {
  local entry name
  for entry in "${SERVICES[@]}"; do
    name="${entry%% *}"
    if [ -f "$RUN/$name.pid" ]; then
      kill "$(cat "$RUN/$name.pid")" 2>/dev/null && log "$name stopped" || true
      rm -f "$RUN/$name.pid"
    fi
  done
  "$ROOT/scripts/servers.sh" stop
}

status() {
  local entry name
  for entry in "${SERVICES[@]}"; do
    name="${entry%% *}"
    if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then echo "$name: running"; else echo "$name: stopped"; fi
  done
}

case "${1:-}" in
  up) up; demo ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
