"""The query benchmark's code on a tiny fleet: every panel timed on raw data and on the rollup."""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

from bench.collector_run import CollectorUnderTest
from bench.queries import RANGES, measure_fleet, summary
from bench.queries import main as queries_main
from bench.query_cost import main as query_cost_main
from bench.query_data import DAY_MS, day_values, station_ids, write_rollup
from bench.query_feed import FeedError, feed_year, written_or_fail
from bench.query_timing import Timer, panel_queries
from collector.store.rollup.client import InfluxQLClient
from collector.store.rollup.plan import Plan
from collector.store.rollup.setup import backfill, default_rp, setup
from devices import schema
from devices.catalogue import KINDS
from devices.topics import format_topic
from devstack import Influxd, Mosquitto
from tests.rollup_support import set_up_rollup


def test_the_query_bench_times_every_panel_as_shipped_and_on_raw(
    influxd: Influxd, mosquitto: Mosquitto
) -> None:
    result = measure_fleet(
        influxd, mosquitto, stations=2, days=2, repeats=1, raw_repeats=1, fast_repeats=0
    )
    queries = list(panel_queries())
    rolled = [q for q in queries if q.rolls_up]
    assert rolled and len(rolled) < len(queries)  # readings panels, and the rest
    # every query as shipped at each range; beyond 7 d a rolled-up one also on raw data
    assert len(result.timings) == len(RANGES) * len(queries) + 2 * len(rolled)
    assert result.points == 2 * 2 * (3 * 288 + 96)  # three kinds at 5 min, info at 15 min
    sizes = result.bytes_by_rp
    assert sizes["autogen"] > sizes[schema.ROLLUP_RP] > sizes[schema.DAILY_RP] > 0
    fleet = {
        (t.panel, t.range, t.shipped): t for t in result.timings if t.board == "solarwater-fleet-en"
    }
    soc = "Battery SoC by station/A"
    picked = [fleet[(soc, r, True)].rp for r in RANGES]
    assert picked == ["autogen", schema.ROLLUP_RP, schema.DAILY_RP]
    assert fleet[(soc, "365d", False)].rp == "autogen"
    # 2 days of data: the panel's daily buckets hold data on both policies
    assert fleet[(soc, "365d", True)].rows > 0 and fleet[(soc, "365d", False)].rows > 0
    # each timing says what InfluxDB's runtime did meanwhile (the p95 of a millisecond query
    # moves with its garbage collections)
    assert all(t.alloc_kb > 0 for t in result.timings)
    text = "\n".join(summary(result))
    assert "storage per station-year" in text and "target p95 < 1 s over 365 d" in text


def test_the_station_board_is_timed_for_one_station(influxd: Influxd, fresh_db: str) -> None:
    """Grafana opens the station board on its first station: it has no All."""
    set_up_rollup(influxd, fresh_db)
    timer = Timer(influxd.url, fresh_db, station_ids(3))
    for pq in panel_queries():
        if '"station" =~ /^$station$/' in pq.query:
            text = timer.text(pq, 0, DAY_MS)
            assert pq.board == "solarwater-station-en"
            assert '"station" =~ /^bench-0000$/' in text, pq.label


