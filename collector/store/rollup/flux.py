"""The same hourly rollup for InfluxDB 2.x, as one Flux task per kind (text: no 2.x server here).

Same points as the 1.x CQs: `f` by the catalogue's chart aggregate, `f_mean/_min/_max/_last` for
numbers, windows labelled by their start (InfluxQL's GROUP BY time), tags kept.
"""

from __future__ import annotations

from collector.store.rollup.durations import duration_ms
from devices import schema
from devices.catalogue import KINDS
from devices.kind import DeviceKind

# InfluxQL aggregate -> Flux function
FLUX_FN = {"mean": "mean", "min": "min", "max": "max", "last": "last", "sum": "sum"}
AGGREGATES = ("mean", "min", "max", "last")


def _set(names: list[str]) -> str:
    return "[" + ", ".join(f'"{n}"' for n in names) + "]"


def _window(fn: str) -> str:
    every = schema.ROLLUP_INTERVAL
    return f'aggregateWindow(every: {every}, fn: {fn}, timeSrc: "_start", createEmpty: false)'


def flux_task(kind: DeviceKind, bucket: str, rollup_bucket: str, resample_for: str) -> str:
    """A Flux task that recomputes the last `resample_for` of `kind` every hour."""
    numbers = [n for n in kind.field_names if n not in kind.str_fields]
    by_agg: dict[str, list[str]] = {}
    for name, info in kind.info.items():
        agg = "last" if name in kind.str_fields else info.chart.agg
        by_agg.setdefault(agg, []).append(name)
    out = [
        f'option task = {{name: "{schema.ROLLUP_RP}_{kind.name}", '
        f"every: {schema.ROLLUP_INTERVAL}, offset: 5m}}",
        "",
        f'data = from(bucket: "{bucket}")',
        f"    |> range(start: -{resample_for})",
        f'    |> filter(fn: (r) => r._measurement == "{kind.measurement}")',
        "",
        "// each field under its own name, by the aggregate the dashboards chart it with",
    ]
    for agg, names in by_agg.items():
        out += [
            f"data |> filter(fn: (r) => contains(value: r._field, set: {_set(names)}))",
            f"    |> {_window(FLUX_FN[agg])}",
            f'    |> to(bucket: "{rollup_bucket}")',
        ]
    out.append("// and every number's mean, min, max and last as <field>_<aggregate>")
    for agg in AGGREGATES:
        out += [
            f"data |> filter(fn: (r) => contains(value: r._field, set: {_set(numbers)}))",
            f"    |> {_window(agg)}",
            f'    |> map(fn: (r) => ({{r with _field: r._field + "_{agg}"}}))',
            f'    |> to(bucket: "{rollup_bucket}")',
        ]
    return "\n".join(out) + "\n"


def flux_tasks(bucket: str, rollup_bucket: str, resample_for: str) -> dict[str, str]:
    """Task name -> Flux text, one per kind of the catalogue."""
    return {
        f"{schema.ROLLUP_RP}_{k.name}": flux_task(k, bucket, rollup_bucket, resample_for)
        for k in KINDS.values()
    }


def sql_v3(kind: DeviceKind, resample_for: str) -> str:
    """The hourly rollup of one kind as InfluxDB 3 SQL, for a scheduled processing-engine plugin."""
    cols = []
    for name, info in kind.info.items():
        if name in kind.str_fields:
            cols.append(f'last_value("{name}" ORDER BY time) AS "{name}"')
            continue
        sql = {"mean": "avg", "min": "min", "max": "max", "sum": "sum", "last": "last_value"}
        main = sql[info.chart.agg]
        order = " ORDER BY time" if main == "last_value" else ""
        cols.append(f'{main}("{name}"{order}) AS "{name}"')
        for agg in AGGREGATES:
            fn, order = sql[agg], " ORDER BY time" if agg == "last" else ""
            cols.append(f'{fn}("{name}"{order}) AS "{name}_{agg}"')
    hours = (duration_ms(resample_for) or 0) // 3_600_000
    return (
        f"SELECT date_bin(INTERVAL '1 hour', time) AS time, \"{schema.STATION}\", "
        f'"{schema.DEVICE}", {", ".join(cols)} FROM "{kind.measurement}" '
        f"WHERE time >= now() - INTERVAL '{hours} hours' GROUP BY 1, 2, 3"
    )
