#!/bin/sh
# Give a station its MQTT login: username = station id, a new random password (or
# $STATION_PASSWORD). The ACL's `pattern write solarwater/%u/...` then lets it publish
# under its own id only.
#
#   deploy/add-station.sh PEMBA-03                  # into the running compose stack
#   deploy/add-station.sh --passwd-file FILE ID     # into a password file of your own broker
#
# Prints the password once: put it into the station's device configuration.
set -eu
usage() { echo "usage: $0 [--passwd-file FILE] STATION_ID" >&2; exit 2; }
FILE=""
if [ "${1:-}" = "--passwd-file" ]; then
  [ $# -ge 2 ] || usage
  FILE=$2
  shift 2
fi
[ $# -eq 1 ] || usage
ID=$1
if ! printf '%s' "$ID" | grep -Eq '^[A-Za-z0-9_-]{1,64}$'; then
  echo "$0: station id '$ID' must match [A-Za-z0-9_-]{1,64} (the topic id rule)" >&2
  exit 2
fi
case "$ID" in
  collector|simulator|alerts)
    echo "$0: '$ID' is reserved for the collector, the simulator or the alert topics" >&2
    exit 2 ;;
esac
PASSWORD=${STATION_PASSWORD:-$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')}
if [ -n "$FILE" ]; then
  [ -f "$FILE" ] || : > "$FILE"
  chmod 0600 "$FILE"
  mosquitto_passwd -b "$FILE" "$ID" "$PASSWORD"
  echo "added $ID to $FILE; reload the broker (kill -HUP its pid) to apply"
else
  docker compose exec -T mosquitto mosquitto_passwd -b /mosquitto/auth/passwd "$ID" "$PASSWORD"
  docker compose kill -s SIGHUP mosquitto >/dev/null
  echo "added $ID to the broker's password file and reloaded it"
fi
[ -n "${STATION_PASSWORD:-}" ] || echo "username: $ID  password: $PASSWORD"
