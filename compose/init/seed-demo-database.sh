#!/bin/sh
# Runs once in the demo-seed container (the postgres image): the demo database the agents query, with a
# login of its own whose password only the gateway's secret store holds. The same SQL as the local stack.
set -eu
export PGPASSWORD="$POSTGRES_PASSWORD"
psql="psql -h postgres -U portcullis -v ON_ERROR_STOP=1 -q"
$psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='portcullis_demo'" | grep -q 1 \
  || $psql -d postgres -c "CREATE DATABASE portcullis_demo"
sed 's/{{agent_role}}/portcullis_demo_agent/g' /seed/demo-database.sql | $psql -d portcullis_demo >/dev/null
$psql -d portcullis_demo -c "ALTER ROLE portcullis_demo_agent PASSWORD '$(cat /secrets/demo-db-password)'" >/dev/null
echo "demo database portcullis_demo seeded"
