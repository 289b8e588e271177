"""The InfluxQL of the rollup, from the catalogue: one continuous query per device kind.

Each hourly point keeps the raw field names, so a dashboard query reads either policy with the
same text: `f` is the aggregate the catalogue charts the field with (mean, max, sum, last...),
and a number also gets `f_mean`, `f_min`, `f_max` and `f_last`. A string gets its last value.
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
# The policy a range up to `up_to_ms` reads; the rollup's bound is "any range".
ANY_RANGE_MS = 2**62


def q(name: str) -> str:
    """An InfluxQL identifier, double-quoted."""
    return '"' + name.replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Plan:
    """What the rollup of one database is: its policies, their durations, the CQ window."""

    db: str
    raw_rp: str  # the policy the collector writes to (the database's default unless set)
    raw_retention: str = "90d"
    rollup_retention: str = "INF"
    resample_for: str = "24h"
    raw_view_up_to: str = "7d"

    def __post_init__(self) -> None:
        keep, view = duration_ms(self.raw_retention), duration_ms(self.raw_view_up_to)
        if view is None or (keep is not None and view > keep):
            raise ValueError(
                f"raw_view_up_to {self.raw_view_up_to} must be finite and within "
                f"raw_retention {self.raw_retention}"
            )


def aggregates(kind: DeviceKind) -> list[str]:
    """The SELECT list of a kind's hourly point (see the module docstring)."""
    out: list[str] = []
    for name, info in kind.info.items():
        if name in kind.str_fields:
            out.append(f"last({q(name)}) AS {q(name)}")
            continue
        out.append(f"{info.chart.agg}({q(name)}) AS {q(name)}")
        out += [f"{func}({q(name)}) AS {q(f'{name}_{func}')}" for func in AGGREGATES]
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


def cq_name(kind: DeviceKind) -> str:
    return CQ_PREFIX + kind.name


def create_cq(kind: DeviceKind, plan: Plan) -> str:
    """Every hour, the last `resample_for` recomputed: a backlog inside it is caught up."""
    return (
        f"CREATE CONTINUOUS QUERY {q(cq_name(kind))} ON {q(plan.db)}"
        f" RESAMPLE EVERY {schema.ROLLUP_INTERVAL} FOR {plan.resample_for}"
        f" BEGIN {select_into(kind, plan)} END"
    )


def continuous_queries(plan: Plan) -> dict[str, str]:
    """CQ name -> its CREATE statement, one per kind of the catalogue."""
    return {cq_name(kind): create_cq(kind, plan) for kind in KINDS.values()}


def backfill_queries(plan: Plan, start_ms: int, end_ms: int, chunk_ms: int) -> Iterator[str]:
    """SELECT INTO over [start, end) by whole hours, in chunks (each query's memory bounded)."""
    hour = duration_ms(schema.ROLLUP_INTERVAL) or 3_600_000
    start, end = start_ms // hour * hour, -(-end_ms // hour) * hour
    chunk = max(hour, chunk_ms // hour * hour)
    for a in range(start, end, chunk):
        b = min(a + chunk, end)
        where = f" WHERE time >= {a}ms AND time < {b}ms"
        for kind in KINDS.values():
            yield select_into(kind, plan, where)


def resolution_lines(plan: Plan, now_ms: int) -> list[str]:
    """The points `$rp` reads: raw for ranges up to raw_view_up_to, else the rollup."""
    up_to = duration_ms(plan.raw_view_up_to)
    m = schema.RESOLUTION
    return [
        encode_line(m, {}, {"rp": plan.raw_rp, "up_to_ms": up_to or 0}, now_ms),
        encode_line(m, {}, {"rp": schema.ROLLUP_RP, "up_to_ms": ANY_RANGE_MS}, now_ms + 1),
    ]
