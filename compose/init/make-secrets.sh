#!/bin/sh
# Runs once in the secrets-init container: the demo targets' credentials, which only the gateway (through
# its Dapr secret store) and the targets themselves get. Kept on the "demo-secrets" volume; a second run
# keeps what exists.
set -eu
apk add --no-cache openssl openssh-keygen >/dev/null
cd /secrets
[ -s demo-db-password ] || openssl rand -hex 24 > demo-db-password
[ -s demo-api-key ] || openssl rand -hex 24 > demo-api-key
mkdir -p ssh
[ -f ssh/host_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -C portcullis-demo-host -f ssh/host_ed25519
[ -f ssh/gateway_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -C portcullis-gateway -f ssh/gateway_ed25519
cp ssh/gateway_ed25519.pub ssh/authorized_keys
# The gateway's PostgreSQL port offers TLS with this self-signed demo certificate (clients use sslmode=require).
mkdir -p tls
[ -s tls/wire-key.pem ] || openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=gateway" \
  -keyout tls/wire-key.pem -out tls/wire-cert.pem 2>/dev/null
fingerprint="$(ssh-keygen -l -E sha256 -f ssh/host_ed25519.pub | cut -d' ' -f2)"
key="$(sed ':a;N;$!ba;s/\n/\\n/g' ssh/gateway_ed25519)"
cat > gateway-secrets.json <<JSON
{ "DEMO_DB_PASSWORD": "$(cat demo-db-password)", "DEMO_API_KEY": "$(cat demo-api-key)",
  "DEMO_SSH_KEY": "$key", "DEMO_SSH_HOST_KEY": "$fingerprint" }
JSON
# Readable by the containers' non-root users (the volume is mounted only where these are needed).
chmod 0644 gateway-secrets.json demo-db-password demo-api-key ssh/authorized_keys ssh/host_ed25519.pub tls/wire-cert.pem tls/wire-key.pem
chmod 0600 ssh/host_ed25519 ssh/gateway_ed25519
echo "demo secrets ready"
