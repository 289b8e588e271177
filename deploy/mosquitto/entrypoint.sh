#!/bin/sh
# Start Mosquitto for SolarWater. On every start: the service logins are rebuilt from the
# environment (a login .env no longer names is gone), the station logins (deploy/add-station.sh)
# are kept, and the TLS files from deploy/make-certs.sh are made readable for the broker's user.
# MOSQUITTO_ROOT and MOSQUITTO_BIN exist for tests/test_broker_entrypoint.py.
set -eu
ROOT=${MOSQUITTO_ROOT:-/mosquitto}
AUTH=$ROOT/auth
CERTS=$ROOT/certs
TLS=$ROOT/tls
fail() { echo "mosquitto entrypoint: $*" >&2; exit 1; }

for f in ca.crt server.crt server.key; do
  [ -f "$CERTS/$f" ] && [ -s "$CERTS/$f" ] \
    || fail "$CERTS/$f is missing: run deploy/make-certs.sh on the host first"
done
# Mosquitto reads the key after dropping to user mosquitto, and the host's key is 0600 for
# whoever ran make-certs.sh: a private copy owned by mosquitto.
mkdir -p "$TLS"
cp "$CERTS/ca.crt" "$CERTS/server.crt" "$CERTS/server.key" "$TLS/"
chmod 0600 "$TLS/server.key"

: "${MQTT_COLLECTOR_PASSWORD:?MQTT_COLLECTOR_PASSWORD is not set (see .env.example)}"
mkdir -p "$AUTH" "$ROOT/data"
umask 077
SERVICES=$AUTH/services.passwd
: > "$SERVICES.new"
mosquitto_passwd -b "$SERVICES.new" collector "$MQTT_COLLECTOR_PASSWORD"
# only `docker compose --profile sim` sets it; without it there is no simulator login at all
if [ -n "${MQTT_SIMULATOR_PASSWORD:-}" ]; then
  mosquitto_passwd -b "$SERVICES.new" simulator "$MQTT_SIMULATOR_PASSWORD"
  echo "mosquitto entrypoint: the simulator login is on (test deployments only)" >&2
fi
mv "$SERVICES.new" "$SERVICES"

STATIONS=$AUTH/stations.passwd
if [ ! -f "$STATIONS" ] && [ -f "$AUTH/passwd" ]; then
  # the one shared file of earlier versions: its stations move over, the service logins do not
  grep -Ev '^(collector|simulator):' "$AUTH/passwd" > "$STATIONS" || true
  rm -f "$AUTH/passwd"
fi
[ -f "$STATIONS" ] || : > "$STATIONS"
chmod 0600 "$STATIONS" "$SERVICES"
chown -R mosquitto:mosquitto "$AUTH" "$TLS" "$ROOT/data"
exec "${MOSQUITTO_BIN:-/usr/sbin/mosquitto}" -c "$ROOT/config/mosquitto.conf"
