"""The stored readings the figures need, fetched once for a span of fleet time."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from collector.insight.catchment import RainSample
from collector.insight.influxql import InfluxQL, Row, quote_ident
from collector.insight.leak import TankSample
from collector.insight.silence_cause import PowerSample
from devices import schema
from devices.catalogue import KINDS
from devices.schema import reading_field as rf
from devices.stations import Station

SOLAR_FIELDS = (
    rf("solar", "battery_soc_pct"),
    rf("solar", "battery_voltage_v"),
    rf("solar", "battery_current_a"),
    rf("solar", "load_power_w"),
)
TANK_FIELDS = (
    rf("tank", "volume_l"),
    rf("tank", "level_pct"),
    rf("tank", "inflow_lpm"),
    rf("tank", "outflow_lpm"),
    rf("tank", "rain_mm"),
)


@dataclass
class StationData:
    """One station's solar and tank readings (its first device of each), in time order."""

    power: list[PowerSample] = field(default_factory=list)
    current: list[tuple[int, float]] = field(default_factory=list)
    tank: list[TankSample] = field(default_factory=list)
    rain: list[RainSample] = field(default_factory=list)
    last_ms: int | None = None  # newest reading of any of its devices


def _time_range(start_ms: int, end_ms: int) -> str:
    return f"time > {start_ms}ms AND time <= {end_ms}ms"


def _f(row: Row, name: str) -> float | None:
    v = row.get(name)
    return float(v) if isinstance(v, int | float) else None


async def fetch_fleet(
    q: InfluxQL, stations: list[Station], start_ms: int, end_ms: int
) -> dict[str, StationData]:
    """Solar and tank readings of every station in (start, end], and their newest times."""
    out: dict[str, StationData] = defaultdict(StationData)
    span = _time_range(start_ms, end_ms)
    wanted = {s.id: s for s in stations}

    def device_of(st: Station, kind: str) -> str | None:
        devs = st.devices_of(kind)
        return devs[0].id if devs else None

    solar_cols = ", ".join(quote_ident(f) for f in SOLAR_FIELDS)
    for row in await q.rows(
        f"SELECT {solar_cols} FROM {quote_ident(schema.measurement('solar'))} "
        f"WHERE {span} GROUP BY {quote_ident(schema.STATION)}, {quote_ident(schema.DEVICE)}"
    ):
        st = wanted.get(row.get(schema.STATION, ""))
        if st is None or row.get(schema.DEVICE) != device_of(st, "solar"):
            continue
        d = out[st.id]
        ts = int(row["time"])
        d.power.append(
            PowerSample(
                ts,
                _f(row, "battery_soc_pct"),
                _f(row, "battery_voltage_v"),
                _f(row, "load_power_w"),
            )
        )
        amps = _f(row, "battery_current_a")
        if amps is not None:
            d.current.append((ts, amps))
    tank_cols = ", ".join(quote_ident(f) for f in TANK_FIELDS)
    for row in await q.rows(
        f"SELECT {tank_cols} FROM {quote_ident(schema.measurement('tank'))} "
        f"WHERE {span} GROUP BY {quote_ident(schema.STATION)}, {quote_ident(schema.DEVICE)}"
    ):
        st = wanted.get(row.get(schema.STATION, ""))
        if st is None or row.get(schema.DEVICE) != device_of(st, "tank"):
            continue
        d = out[st.id]
        ts = int(row["time"])
        volume = _f(row, "volume_l")
        level = _f(row, "level_pct")
        litres = st.devices_of("tank")[0].size("tank_litres")
        if volume is None and level is not None and isinstance(litres, float | int):
            volume = level / 100.0 * float(litres)
        inflow, outflow = _f(row, "inflow_lpm"), _f(row, "outflow_lpm")
        d.tank.append(TankSample(ts, volume, inflow, outflow))
        rain = _f(row, "rain_mm")
        if rain is not None:
            d.rain.append(RainSample(ts, rain, inflow or 0.0))
    for d in out.values():
        d.power.sort(key=lambda s: s.ts_ms)
        d.current.sort()
        d.tank.sort(key=lambda s: s.ts_ms)
        d.rain.sort(key=lambda s: s.ts_ms)
    # the newest reading of every kind, for silences (a station may send no solar at all)
    for kind in KINDS.values():
        for row in await q.rows(
            f"SELECT last({quote_ident(kind.field_names[0])}) FROM "
            f"{quote_ident(kind.measurement)} WHERE {span} GROUP BY {quote_ident(schema.STATION)}"
        ):
            sid = row.get(schema.STATION, "")
            if sid in wanted:
                d = out[sid]
                d.last_ms = max(d.last_ms or 0, int(row["time"]))
    return dict(out)


async def readings_per_device(
    q: InfluxQL, start_ms: int, end_ms: int
) -> dict[str, dict[tuple[str, str], int]]:
    """Points stored per station and (kind, device) in [start, end): the best-filled field
    counted (one query per kind for the whole fleet)."""
    out: dict[str, dict[tuple[str, str], int]] = {}
    for kind in KINDS.values():
        rows = await q.rows(
            f"SELECT count(*) FROM {quote_ident(kind.measurement)} WHERE "
            f"time >= {start_ms}ms AND time < {end_ms}ms "
            f"GROUP BY {quote_ident(schema.STATION)}, {quote_ident(schema.DEVICE)}"
        )
        for row in rows:
            counts = [v for k, v in row.items() if k.startswith("count_") and isinstance(v, int)]
            per = out.setdefault(str(row.get(schema.STATION, "")), {})
            per[(kind.name, str(row.get(schema.DEVICE, "")))] = max(counts, default=0)
    return out


async def newest_reading(q: InfluxQL) -> int | None:
    """The newest reading time across every kind's measurement, or None when there is none."""
    newest: int | None = None
    for kind in KINDS.values():
        for row in await q.rows(
            f"SELECT last({quote_ident(kind.field_names[0])}) FROM {quote_ident(kind.measurement)}"
        ):
            newest = max(newest or 0, int(row["time"]))
    return newest
