#!/bin/sh
# Start Mosquitto with the password file kept in the `mosquitto-auth` volume: the collector's
# (and, with the `sim` profile, the simulator's) password comes from .env on every start;
# station entries are added with deploy/add-station.sh and survive restarts.
set -eu
AUTH=/mosquitto/auth/passwd
mkdir -p /mosquitto/auth
[ -f "$AUTH" ] || : > "$AUTH"
chmod 0600 "$AUTH"
: "${MQTT_COLLECTOR_PASSWORD:?MQTT_COLLECTOR_PASSWORD is not set (see .env.example)}"
mosquitto_passwd -b "$AUTH" collector "$MQTT_COLLECTOR_PASSWORD"
if [ -n "${MQTT_SIMULATOR_PASSWORD:-}" ]; then
  mosquitto_passwd -b "$AUTH" simulator "$MQTT_SIMULATOR_PASSWORD"
fi
chown -R mosquitto:mosquitto /mosquitto/auth /mosquitto/data
exec /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
