"""Downsampling on InfluxDB 1.x: retention policies, hourly continuous queries, backfill."""
