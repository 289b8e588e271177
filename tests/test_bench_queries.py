"""The query benchmark's code on a tiny fleet: every panel timed on raw data and on the rollup."""

from __future__ import annotations

from bench.queries import RANGES, measure_fleet, summary
from bench.query_timing import panel_queries
from devices import schema
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
