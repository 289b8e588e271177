"""Collector health, all from the `collector` measurement it writes every 10 s."""

from __future__ import annotations

from collections.abc import Sequence

from grafanalib.core import Dashboard, TimeSeries

from dashboards import influxql as iq
from dashboards import panels as p
from dashboards.render import make_dashboard
from devices import schema

UID = "solarwater-collector"
# The collector writes every 10 s; a finer bucket would be half empty.
MIN_INTERVAL = "10s"
ALIAS = "$tag_instance $col"


def rate(fields: Sequence[str], per: str = "1s") -> str:
    """Per-`per` rate of cumulative counters; a restart's reset is skipped, not negative."""
    return iq.select(
        [f"non_negative_derivative(max({iq.q(f)}), {per}) AS {iq.q(f)}" for f in fields],
        schema.COLLECTOR,
        tags=[schema.INSTANCE],
        interval=iq.INTERVAL,
        fill="null",
    )


def gauge_series(fields: Sequence[str], func: str = "mean") -> str:
    return iq.select(
        [iq.agg(func, f) for f in fields],
        schema.COLLECTOR,
        tags=[schema.INSTANCE],
        interval=iq.INTERVAL,
        fill="null",
    )


def total(field: str) -> str:
    """Increase of a counter over the range, across restarts (sum of non-negative steps)."""
    inner = iq.select(
        [f'non_negative_difference({iq.q(field)}) AS "d"'], schema.COLLECTOR, tags=[schema.INSTANCE]
    )
    return f'SELECT sum("d") AS {iq.q(field)} FROM ({inner})' + iq.where()


def latest(field: str) -> str:
    return iq.select([iq.agg("last", field)], schema.COLLECTOR, tags=[schema.INSTANCE])


# The two totals always exist, so a day without rejects shows zeros rather than "No data";
# the rejected_<reason> counters appear once a reason has been seen.
REJECTS = iq.select(
    ["non_negative_derivative(max(/^(readings_|messages_)?rejected/), 1m)"],
    schema.COLLECTOR,
    tags=[schema.INSTANCE],
    interval=iq.INTERVAL,
    fill="null",
)
CONNECTED = iq.select(
    [iq.agg("last", "mqtt_connected", "connected")],
    schema.COLLECTOR,
    tags=[schema.INSTANCE],
    interval=iq.INTERVAL,
    fill="null",
)


def _series(
    title: str,
    query: str,
    unit: str,
    *,
    description: str = "",
    steps: p.Json = p.NEUTRAL,
    bars: bool = False,
    show_thresholds: bool = False,
    overrides: Sequence[p.Json] = (),
) -> TimeSeries:
    return p.timeseries(
        title,
        iq.targets(query, alias=ALIAS),
        unit=unit,
        interval=MIN_INTERVAL,
        description=description,
        steps=steps,
        bars=bars,
        show_thresholds=show_thresholds,
        overrides=overrides,
    )


def build() -> Dashboard:
    lay = p.Layout()
    lay.add(
        p.stat(
            "MQTT",
            iq.targets(latest("mqtt_connected")),
            steps=p.thresholds(("red", None), ("green", 1)),
            description="Connected to the broker (latest 10-second sample).",
        ),
        4,
        4,
    )
    lay.add(p.stat("Readings written", iq.targets(total("readings_written"))), 5, 4)
    lay.add(
        p.stat(
            "Readings rejected",
            iq.targets(total("readings_rejected")),
            steps=p.COUNT_WARN,
            no_value="0",
        ),
        5,
        4,
    )
    lay.add(
        p.stat("Write errors", iq.targets(total("write_errors")), steps=p.COUNT_BAD, no_value="0"),
        5,
        4,
    )
    lay.add(p.stat("Stations seen", iq.targets(latest("stations_seen"))), 5, 4)
    lay.add(
        _series(
            "Ingest rate",
            rate(["messages_received", "readings_received", "readings_written"]),
            "cps",
            description="Messages and readings per second.",
        ),
        12,
        8,
    )
    lay.add(
        _series(
            "Rejects by reason (per minute)",
            REJECTS,
            "short",
            bars=True,
            description="Readings and messages rejected, and one series per "
            "rejected_<reason> counter.",
        ),
        12,
        8,
    )
    lay.add(
        _series(
            "Write latency",
            gauge_series(["write_latency_ms", "write_latency_max_ms"], func="max"),
            "ms",
            steps=p.thresholds(("green", None), ("yellow", 500), ("red", 2000)),
            show_thresholds=True,
        ),
        12,
        8,
    )
    lay.add(
        _series(
            "Spool backlog",
            gauge_series(["spool_bytes", "spool_readings"], func="max"),
            "bytes",
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": ".*spool_readings.*"},
                    "properties": [
                        {"id": "unit", "value": "short"},
                        {"id": "custom.axisPlacement", "value": "right"},
                    ],
                }
            ],
            description="Readings kept on disk while InfluxDB is unreachable.",
        ),
        12,
        8,
    )
    lay.add(
        p.state_timeline(
            "MQTT connection",
            iq.targets(CONNECTED, alias="$tag_instance"),
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"color": "red", "index": 0, "text": "disconnected"},
                        "1": {"color": "green", "index": 1, "text": "connected"},
                    },
                }
            ],
            interval=MIN_INTERVAL,
        ),
        24,
        4,
    )
    lay.add(
        _series(
            "Queue depth, active alerts",
            gauge_series(["queue_depth", "alerts_active"], func="max"),
            "short",
        ),
        12,
        8,
    )
    lay.add(
        _series(
            "Sequence gaps, duplicates, spool replays, notifications (per minute)",
            rate(
                [
                    "seq_gaps",
                    "seq_duplicates",
                    "spool_replayed",
                    "notifications_sent",
                    "notifications_failed",
                    "write_errors",
                ],
                per="1m",
            ),
            "short",
        ),
        12,
        8,
    )
    return make_dashboard(
        uid=UID,
        title="SolarWater · Collector health",
        description="Is the pipeline keeping up? Ingest, rejects, writes, spool, broker link.",
        panels=lay.panels,
        time_from="now-6h",
    )
