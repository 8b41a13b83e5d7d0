#!/usr/bin/env bash
# Runs every test: unit tests, end-to-end tests against a real RabbitMQ and PostgreSQL, and the fault suite's
# short run (PORTCULLIS_SKIP_FAULTS=1 leaves it out). Where a Docker
# engine answers, the test fixtures start them with Testcontainers; otherwise this script starts them from
# Debian's packages (scripts/servers.sh) and hands their addresses to the fixtures. Ends with one line:
#   tests: N passed, N failed[, N skipped]
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="${PORTCULLIS_LOCAL:-$ROOT/.local}"
mkdir -p "$LOCAL"
log() { printf '[test] %s\n' "$*" >&2; }

if command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1; then
  log "a Docker engine answers: the fixtures start RabbitMQ and PostgreSQL with Testcontainers"
  unset PORTCULLIS_RABBITMQ PORTCULLIS_POSTGRES
else
  log "no Docker engine: starting local PostgreSQL and RabbitMQ (scripts/servers.sh)"
  # Relaxed durability (fsync off) is for test fixtures only: these runs never crash the server.
  "$ROOT/scripts/servers.sh" start --relaxed || { echo "tests: 0 passed, 1 failed"; exit 1; }
  "$ROOT/scripts/servers.sh" test-env || { echo "tests: 0 passed, 1 failed"; exit 1; }
  # shellcheck disable=SC1091
  . "$LOCAL/servers-tests${PORTCULLIS_TEST_NAME:+-$PORTCULLIS_TEST_NAME}.env"
fi

output="$LOCAL/test-output${PORTCULLIS_TEST_NAME:+-$PORTCULLIS_TEST_NAME}.log"
log "dotnet test Platform.sln (output also in $output)"
dotnet test "$ROOT/Platform.sln" --nologo "$@" 2>&1 | tee "$output"
status=${PIPESTATUS[0]}

# Sum the per-assembly summaries ("Passed!  - Failed: 0, Passed: 12, Skipped: 0, Total: 12, ...").
sum() { grep -E '^(Passed|Failed)!' "$output" | grep -oE "$1: +[0-9]+" | awk '{ n += $2 } END { print n + 0 }'; }
passed=$(sum Passed); failed=$(sum Failed); skipped=$(sum Skipped)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; log "dotnet test failed before or outside the tests (see above)"; fi

# The fault suite's short run (docs/faults.md): after the tests, on servers of its own (it crashes them), one test.
if [ "${PORTCULLIS_SKIP_FAULTS:-0}" != 1 ]; then
  log "fault suite, short run (scripts/faults.sh --short; output also in $LOCAL/faults-output.log)"
  "$ROOT/scripts/faults.sh" --short 2>&1 | tee "$LOCAL/faults-output.log"
  if [ "${PIPESTATUS[0]}" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
fi
# Name the failed tests last, next to the summary, so the tail of a CI log says which they were.
if grep -qE '^\s*Failed [A-Za-z_]' "$output"; then
  log "failed tests:"
  grep -E '^\s*Failed [A-Za-z_]' "$output" | sed -E 's/^\s*Failed /  /' | sort -u | head -20 >&2
fi
line="tests: $passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
exit "$status"
