#!/usr/bin/env bash
# Publishes one service for running: the same command for the local stack (scripts/stack.sh) and for every
# container image (services/*/Dockerfile), so what runs locally is what an image runs.
# Usage: scripts/publish.sh <project folder, e.g. services/gateway> <output folder>
set -euo pipefail
project="${1:?usage: scripts/publish.sh <project folder> <output folder>}"
output="${2:?usage: scripts/publish.sh <project folder> <output folder>}"
exec dotnet publish "$project" -c Release -o "$output" --nologo -v q -clp:ErrorsOnly -p:UseAppHost=false
