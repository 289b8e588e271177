"""Every dashboard SolarWater ships, by base uid; each builds in Portuguese or English."""

from __future__ import annotations

from collections.abc import Callable

from grafanalib.core import Dashboard

from dashboards import alerts, collector_health, fleet, station, water
from devices.fieldinfo import Lang

BUILDERS: dict[str, Callable[[Lang], Dashboard]] = {
    fleet.UID: fleet.build,
    station.UID: station.build,
    water.UID: water.build,
    alerts.UID: alerts.build,
    collector_health.UID: collector_health.build,
}