def test_written_rollups_equal_the_backfilled_ones(
    influxd: Influxd, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """`--rollup-by write` (large fleets) writes what `rollup backfill` computes from what the
    collector wrote, daily too."""
    end = 1_767_225_600_000  # UTC midnight: the day spans two local days, both partial
    found = []
    for i, by in enumerate(("backfill", "write")):
        db = f"bench_rollup_{by}"
        client = InfluxQLClient(influxd.url, db)
        client.query(f'CREATE DATABASE "{db}"')
        plan = Plan(db=db, raw_rp=default_rp(client), raw_retention="INF")
        setup(client, plan)
        if i == 0:
            fed = feed_year(mosquitto, influxd.url, db, 2, 1, end - DAY_MS, tmp_path / "c")
            assert fed.readings == 2 * 288 * len(KINDS)
            backfill(client, plan, end - DAY_MS, end)
        else:
            for rp in (schema.ROLLUP_RP, schema.DAILY_RP):
                write_rollup(influxd.url, db, 2, 1, end - DAY_MS, rp)
        rows = {
            rp: [
                r
                for kind in KINDS.values()
                for r in influxd.query(f'SELECT * FROM "{rp}"."{kind.name}" GROUP BY *', db=db)
            ]
            for rp in (schema.ROLLUP_RP, schema.DAILY_RP)
        }
        found.append(rows)
        influxd.drop_db(db)
    backfilled, written = found
    assert len(backfilled[schema.ROLLUP_RP]) == 2 * 24 * len(KINDS)
    assert len(backfilled[schema.DAILY_RP]) == 2 * 2 * len(KINDS)
    for rp in (schema.ROLLUP_RP, schema.DAILY_RP):
        assert len(written[rp]) == len(backfilled[rp])
        for a, b in zip(backfilled[rp], written[rp], strict=True):
            assert a.keys() == b.keys()
            for key, value in a.items():
                if isinstance(value, float):
                    assert b[key] == pytest.approx(value), (rp, key)
                else:
                    assert b[key] == value, (rp, key)


def test_a_fast_query_is_timed_often_after_an_uncounted_run(
    influxd: Influxd, fresh_db: str
) -> None:
    """Of 5 runs the p95 is the slowest: a millisecond query gets fast_repeats warm ones."""
    assert (
        len(Timer(influxd.url, fresh_db, [], fast_repeats=7).times("SHOW MEASUREMENTS", 2)[0]) == 7
    )
    assert (
        len(Timer(influxd.url, fresh_db, [], fast_repeats=0).times("SHOW MEASUREMENTS", 2)[0]) == 2
    )


def test_the_collector_writes_each_reading_at_its_device_time(
    influxd: Influxd, mosquitto: Mosquitto, fresh_db: str, tmp_path: Path
) -> None:
    """A backlog a year old lands as sent: every 5 minutes, the generator's values, no shift."""
    start = 1_735_689_600_000  # 2025-01-01, older than any clock estimate the collector keeps
    feed_year(mosquitto, influxd.url, fresh_db, 1, 1, start, tmp_path / "c")
    kind = KINDS["tank"]
    rows = influxd.query(f'SELECT * FROM "{kind.measurement}"', db=fresh_db)
    assert [r["time"] for r in rows] == [start + s * 300_000 for s in range(288)]
    sent = day_values(kind, 0.0)[0]
    for row, fields in zip(rows, sent, strict=True):
        for name, value in fields.items():
            assert row[name] == pytest.approx(value), name


def test_a_refused_reading_fails_the_feed(
    influxd: Influxd, mosquitto: Mosquitto, fresh_db: str, tmp_path: Path
) -> None:
    """The bench's data set is whole or not at all: one refusal stops the feed with a reason."""
    cut = CollectorUnderTest(
        tmp_path, mqtt_url=mosquitto.url, influx_url=influxd.url, db=fresh_db, prefix="benchbad"
    )
    cut.start()
    try:
        topic = format_topic("benchbad", "bench-0000", "tank", "tank1", "telemetry")
        publish.single(topic, b'{"level_pct": 900}', qos=1, hostname="127.0.0.1",
                       port=mosquitto.port)  # fmt: skip
        deadline = time.monotonic() + 20
        with pytest.raises(FeedError, match="refused 1"):
            while time.monotonic() < deadline:
                written_or_fail(cut)
                time.sleep(0.05)
    finally:
        cut.stop()


def test_a_kept_data_set_serves_the_query_cost_breakdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--prepare` keeps a data set; `bench.query_cost` times the station query's parts on it."""
    data = tmp_path / "qdata"
    assert (
        queries_main(["--stations", "2", "--days", "2", "--data-dir", str(data), "--prepare"]) == 0
    )
    assert query_cost_main(["--data-dir", str(data), "--stations", "2", "--rounds", "3"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and " ms |" in line]
    assert len(rows) == 5 and "(shipped)" in out
    assert query_cost_main(["--data-dir", str(tmp_path / "none"), "--stations", "2"]) == 2
