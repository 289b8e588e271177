#!/bin/bash
# Runs once, right after the influxdb:2.7 image's first-start setup: maps the InfluxQL database
# `solarwater` (retention policy autogen) to the bucket, so Grafana's InfluxQL queries and
# InfluxDB 1.x-style clients find the data (design §4, §8); and makes the bucket of the alert
# transitions, kept for ever whatever the readings' retention, mapped as retention policy
# `events` (the collector's influx.events_bucket, docs/operations.md).
set -euo pipefail
org=${DOCKER_INFLUXDB_INIT_ORG}
bucket=${DOCKER_INFLUXDB_INIT_BUCKET}
bucket_id=${DOCKER_INFLUXDB_INIT_BUCKET_ID:-}
if [ -z "$bucket_id" ]; then
  bucket_id=$(influx bucket list --org "$org" --name "$bucket" --hide-headers | cut -f1)
fi
influx v1 dbrp create --org "$org" --bucket-id "$bucket_id" \
  --db "${INFLUXQL_DATABASE:-solarwater}" --rp autogen --default
events_id=$(influx bucket create --org "$org" --name "${bucket}_events" --retention 0 \
  --hide-headers | cut -f1)
influx v1 dbrp create --org "$org" --bucket-id "$events_id" \
  --db "${INFLUXQL_DATABASE:-solarwater}" --rp events
