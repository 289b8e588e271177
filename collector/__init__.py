"""The SolarWater collector: MQTT telemetry in, validated points out to InfluxDB, alerts raised."""
