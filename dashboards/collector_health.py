"""Collector health, all from the `collector` measurement it writes every 10 s."""

from __future__ import annotations

from collections.abc import Sequence

from grafanalib.core import Dashboard, TimeSeries

from dashboards import influxql as iq
from dashboards import panels as p
from dashboards.render import make_dashboard
from devices import schema
from devices.fieldinfo import Lang, Text

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


TEXT = {
    "mqtt_d": Text(
        "Ligado ao broker (a amostra de 10 segundos mais recente).",
        "Connected to the broker (latest 10-second sample).",
    ),
    "written": Text("Leituras escritas", "Readings written"),
    "rejected": Text("Leituras recusadas", "Readings rejected"),
    "write_errors": Text("Erros de escrita", "Write errors"),
    "seen": Text("Estações vistas", "Stations seen"),
    "rate": Text("Ritmo de entrada", "Ingest rate"),
    "rate_d": Text("Mensagens e leituras por segundo.", "Messages and readings per second."),
    "rejects": Text("Recusas por motivo (por minuto)", "Rejects by reason (per minute)"),
    "rejects_d": Text(
        "Leituras e mensagens recusadas, e uma série por contador rejected_<motivo>.",
        "Readings and messages rejected, and one series per rejected_<reason> counter.",
    ),
    "latency": Text("Latência de escrita", "Write latency"),
    "spool": Text("Fila em disco", "Spool backlog"),
    "spool_d": Text(
        "Leituras guardadas em disco enquanto o InfluxDB não responde.",
        "Readings kept on disk while InfluxDB is unreachable.",
    ),
    "link": Text("Ligação MQTT", "MQTT connection"),
    "down": Text("desligado", "disconnected"),
    "up": Text("ligado", "connected"),
    "queue": Text("Fila interna, alertas ativos", "Queue depth, active alerts"),
    "seq": Text(
        "Falhas e duplicados de sequência, reenvios da fila, notificações (por minuto)",
        "Sequence gaps, duplicates, spool replays, notifications (per minute)",
    ),
    "title": Text("SolarWater · Saúde do coletor", "SolarWater · Collector health"),
    "title_d": Text(
        "O coletor acompanha? Entrada, recusas, escritas, fila em disco, ligação ao broker.",
        "Is the pipeline keeping up? Ingest, rejects, writes, spool, broker link.",
    ),
}


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


def build(lang: Lang = "en") -> Dashboard:
    t = {k: v(lang) for k, v in TEXT.items()}
    lay = p.Layout()
    lay.add(
        p.stat(
            "MQTT",
            iq.targets(latest("mqtt_connected")),
            steps=p.thresholds(("red", None), ("green", 1)),
            description=t["mqtt_d"],
        ),
        4,
        4,
    )
    lay.add(p.stat(t["written"], iq.targets(total("readings_written"))), 5, 4)
    lay.add(
        p.stat(
            t["rejected"],
            iq.targets(total("readings_rejected")),
            steps=p.COUNT_WARN,
            no_value="0",
        ),
        5,
        4,
    )
    lay.add(
        p.stat(
            t["write_errors"], iq.targets(total("write_errors")), steps=p.COUNT_BAD, no_value="0"
        ),
        5,
        4,
    )
    lay.add(p.stat(t["seen"], iq.targets(latest("stations_seen"))), 5, 4)
    lay.add(
        _series(
            t["rate"],
            rate(["messages_received", "readings_received", "readings_written"]),
            "cps",
            description=t["rate_d"],
        ),
        12,
        8,
    )
    lay.add(
        _series(
            t["rejects"],
            REJECTS,
            "short",
            bars=True,
            description=t["rejects_d"],
        ),
        12,
        8,
    )
    lay.add(
        _series(
            t["latency"],
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
            t["spool"],
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
            description=t["spool_d"],
        ),
        12,
        8,
    )
    lay.add(
        p.state_timeline(
            t["link"],
            iq.targets(CONNECTED, alias="$tag_instance"),
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"color": "red", "index": 0, "text": t["down"]},
                        "1": {"color": "green", "index": 1, "text": t["up"]},
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
            t["queue"],
            gauge_series(["queue_depth", "alerts_active"], func="max"),
            "short",
        ),
        12,
        8,
    )
    lay.add(
        _series(
            t["seq"],
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
        lang=lang,
        title=t["title"],
        description=t["title_d"],
        panels=lay.panels,
        time_from="now-6h",
    )
