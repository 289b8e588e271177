"""InfluxQL fragments and raw-query targets shared by the dashboards (Grafana's InfluxQL mode)."""

from __future__ import annotations

from collections.abc import Sequence

from grafanalib.influxdb import InfluxDBTarget

from dashboards.datasource import ds_ref
from devices import schema

TIME_FILTER = "$timeFilter"
INTERVAL = "$__interval"
INTERVAL_MS = "$__interval_ms"
# The dashboards' hidden `$rp` variable: the raw policy up to 7 days of range, the hourly
# rollup up to 30 days, the daily one beyond (templating.resolution_variable); empty, ""
# reads the default policy (raw).
RP_VARIABLE = "rp"
REF_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def q(name: str) -> str:
    """An InfluxQL identifier, double-quoted."""
    return '"' + name.replace('"', '\\"') + '"'


def source(measurement: str, *, latest: bool = False) -> str:
    """The FROM of `measurement`: readings at the resolution the range picks, alert transitions
    from their own policy, the rest from the default one.

    A latest-value query reads raw data at any range: the last reading, not the last hour's
    aggregate, and InfluxDB answers last() from the newest blocks, as fast as from the rollup.
    """
    if measurement in schema.EVENT_MEASUREMENTS:
        return f"{q(schema.EVENTS_RP)}.{q(measurement)}"
    if measurement in schema.READING_MEASUREMENTS and not latest:
        return f'"${RP_VARIABLE}".{q(measurement)}'
    return q(measurement)


def station_filter(var: str = "station") -> str:
    """Condition on the `station` tag for a (multi-value / include-all) dashboard variable."""
    return f"{q(schema.STATION)} =~ /^${var}$/"


def where(*conditions: str) -> str:
    """WHERE clause of `conditions` and the time filter (last, as Grafana writes it)."""
    return " WHERE " + " AND ".join((*conditions, TIME_FILTER))


def group_by(*tags: str, interval: str | None = None, fill: str | None = None) -> str:
    """GROUP BY clause: an optional time bucket first, then tags, then fill()."""
    parts = ([f"time({interval})"] if interval else []) + [q(t) for t in tags]
    text = " GROUP BY " + ", ".join(parts) if parts else ""
    return text + (f" fill({fill})" if fill else "")


def select(
    exprs: Sequence[str],
    measurement: str,
    *conditions: str,
    tags: Sequence[str] = (),
    interval: str | None = None,
    fill: str | None = None,
    latest: bool = False,
) -> str:
    """A whole SELECT over one measurement, always bounded by the dashboard's time range."""
    return (
        f"SELECT {', '.join(exprs)} FROM {source(measurement, latest=latest)}"
        + where(*conditions)
        + group_by(*tags, interval=interval, fill=fill)
    )


def select_all_time(
    exprs: Sequence[str], measurement: str, *conditions: str, tags: Sequence[str] = ()
) -> str:
    """A SELECT not bounded by the dashboard's range: for what holds now, whenever it began."""
    cond = " WHERE " + " AND ".join(conditions) if conditions else ""
    from_ = source(measurement, latest=True)
    return f"SELECT {', '.join(exprs)} FROM {from_}" + cond + group_by(*tags)


def agg(func: str, field: str, alias: str | None = None, *args: str) -> str:
    """`func("field"[, args]) AS "alias"`."""
    inner = ", ".join([q(field), *args])
    return f"{func}({inner}) AS {q(alias or field)}"


def target(
    query: str, ref_id: str = "A", *, table: bool = False, alias: str = ""
) -> InfluxDBTarget:
    """A raw InfluxQL target; table format for one row per series (station tables, geomap)."""
    return InfluxDBTarget(
        query=query,
        refId=ref_id,
        format="table" if table else "time_series",
        alias=alias,
        datasource=ds_ref(),
        rawQuery=True,
    )


def targets(*queries: str, table: bool = False, alias: str = "") -> list[InfluxDBTarget]:
    """Targets A, B, C... for the given queries."""
    return [target(text, REF_IDS[i], table=table, alias=alias) for i, text in enumerate(queries)]


def last_alert_state(
    *, tags: Sequence[str] = (schema.STATION, schema.RULE, schema.SEVERITY)
) -> str:
    """Latest transition of each alert (station, rule), whenever it was: its state now.

    Not bounded by the range: an alert that fired three days ago and still holds is firing in
    a 24 h view. Transitions are few, so reading them all is cheap.
    """
    return select_all_time(
        [agg("last", "state"), agg("last", "value"), agg("last", "message")],
        schema.ALERT,
        tags=tags,
    )


def firing_alerts(*, tags: Sequence[str] = (schema.STATION, schema.RULE, schema.SEVERITY)) -> str:
    """Alerts whose latest transition is `firing`, one row each."""
    return f"SELECT * FROM ({last_alert_state(tags=tags)}) WHERE \"state\" = 'firing'"


# The alert engine writes every station's state each minute; older ones are not "now".
STATE_LOOKBACK = "1h"


def station_states(*fields: str, tags: Sequence[str] = (schema.STATION,)) -> str:
    """The newest `station_state` point of each station within STATE_LOOKBACK."""
    return select_all_time(
        [agg("last", f) for f in fields],
        schema.STATION_STATE,
        f"time > now() - {STATE_LOOKBACK}",
        tags=tags,
    )


def days_of_water(*conditions: str, tags: Sequence[str] = (schema.STATION,)) -> str:
    """Days until each tank is empty at the range's mean outflow: volume / (L/min × 1440).

    A tank with no outflow in the range has no row (rather than InfluxQL's x/0 = 0 days).
    """
    volume = schema.reading_field("tank", "volume_l")
    outflow = schema.reading_field("tank", "outflow_lpm")
    inner = select(
        [agg("last", volume, "volume"), f'mean({q(outflow)}) * 1440 AS "per_day"'],
        schema.measurement("tank"),
        *conditions,
        tags=tags,
    )
    return (
        f'SELECT "volume" / "per_day" AS "days_left" FROM ({inner}) '
        f'WHERE "per_day" > 0{group_by(*tags)}'
    )
