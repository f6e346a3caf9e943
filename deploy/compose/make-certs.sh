#!/usr/bin/env bash
# Internal TLS for docker compose (issue #20): a private CA and server certificates for
# PostgreSQL, RabbitMQ and auth-service (its JWKS), signed by that CA. The services trust only
# this CA for those links (CHAT_DATABASE_CA_FILE, CHAT_AMQP_CA_FILE, CHAT_JWKS_CA_FILE) and check
# the server's name (verify-full).
#
#   deploy/compose/make-certs.sh [DIR]      DIR: default ./var/internal-tls (CHAT_INTERNAL_TLS_DIR)
#
# Writes DIR/ca.crt (public: what the clients trust), DIR/ca.key (keep it, or delete it and run
# this again to renew everything), and DIR/<name>.crt + DIR/<name>.key for postgres, rabbitmq and
# auth-service. Existing files are kept: delete DIR to start over. Certificates last 825 days;
# renew before then (delete DIR, run again, `docker compose up -d --force-recreate`).
set -euo pipefail

dir="${1:-${CHAT_INTERNAL_TLS_DIR:-./var/internal-tls}}"
days=825
mkdir -p "$dir"
cd "$dir"

if [[ ! -f ca.key ]]; then
  openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days "$days" \
    -subj "/CN=chat internal CA" -keyout ca.key -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

issue() {
  local name="$1" sans="$2"
  [[ -f "$name.crt" && -f "$name.key" ]] && return
  openssl req -newkey rsa:3072 -nodes -sha256 -subj "/CN=$name" -keyout "$name.key" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
    -days "$days" -out "$name.crt" -extfile <(printf '%s\n' \
      "subjectAltName=$sans" \
      "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth")
  rm -f "$name.csr"
}

# The names the services connect to on the compose network, and localhost for healthchecks.
issue postgres "DNS:postgres,DNS:localhost,IP:127.0.0.1"
issue rabbitmq "DNS:rabbitmq,DNS:localhost,IP:127.0.0.1"
issue auth-service "DNS:auth-service,DNS:localhost,IP:127.0.0.1"

# PostgreSQL and RabbitMQ copy their key into place with their own owner and mode 0600 at start
# (docker-compose.yml); auth-service (uid 10001) reads its key through the mount. So server keys
# are 0644 here: keep this directory on a host where only operators log in. The CA key signs
# nothing at run time: move it offline if you like (renewing needs it, or a new CA).
chmod 0644 ./*.crt postgres.key rabbitmq.key auth-service.key
chmod 0600 ca.key
echo "internal TLS files in $(pwd): ca.crt, {postgres,rabbitmq,auth-service}.{crt,key}"
