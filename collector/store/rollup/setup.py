"""Create or bring up to date the rollup of one database, and backfill hours a CQ missed."""

from __future__ import annotations

import re
import time

from collector.store.rollup.client import InfluxQLClient, RollupError
from collector.store.rollup.durations import duration_ms
from collector.store.rollup.plan import (
    CQ_PREFIX,
    DAILY_CQ_PREFIX,
    Plan,
    backfill_queries,
    continuous_queries,
    create_policy,
    daily_backfill_queries,
    q,
    resolution_lines,
)
from devices import schema

_GO_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def go_duration_ms(text: str) -> int | None:
    """Milliseconds of SHOW RETENTION POLICIES' `2160h0m0s`; None for `0s` (infinite)."""
    match = _GO_DURATION.fullmatch(text)
    if not match:
        raise RollupError(f"unexpected retention policy duration {text!r}")
    h, m, s = (int(g or 0) for g in match.groups())
    ms = ((h * 60 + m) * 60 + s) * 1000
    return ms or None


def default_rp(client: InfluxQLClient) -> str:
    """The database's default retention policy: where writes without `rp` land."""
    for row in client.query(f"SHOW RETENTION POLICIES ON {q(client.db)}"):
        if row.get("default"):
            return str(row["name"])
    raise RollupError(f"database {client.db!r} has no default retention policy")


def _policy(client: InfluxQLClient, name: str, duration: str, *, create: bool) -> str:
    """Make policy `name` keep data for `duration`; what was done, in words."""
    found = {r["name"]: r for r in client.query(f"SHOW RETENTION POLICIES ON {q(client.db)}")}
    where = f"{q(name)} ON {q(client.db)}"
    if name not in found:
        if not create:
            raise RollupError(f"retention policy {name!r} not found on {client.db!r}")
        client.query(create_policy(client.db, name, duration))
        return f"created retention policy {name} ({duration})"
    if go_duration_ms(found[name]["duration"]) == duration_ms(duration):
        return f"retention policy {name} already keeps {duration}"
    client.query(f"ALTER RETENTION POLICY {where} DURATION {duration}")
    return f"retention policy {name} now keeps {duration}"


def _ours(client: InfluxQLClient) -> set[str]:
    return {
        str(row["name"])
        for db, rows in client.series("SHOW CONTINUOUS QUERIES")
        if db == client.db
        for row in rows
        if str(row["name"]).startswith((CQ_PREFIX, DAILY_CQ_PREFIX))
    }


def setup(client: InfluxQLClient, plan: Plan, now_ms: int | None = None) -> list[str]:
    """Database, the four policies, two CQs per kind, the `$rp` choice; idempotent.

    Returns the steps, in words.
    """
    client.query(f"CREATE DATABASE {q(plan.db)}")
    done = [
        _policy(client, plan.raw_rp, plan.raw_retention, create=False),
        _policy(client, schema.ROLLUP_RP, plan.rollup_retention, create=True),
        _policy(client, schema.DAILY_RP, plan.daily_retention, create=True),
        _policy(client, schema.EVENTS_RP, plan.events_retention, create=True),
    ]
    done += _events_written_before(client, plan)
    # A CQ cannot be altered: drop and create, so a changed catalogue or window takes effect.
    wanted = continuous_queries(plan)
    existing = _ours(client)
    for name in sorted(existing):
        client.query(f"DROP CONTINUOUS QUERY {q(name)} ON {q(plan.db)}")
    for statement in wanted.values():
        client.query(statement)
    dropped = sorted(existing - set(wanted))
    done.append(
        f"continuous queries {', '.join(sorted(wanted))} every {schema.ROLLUP_INTERVAL}"
        f" over the last {plan.resample_for} (daily: {plan.daily_resample_for})"
        + (f"; dropped {', '.join(dropped)}" if dropped else "")
    )
    client.query(f"DELETE FROM {q(schema.RESOLUTION)}")
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    client.write(resolution_lines(plan, stamp), rp=schema.ROLLUP_RP)
    done.append(
        f"dashboards read {plan.raw_rp} up to {plan.raw_view_up_to}, {schema.ROLLUP_RP} up to "
        f"{plan.hourly_view_up_to}, else {schema.DAILY_RP}"
    )
    return done


def _events_written_before(client: InfluxQLClient, plan: Plan) -> list[str]:
    """Copy alert transitions an older collector wrote to the raw policy into `events`.

    The boards read them only there; a copy of the same points is the same points, so a
    second setup changes nothing. The raw ones are left to expire: DELETE in InfluxQL 1.x
    would remove the copies too (it spans every policy).
    """
    done = []
    for name in schema.EVENT_MEASUREMENTS:
        src = f"{q(plan.raw_rp)}.{q(name)}"
        rows = client.query(f"SELECT count(*) FROM {src}")
        found = (
            max((int(v) for k, v in rows[0].items() if k != "time" and v), default=0) if rows else 0
        )
        if found:
            client.query(f"SELECT * INTO {q(schema.EVENTS_RP)}.{q(name)} FROM {src} GROUP BY *")
            done.append(f"copied {found} {name} points from {plan.raw_rp} to {schema.EVENTS_RP}")
    return done


def backfill(
    client: InfluxQLClient,
    plan: Plan,
    start_ms: int,
    end_ms: int,
    chunk: str = "7d",
    *,
    hourly: bool = True,
) -> int:
    """Aggregate the hours of [start, end) again (a backlog older than the CQ window), then
    the local days they touch; only the days with `hourly=False`. Points written."""
    chunk_ms = duration_ms(chunk) or 0
    statements = (
        backfill_queries(plan, start_ms, end_ms, chunk_ms)
        if hourly
        else daily_backfill_queries(plan, start_ms, end_ms, chunk_ms)
    )
    written = 0
    for statement in statements:
        written += sum(int(row.get("written", 0)) for row in client.query(statement))
    return written
