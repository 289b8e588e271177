"""Each station's state now, written as points so that dashboards show state, not transitions.

A dashboard that reads alert transitions inside its range loses an alert that fired before the
range and still holds, and shows a station dark for days as blank. The engine knows the state
of every station at every moment; it writes it every minute, and a panel reads the newest one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from collector.alerts.model import Alert
from devices import schema
from devices.lineprotocol import FieldValue, encode_line
from devices.stations import Fleet

State = Literal["ok", "warning", "stale", "critical", "silent"]
# the map's colour and the table's order: what a technician must look at first ranks highest
RANK: dict[State, int] = {"ok": 0, "warning": 1, "stale": 2, "critical": 3, "silent": 4}


def arriving(seen_ms: int | None, silent: bool, now_ms: int | None, stale_ms: int) -> bool:
    """Whether a station's readings are arriving: seen within staleness and not silent."""
    if silent or seen_ms is None or now_ms is None:
        return False
    return now_ms - seen_ms <= stale_ms


def judge(
    seen_ms: int | None, silent: bool, severities: Iterable[str], now_ms: int | None, stale_ms: int
) -> State:
    """The state of one station from its newest reading, its silence and its active alerts."""
    if silent:
        return "silent"
    sev = set(severities)
    if "critical" in sev:
        return "critical"
    # never seen, or quiet past staleness while no silence rule judges it: not green
    if not arriving(seen_ms, silent, now_ms, stale_ms):
        return "stale"
    return "warning" if sev else "ok"


def state_lines(
    fleet: Fleet,
    seen: Mapping[str, int],
    values: Mapping[str, Mapping[str, FieldValue]],
    silent: set[str],
    active: Iterable[Alert],
    now_ms: int | None,
    stale_ms: int,
    wall_ms: int,
) -> list[str]:
    """One `station_state` point per registered or seen station, stamped with the wall clock.

    Besides the state it carries the newest value of each fleet-board field (`chart.fleet` in
    the catalogue), so the fleet table reads one measurement: InfluxQL 1.x keeps the rows of
    different measurements apart and cannot join them into one row per station.
    """
    by_station: dict[str, list[str]] = {}
    for a in active:
        by_station.setdefault(a.station, []).append(a.severity)
    stations = [s.id for s in fleet.stations]
    stations += sorted(set(seen) - set(stations))
    lines = []
    for sid in stations:
        reg = fleet.get(sid)
        sev = by_station.get(sid, [])
        state = judge(seen.get(sid), sid in silent, sev, now_ms, stale_ms)
        fields: dict[str, FieldValue] = {
            "state": state,
            "rank": RANK[state],
            "alerts": len(sev),
            "online": int(arriving(seen.get(sid), sid in silent, now_ms, stale_ms)),
        }
        if sid in seen:
            fields["last_seen_ms"] = seen[sid]
        fields.update(values.get(sid, {}))
        if reg is not None:
            fields.update(name=reg.name, latitude=reg.latitude, longitude=reg.longitude)
        tags = {schema.STATION: sid, schema.DISTRICT: reg.district if reg else None}
        lines.append(encode_line(schema.STATION_STATE, tags, fields, wall_ms))
    return lines
