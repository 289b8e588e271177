"""Grafana dashboards of SolarWater, written with grafanalib, and their provisioning files."""
