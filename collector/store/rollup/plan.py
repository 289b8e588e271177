"""The InfluxQL of the rollups, from the catalogue: continuous queries per device kind.

Each hourly point keeps the raw field names, so a dashboard query reads any policy with the
same text: `f` is the aggregate the catalogue charts the field with (mean, max, sum, last...),
and a number also gets `f_mean`, `f_min`, `f_max` and `f_last`. A string gets its last value.
Each daily point is made the same way from the hourly points: `f` by the chart aggregate of
the hourly `f`, `f_mean` the mean of the hourly means, `f_min` their min, and so on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from collector.store.rollup.durations import duration_ms
from devices import schema
from devices.catalogue import KINDS
from devices.kind import DeviceKind
from devices.lineprotocol import encode_line

AGGREGATES = ("mean", "min", "max", "last")
CQ_PREFIX = schema.ROLLUP_RP + "_"
DAILY_CQ_PREFIX = schema.DAILY_RP + "_"
# The policy a range up to `up_to_ms` reads; the daily rollup's bound is "any range".
ANY_RANGE_MS = 2**62
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
YEAR_MS = 52 * 7 * DAY_MS


def q(name: str) -> str:
    """An InfluxQL identifier, double-quoted."""
    return '"' + name.replace('"', '\\"') + '"'


def create_policy(db: str, name: str, duration: str) -> str:
    """CREATE RETENTION POLICY of a policy of few points (rollups, alert transitions).

    Kept a year or more: year-long shard groups, so a year's query opens one shard.
    """
    keep = duration_ms(duration)
    shards = " SHARD DURATION 52w" if keep is None or keep >= YEAR_MS else ""
    return f"CREATE RETENTION POLICY {q(name)} ON {q(db)} DURATION {duration} REPLICATION 1{shards}"


@dataclass(frozen=True, slots=True)
class Plan:
    """What the rollups of one database are: policies, their durations, the CQ window."""

    db: str
    raw_rp: str  # the policy the collector writes to (the database's default unless set)
    raw_retention: str = "90d"
    rollup_retention: str = "INF"
    resample_for: str = "24h"
    raw_view_up_to: str = "7d"
    hourly_view_up_to: str = "30d"
    daily_retention: str = "INF"
    events_retention: str = "INF"  # the alert transitions' policy (schema.EVENTS_RP)

    def __post_init__(self) -> None:
        keep, view = duration_ms(self.raw_retention), duration_ms(self.raw_view_up_to)
        if view is None or (keep is not None and view > keep):
            raise ValueError(
                f"raw_view_up_to {self.raw_view_up_to} must be finite and within "
                f"raw_retention {self.raw_retention}"
            )
        hourly, kept = duration_ms(self.hourly_view_up_to), duration_ms(self.rollup_retention)
        if hourly is None or hourly < view or (kept is not None and hourly > kept):
            raise ValueError(
                f"hourly_view_up_to {self.hourly_view_up_to} must be finite, at least "
                f"raw_view_up_to {self.raw_view_up_to} and within rollup_retention "
                f"{self.rollup_retention}"
            )

    @property
    def daily_resample_for(self) -> str:
        """The daily CQ's window: every day an hourly run may still change, and today."""
        hours = -(-((duration_ms(self.resample_for) or 0) + DAY_MS) // HOUR_MS)
        return f"{hours}h"


def aggregates(kind: DeviceKind, *, of_hourly: bool = False) -> list[str]:
    """The SELECT list of a kind's hourly point, or (`of_hourly`) its daily one over the hourly.

    A daily f_min is the min of the hourly f_min, and so on; f is the chart aggregate of f.
    """
    out: list[str] = []
    for name, info in kind.info.items():
        if name in kind.str_fields:
            out.append(f"last({q(name)}) AS {q(name)}")
            continue
        out.append(f"{info.chart.agg}({q(name)}) AS {q(name)}")
        for func in AGGREGATES:
            alias = f"{name}_{func}"
            out.append(f"{func}({q(alias if of_hourly else name)}) AS {q(alias)}")
    return out


def select_into(kind: DeviceKind, plan: Plan, where: str = "") -> str:
    """The hourly aggregation of one kind, raw policy into the rollup, tags kept."""
    m = q(kind.measurement)
    return (
        f"SELECT {', '.join(aggregates(kind))}"
        f" INTO {q(plan.db)}.{q(schema.ROLLUP_RP)}.{m}"
        f" FROM {q(plan.db)}.{q(plan.raw_rp)}.{m}{where}"
        f" GROUP BY time({schema.ROLLUP_INTERVAL}), * fill(none)"
    )


def daily_select_into(kind: DeviceKind, plan: Plan, where: str = "") -> str:
    """The daily aggregation of one kind (local days), hourly rollup into the daily one."""
    m = q(kind.measurement)
    return (
        f"SELECT {', '.join(aggregates(kind, of_hourly=True))}"
        f" INTO {q(plan.db)}.{q(schema.DAILY_RP)}.{m}"
        f" FROM {q(plan.db)}.{q(schema.ROLLUP_RP)}.{m}{where}"
        f" GROUP BY time({schema.LOCAL_DAY}), * fill(none)"
    )


def cq_name(kind: DeviceKind) -> str:
    return CQ_PREFIX + kind.name


def daily_cq_name(kind: DeviceKind) -> str:
    return DAILY_CQ_PREFIX + kind.name


def create_cq(kind: DeviceKind, plan: Plan) -> str:
    """Every hour, the last `resample_for` recomputed: a backlog inside it is caught up."""
    return (
        f"CREATE CONTINUOUS QUERY {q(cq_name(kind))} ON {q(plan.db)}"
        f" RESAMPLE EVERY {schema.ROLLUP_INTERVAL} FOR {plan.resample_for}"
        f" BEGIN {select_into(kind, plan)} END"
    )


def create_daily_cq(kind: DeviceKind, plan: Plan) -> str:
    """Every hour, the days the hourly CQ may have changed: today's point grows hour by hour."""
    return (
        f"CREATE CONTINUOUS QUERY {q(daily_cq_name(kind))} ON {q(plan.db)}"
        f" RESAMPLE EVERY {schema.ROLLUP_INTERVAL} FOR {plan.daily_resample_for}"
        f" BEGIN {daily_select_into(kind, plan)} END"
    )


def continuous_queries(plan: Plan) -> dict[str, str]:
    """CQ name -> its CREATE statement: an hourly and a daily one per kind of the catalogue."""
    hourly = {cq_name(kind): create_cq(kind, plan) for kind in KINDS.values()}
    return hourly | {daily_cq_name(kind): create_daily_cq(kind, plan) for kind in KINDS.values()}


def day_offset_ms() -> int:
    """Where a local day starts, from UTC midnight (-2 h for Maputo)."""
    text = schema.DAY_OFFSET
    sign = -1 if text.startswith("-") else 1
    return sign * (duration_ms(text.lstrip("-+")) or 0)


def _spans(start: int, end: int, chunk_ms: int, step: int, offset: int = 0) -> Iterator[str]:
    """WHERE clauses over [start, end) widened to whole steps (days start at `offset`)."""
    start = (start - offset) // step * step + offset
    end = -(-(end - offset) // step) * step + offset
    chunk = max(step, chunk_ms // step * step)
    for a in range(start, end, chunk):
        yield f" WHERE time >= {a}ms AND time < {min(a + chunk, end)}ms"


def backfill_queries(plan: Plan, start_ms: int, end_ms: int, chunk_ms: int) -> Iterator[str]:
    """SELECT INTO over [start, end): the hours by chunks, then the days those hours touch."""
    for where in _spans(start_ms, end_ms, chunk_ms, HOUR_MS):
        for kind in KINDS.values():
            yield select_into(kind, plan, where)
    yield from daily_backfill_queries(plan, start_ms, end_ms, chunk_ms)


def daily_backfill_queries(plan: Plan, start_ms: int, end_ms: int, chunk_ms: int) -> Iterator[str]:
    """The daily points of the local days that [start, end) touches, from the hourly points."""
    for where in _spans(start_ms, end_ms, chunk_ms, DAY_MS, day_offset_ms()):
        for kind in KINDS.values():
            yield daily_select_into(kind, plan, where)


def resolution_lines(plan: Plan, now_ms: int) -> list[str]:
    """The points `$rp` and `$bucket` read: which policy a range reads and its finest bucket.

    Raw up to raw_view_up_to, hourly up to hourly_view_up_to, daily beyond; shortest first.
    """
    m = schema.RESOLUTION
    steps = (
        (plan.raw_rp, duration_ms(plan.raw_view_up_to), schema.READING_INTERVAL),
        (schema.ROLLUP_RP, duration_ms(plan.hourly_view_up_to), schema.ROLLUP_INTERVAL),
        (schema.DAILY_RP, ANY_RANGE_MS, schema.DAILY_INTERVAL),
    )
    return [
        encode_line(
            m,
            {},
            {
                "rp": rp,
                "up_to_ms": up_to or 0,
                "bucket": bucket,
                "bucket_ms": duration_ms(bucket) or 0,
            },
            now_ms + i,
        )
        for i, (rp, up_to, bucket) in enumerate(steps)
    ]
