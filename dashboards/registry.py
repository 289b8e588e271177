"""Every dashboard SolarWater ships, by uid."""

from __future__ import annotations

from collections.abc import Callable

from grafanalib.core import Dashboard

from dashboards import alerts, collector_health, fleet, station, water

BUILDERS: dict[str, Callable[[], Dashboard]] = {
    fleet.UID: fleet.build,
    station.UID: station.build,
    water.UID: water.build,
    alerts.UID: alerts.build,
    collector_health.UID: collector_health.build,
}
