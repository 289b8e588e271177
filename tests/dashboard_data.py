"""A hand-made day of fleet data in InfluxDB, for dashboard values known in advance.

The dashboards are checked on the simulator's real default run (test_dashboards_queries.py);
this day covers what such a run does not produce: a collector restart (counters reset),
rejected readings by reason, a broken broker link, and alert episodes of exact lengths.
`ingest_fleet_day` writes 24 h of `solar` and `tank` readings from the simulator's pure station
model (clean scenario), the collector's own `station_info` lines, and alert, status and
collector points with known values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from collector.ingest.readings import Reading
from collector.stats_points import station_info_lines
from devices import schema
from devices.kind import FieldValue
from devices.lineprotocol import encode_line
from devices.stations import Fleet, load_fleet
from devstack import Influxd
from simulator.scenarios import build_scenario
from simulator.station_model import StationModel

# 00:00 in Maputo (UTC+2) on a rainy-season day, so the day's buckets and the rain both show.
START = datetime(2025, 1, 14, 22, 0, tzinfo=UTC)
DAY_MS = 86_400_000
READING_S = 300
COLLECTOR_S = 10
H_MS = 3_600_000
SEED = 11


@dataclass(frozen=True)
class AlertEpisode:
    """An alert that fires at `fired_h` and resolves at `resolved_h` (None: still firing)."""

    station_index: int
    rule: str
    severity: str
    fired_h: float
    resolved_h: float | None


# Resolved episodes last 1 h, 3 h and 2 h: mean time to resolve 2 h = 7200 s.
EPISODES = (
    AlertEpisode(0, "battery_low", "warning", 2.0, 3.0),
    AlertEpisode(1, "tank_low", "warning", 4.0, 7.0),
    AlertEpisode(2, "controller_fault", "critical", 10.0, 12.0),
    AlertEpisode(3, "battery_critical", "critical", 20.0, None),
    AlertEpisode(4, "tank_low", "warning", 21.0, None),
    AlertEpisode(5, "station_silent", "critical", 22.5, None),
)


@dataclass
class FleetDay:
    """What was ingested: the range to query and the facts to check."""

    db: str
    from_ms: int
    to_ms: int
    stations: list[str]
    offline: list[str] = field(default_factory=list)
    firing: list[tuple[str, str, str]] = field(default_factory=list)
    mttr_s: float = 0.0
    readings: int = 0


def _readings(stations: list[str], start_s: float, silent: str) -> list[str]:
    fleet = load_fleet()
    scenario = build_scenario("none", stations)
    lines: list[str] = []
    for st in fleet.stations:
        model = StationModel(st, SEED, scenario, interval_s=READING_S, start=start_s)
        for i in range(DAY_MS // 1000 // READING_S + 1):
            ts = start_s + i * READING_S
            values = model.step_devices(ts)
            # the silent station stops reporting 1.5 h before the end of the day
            if st.id == silent and ts - start_s > 22.5 * 3600:
                continue
            for dev in st.devices:
                fields = values[dev.id]
                reading = Reading(st.id, st.district, dev.kind, dev.id, int(ts * 1000), i, fields)
                lines.append(reading.to_line())
    return lines


def _alerts(stations: list[str], from_ms: int) -> tuple[list[str], list[tuple[str, str, str]]]:
    lines, firing = [], []
    for ep in EPISODES:
        station = stations[ep.station_index]
        tags = {"station": station, "rule": ep.rule, "severity": ep.severity}
        steps = [("firing", ep.fired_h, 10.0)]
        if ep.resolved_h is None:
            firing.append((station, ep.rule, ep.severity))
        else:
            steps.append(("resolved", ep.resolved_h, 60.0))
        for state, hour, value in steps:
            fields: dict[str, FieldValue] = {
                "state": state,
                "value": value,
                "message": f"{ep.rule} {state} at {station}",
            }
            lines.append(encode_line("alert", tags, fields, from_ms + int(hour * H_MS)))
    return lines, firing


def _collector(from_ms: int) -> list[str]:
    """A collector instance restarted once (counters reset) and briefly cut from the broker."""
    lines = []
    for i in range(DAY_MS // 1000 // COLLECTOR_S + 1):
        ts = from_ms + i * COLLECTOR_S * 1000
        n = i if i < 4000 else i - 4000  # restart at sample 4000
        disconnected = 6000 <= i < 6030
        fields: dict[str, FieldValue] = {
            "messages_received": 4 * n,
            "readings_received": 4 * n,
            "readings_written": 4 * n - n // 50,
            "readings_rejected": n // 50,
            "messages_rejected": n // 80,
            "write_errors": n // 1000,
            "batches_written": n,
            "seq_duplicates": n // 500,
            "seq_gaps": n // 700,
            "spool_replayed": 0 if n < 3000 else n - 3000,
            "notifications_sent": n // 400,
            "notifications_failed": n // 2000,
            "rejected_malformed_json": n // 100,
            "rejected_out_of_range": n // 100,
            "write_latency_ms": 12.5 + (i % 7),
            "write_latency_max_ms": 40.0 + (i % 13),
            "spool_bytes": 0.0 if not disconnected else 4096.0 * (i - 6000),
            "spool_readings": 0.0 if not disconnected else 8.0 * (i - 6000),
            "queue_depth": float(i % 5),
            "mqtt_connected": 0.0 if disconnected else 1.0,
            "alerts_active": 3.0,
            "stations_seen": 19.0,
        }
        lines.append(encode_line("collector", {"instance": "collector-1"}, fields, ts))
    return lines


def _clocks(fleet: Fleet, from_ms: int) -> list[str]:
    """Each device's clock offset every 10 minutes: one station's solar clock 2 h slow."""
    lines = []
    for st in fleet.stations:
        for dev in st.devices:
            off = 7200.0 if (st.id, dev.kind) == (fleet.stations[2].id, "solar") else 1.5
            tags = {"station": st.id, "device": dev.id, "district": st.district}
            fields: dict[str, FieldValue] = {"offset_s": off, "correction_s": off}
            for t in range(from_ms, from_ms + DAY_MS, 600_000):
                lines.append(encode_line("device_clock", tags, fields, t))
    return lines


def ingest_fleet_day(influxd: Influxd, db: str) -> FleetDay:
    """Write one day of the sample fleet's points into `db` (see the module docstring)."""
    fleet = load_fleet()
    stations = [s.id for s in fleet.stations]
    from_ms = int(START.timestamp() * 1000)
    to_ms = from_ms + DAY_MS
    silent = stations[5]
    readings = _readings(stations, START.timestamp(), silent)
    alert_lines, firing = _alerts(stations, from_ms)
    info = [
        line
        for t in range(from_ms, to_ms + 1, 15 * 60_000)
        for line in station_info_lines(fleet, t)
    ]
    status = [
        encode_line("station_status", {"station": s}, {"online": 1}, from_ms) for s in stations
    ]
    status.append(
        encode_line("station_status", {"station": silent}, {"online": 0}, from_ms + 23 * H_MS)
    )
    # the insight job's points: hourly forecasts falling a day per day, one completeness day
    insight = [
        encode_line(
            "forecast",
            {"station": s},
            {"battery_days": 6.0 - t / DAY_MS, "water_days": 9.0 - t / DAY_MS},
            from_ms + t,
        )
        for s in stations
        for t in range(0, DAY_MS, H_MS)
    ] + [
        encode_line(
            "completeness",
            {"station": s, "day": "2025-01-15"},  # START is local midnight
            {
                "expected": 864,
                "received": 864 if s != silent else 828,
                "pct": 100.0 if s != silent else 95.83,
            },
            from_ms,
        )
        for s in stations
    ]
    clocks = _clocks(fleet, from_ms)
    everything = readings + info + status + _collector(from_ms) + insight + clocks
    for i in range(0, len(everything), 5000):
        influxd.write(everything[i : i + 5000], db=db)
    influxd.write(alert_lines, db=db, rp=schema.EVENTS_RP)  # where the alert engine writes them
    durations = [
        (ep.resolved_h - ep.fired_h) * 3600 for ep in EPISODES if ep.resolved_h is not None
    ]
    return FleetDay(
        db=db,
        from_ms=from_ms,
        to_ms=to_ms,
        stations=stations,
        offline=[silent],
        firing=firing,
        mttr_s=sum(durations) / len(durations),
        readings=len(readings),
    )
