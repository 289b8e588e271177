"""The query benchmark's code on a tiny fleet: every panel timed on raw data and on the rollup."""

from __future__ import annotations

import pytest

from bench.queries import RANGES, measure_fleet, summary
from bench.query_data import DAY_MS, write_year
from bench.query_timing import panel_queries
from collector.store.rollup.client import InfluxQLClient
from collector.store.rollup.plan import Plan
from collector.store.rollup.setup import backfill, default_rp, setup
from devices import schema
from devices.catalogue import KINDS
from devstack import Influxd


def test_the_query_bench_times_every_panel_raw_and_hourly(influxd: Influxd) -> None:
    result = measure_fleet(influxd, stations=2, days=2, repeats=1, raw_repeats=1)
    queries = list(panel_queries())
    rolled = [q for q in queries if q.rolls_up]
    assert rolled and len(rolled) < len(queries)  # readings panels, and the rest
    assert len(result.timings) == len(RANGES) * (len(queries) + len(rolled))
    assert result.points == 2 * 2 * (3 * 288 + 96)  # three kinds at 5 min, info at 15 min
    assert result.bytes_by_rp["autogen"] > result.bytes_by_rp[schema.ROLLUP_RP] > 0
    year = {(t.panel, t.rp): t for t in result.timings if t.range == "365d"}
    soc = "Battery SoC by station/A"
    assert year[(soc, schema.ROLLUP_RP)].shipped and not year[(soc, "autogen")].shipped
    # 2 days of hourly means: the panel's buckets hold data on both policies
    assert year[(soc, schema.ROLLUP_RP)].rows > 0 and year[(soc, "autogen")].rows > 0
    text = "\n".join(summary(result))
    assert "storage per station-year" in text and "target p95 < 1 s over 365 d" in text


def test_written_rollup_equals_the_backfilled_one(influxd: Influxd) -> None:
    """`--rollup-by write` (large fleets) writes what `rollup backfill` computes."""
    end = 1_767_225_600_000
    found = []
    for i, by in enumerate(("backfill", "write")):
        db = f"bench_rollup_{by}"
        client = InfluxQLClient(influxd.url, db)
        client.query(f'CREATE DATABASE "{db}"')
        plan = Plan(db=db, raw_rp=default_rp(client), raw_retention="INF")
        setup(client, plan)
        if i == 0:
            write_year(influxd.url, db, 2, 1, end - DAY_MS)
            backfill(client, plan, end - DAY_MS, end)
        else:
            write_year(influxd.url, db, 2, 1, end - DAY_MS, rp=schema.ROLLUP_RP)
        rows = [
            r
            for kind in KINDS.values()
            for r in influxd.query(f'SELECT * FROM "{schema.ROLLUP_RP}"."{kind.name}"', db=db)
        ]
        found.append(rows)
        influxd.drop_db(db)
    backfilled, written = found
    assert len(backfilled) == 2 * 24 * len(KINDS)
    assert len(written) == len(backfilled)
    for a, b in zip(backfilled, written, strict=True):
        assert a.keys() == b.keys()
        for key, value in a.items():
            if isinstance(value, float):
                assert b[key] == pytest.approx(value), key
            else:
                assert b[key] == value, key
