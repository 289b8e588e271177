#!/bin/sh
# Manage a station's MQTT login on the stations' listener (8883): username = station id, which
# the broker also makes the client id. The ACL's `pattern write solarwater/%u/...` then lets it
# publish under its own id only.
#
#   deploy/add-station.sh PEMBA-03             # new login, into the running compose stack
#   deploy/add-station.sh --rotate PEMBA-03    # new password (the old one stops working)
#   deploy/add-station.sh --revoke PEMBA-03    # remove the login
#   deploy/add-station.sh --passwd-file FILE [--rotate|--revoke] ID   # your own broker's file
#
# A new password is random (or $STATION_PASSWORD) and printed once: put it into the station's
# device configuration. The broker reloads (SIGHUP) and drops a connection whose login is gone.
set -eu
usage() {
  echo "usage: $0 [--passwd-file FILE] [--rotate | --revoke] STATION_ID" >&2
  exit 2
}
fail() { echo "$0: $1" >&2; exit "${2:-1}"; }
FILE=""
ACTION=add
while [ $# -gt 1 ]; do
  case "$1" in
    --passwd-file) [ $# -ge 3 ] || usage; FILE=$2; shift 2 ;;
    --rotate) ACTION=rotate; shift ;;
    --revoke) ACTION=revoke; shift ;;
    *) usage ;;
  esac
done
[ $# -eq 1 ] || usage
ID=$1
case "$ID" in -*) usage ;; esac
if ! printf '%s' "$ID" | grep -Eq '^[A-Za-z0-9_-]{1,64}$'; then
  fail "station id '$ID' must match [A-Za-z0-9_-]{1,64} (the topic id rule)" 2
fi
# service logins and the collector's client ids (solarwater...) are never station logins
case "$(printf '%s' "$ID" | tr '[:upper:]' '[:lower:]')" in
  collector | simulator | alerts | solarwater*)
    fail "'$ID' is reserved (collector, simulator, alerts, solarwater...)" 2 ;;
esac

STATIONS=/mosquitto/auth/stations.passwd
if [ -n "$FILE" ]; then
  has_login() { [ -f "$FILE" ] && grep -q "^$ID:" "$FILE"; }
  write_login() {
    [ -f "$FILE" ] || : > "$FILE"
    chmod 0600 "$FILE"
    mosquitto_passwd "$@" "$FILE" "$ID" ${PASSWORD:+"$PASSWORD"}
  }
  reload() { echo "reload the broker (kill -HUP its pid) to apply"; }
else
  has_login() { docker compose exec -T mosquitto grep -q "^$ID:" "$STATIONS"; }
  # mosquitto_passwd runs as root in the container; the broker reads the file as mosquitto
  write_login() {
    docker compose exec -T mosquitto sh -c \
      'f=$1; shift; mosquitto_passwd "$@" && chown mosquitto:mosquitto "$f" && chmod 0600 "$f"' \
      sh "$STATIONS" "$@" "$STATIONS" "$ID" ${PASSWORD:+"$PASSWORD"}
  }
  reload() { docker compose kill -s SIGHUP mosquitto >/dev/null && echo "broker reloaded"; }
fi

PASSWORD=""
case "$ACTION" in
  add)
    ! has_login || fail "$ID already has a login; use --rotate for a new password"
    PASSWORD=${STATION_PASSWORD:-$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')}
    write_login -b
    echo "added $ID" ;;
  rotate)
    has_login || fail "$ID has no login to rotate; add it first"
    PASSWORD=${STATION_PASSWORD:-$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')}
    write_login -b
    echo "new password for $ID; the old one no longer works" ;;
  revoke)
    has_login || fail "$ID has no login to revoke"
    write_login -D
    echo "revoked $ID" ;;
esac
reload
if [ "$ACTION" != revoke ] && [ -z "${STATION_PASSWORD:-}" ]; then
  echo "username: $ID  password: $PASSWORD"
fi
