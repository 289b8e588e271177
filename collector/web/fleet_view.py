"""What the station list shows: each station's state, figures and alerts, most urgent first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collector.alerts.model import Alert
from collector.alerts.service import AlertService
from collector.web.influxql import InfluxQL
from devices.stations import Station

# most urgent first; within a state, lower battery first
STATES = ("alerting", "silent", "stale", "ok")
SILENT_RULE = "station_silent"
WEEK_MS = 7 * 86400 * 1000


@dataclass(slots=True)
class StationView:
    """One station as the pages show it; a figure not known is None (shown as "—")."""

    station: Station
    state: str = "ok"
    battery_pct: float | None = None
    battery_days: float | None = None
    water_days: float | None = None
    last_seen_ms: int | None = None
    alerts: list[Alert] = field(default_factory=list)

    def urgency(self) -> tuple[int, int, float, str]:
        critical = any(a.severity == "critical" for a in self.alerts)
        battery = self.battery_pct if self.battery_pct is not None else 101.0
        return (STATES.index(self.state), 0 if critical else 1, battery, self.station.id)


def silence_cause(a: Alert) -> str | None:
    """The cause stored with a silent-station alert, when the alert carries one."""
    # recorded by the alert engine where it can tell (power, GSM); other alerts have none
    return a.cause


def now_ms(svc: AlertService) -> int:
    """Fleet time when known (a backlog or a fast simulation runs on device time), else wall."""
    wall = int(svc.clock() * 1000)
    return svc.fleet_now if svc.fleet_now is not None else wall


def _state(alerts: list[Alert], last_seen: int | None, now: int, stale_ms: int) -> str:
    if any(a.rule != SILENT_RULE for a in alerts):
        return "alerting"
    if alerts:
        return "silent"
    if last_seen is None or now - last_seen > stale_ms:
        return "stale"
    return "ok"


async def station_views(
    svc: AlertService, influx: InfluxQL, stations: list[Station]
) -> list[StationView]:
    """The views of `stations`, most urgent first; two InfluxQL statements for all of them."""
    now = now_ms(svc)
    since = now - WEEK_MS
    battery, forecast = await influx.query(
        f"SELECT last(battery_soc_pct) AS v FROM solar WHERE time > {since}ms GROUP BY station",
        "SELECT last(battery_days) AS battery_days, last(water_days) AS water_days "
        f"FROM forecast WHERE time > {since}ms GROUP BY station",
    )
    soc = {s.tags.get("station", ""): _num(s.rows[0].get("v")) for s in battery if s.rows}
    fc: dict[str, dict[str, Any]] = {
        s.tags.get("station", ""): s.rows[0] for s in forecast if s.rows
    }
    by_station: dict[str, list[Alert]] = {}
    for a in svc.active.values():
        if a.state == "firing":
            by_station.setdefault(a.station, []).append(a)
    stale_ms = int(svc.settings.stale_after * 1000)
    views = []
    for st in stations:
        alerts = sorted(by_station.get(st.id, []), key=lambda a: (a.severity != "critical", a.id))
        seen = svc.engine.seen.get(st.id)
        f = fc.get(st.id, {})
        views.append(
            StationView(
                st,
                _state(alerts, seen, now, stale_ms),
                soc.get(st.id),
                _num(f.get("battery_days")),
                _num(f.get("water_days")),
                seen,
                alerts,
            )
        )
    return sorted(views, key=StationView.urgency)


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
