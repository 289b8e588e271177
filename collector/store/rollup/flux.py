"""The same rollups for InfluxDB 2.x, as Flux tasks per kind (text: no 2.x server here).

Same points as the 1.x CQs: `f` by the catalogue's chart aggregate, `f_mean/_min/_max/_last` for
numbers, windows labelled by their start (InfluxQL's GROUP BY time), tags kept. The daily task
aggregates the raw points by local day (the 1.x CQ aggregates the hourly ones: the same values,
exactly for min, max, sum and last, and for the mean when every hour has its readings).
"""

from __future__ import annotations

from collector.store.rollup.durations import duration_ms
from collector.store.rollup.plan import HOUR_MS, day_offset_ms
from devices import schema
from devices.catalogue import KINDS
from devices.kind import DeviceKind

# InfluxQL aggregate -> Flux function
FLUX_FN = {"mean": "mean", "min": "min", "max": "max", "last": "last", "sum": "sum"}
AGGREGATES = ("mean", "min", "max", "last")


def _set(names: list[str]) -> str:
    return "[" + ", ".join(f'"{n}"' for n in names) + "]"


def _window(fn: str, every: str, offset: str | None) -> str:
    shift = f", offset: {offset}" if offset else ""
    return (
        f'aggregateWindow(every: {every}{shift}, fn: {fn}, timeSrc: "_start", createEmpty: false)'
    )


def flux_task(
    kind: DeviceKind,
    bucket: str,
    rollup_bucket: str,
    resample_for: str,
    *,
    daily: bool = False,
) -> str:
    """A Flux task that recomputes the last `resample_for` of `kind` every hour."""
    numbers = [n for n in kind.field_names if n not in kind.str_fields]
    by_agg: dict[str, list[str]] = {}
    for name, info in kind.info.items():
        agg = "last" if name in kind.str_fields else info.chart.agg
        by_agg.setdefault(agg, []).append(name)
    rp, every = (schema.DAILY_RP, schema.DAILY_INTERVAL) if daily else (schema.ROLLUP_RP, "1h")
    offset = schema.DAY_OFFSET if daily else None
    span = resample_for
    if daily:  # every day an hourly run may still change, and today
        span = f"{-(-((duration_ms(resample_for) or 0) + 86_400_000) // HOUR_MS)}h"
    out = [
        f'option task = {{name: "{rp}_{kind.name}", every: {schema.ROLLUP_INTERVAL}, offset: 5m}}',
        "",
        f'data = from(bucket: "{bucket}")',
        f"    |> range(start: -{span})",
        f'    |> filter(fn: (r) => r._measurement == "{kind.measurement}")',
        "",
        "// each field under its own name, by the aggregate the dashboards chart it with",
    ]
    for agg, names in by_agg.items():
        out += [
            f"data |> filter(fn: (r) => contains(value: r._field, set: {_set(names)}))",
            f"    |> {_window(FLUX_FN[agg], every, offset)}",
            f'    |> to(bucket: "{rollup_bucket}")',
        ]
    out.append("// and every number's mean, min, max and last as <field>_<aggregate>")
    for agg in AGGREGATES:
        out += [
            f"data |> filter(fn: (r) => contains(value: r._field, set: {_set(numbers)}))",
            f"    |> {_window(agg, every, offset)}",
            f'    |> map(fn: (r) => ({{r with _field: r._field + "_{agg}"}}))',
            f'    |> to(bucket: "{rollup_bucket}")',
        ]
    return "\n".join(out) + "\n"


def flux_tasks(
    bucket: str, rollup_bucket: str, resample_for: str, daily_bucket: str | None = None
) -> dict[str, str]:
    """Task name -> Flux text: an hourly task per kind, and a daily one into `daily_bucket`."""
    out = {
        f"{schema.ROLLUP_RP}_{k.name}": flux_task(k, bucket, rollup_bucket, resample_for)
        for k in KINDS.values()
    }
    if daily_bucket:
        out |= {
            f"{schema.DAILY_RP}_{k.name}": flux_task(
                k, bucket, daily_bucket, resample_for, daily=True
            )
            for k in KINDS.values()
        }
    return out


def sql_v3(kind: DeviceKind, resample_for: str, *, daily: bool = False) -> str:
    """A rollup of one kind as InfluxDB 3 SQL, for a scheduled processing-engine plugin.

    Hourly by default; `daily` bins local days (date_bin's origin at local midnight).
    """
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
    hours = (duration_ms(resample_for) or 0) // HOUR_MS
    if daily:
        hours += 24
        origin = (day_offset_ms() % 86_400_000) // HOUR_MS
        binned = f"date_bin(INTERVAL '1 day', time, TIMESTAMP '1970-01-01T{origin:02d}:00:00Z')"
    else:
        binned = "date_bin(INTERVAL '1 hour', time)"
    return (
        f'SELECT {binned} AS time, "{schema.STATION}", '
        f'"{schema.DEVICE}", {", ".join(cols)} FROM "{kind.measurement}" '
        f"WHERE time >= now() - INTERVAL '{hours} hours' GROUP BY 1, 2, 3"
    )
