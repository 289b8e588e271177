"""The hourly rollup against the real InfluxDB 1.6: setup, aggregates, backlog, resolution.

The test server runs no continuous queries (`[continuous_queries] enabled = false`): a CQ runs
at hour boundaries of the wall clock. Each CQ's SELECT is the backfill's, which runs here.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

import pytest

from collector.store.rollup.cli import main as rollup_main
from collector.store.rollup.setup import backfill, setup
from dashboards.influxql import RP_VARIABLE
from dashboards.interpolate import Variable, interpolate
from devices import schema
from devices.catalogue import KINDS
from devices.kind import DeviceKind, string_choices
from devices.lineprotocol import FieldValue, encode_line
from devstack import Influxd
from tests.dashboard_queries import BOARDS, View, query_of, rows, variables
from tests.rollup_support import rollup_plan

H = 3_600_000
DAY = 24 * H
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
STATIONS = ("st-a", "st-b")


def _value(kind: DeviceKind, name: str, i: int, station: int) -> FieldValue:
    """A known value of every field, varying with the reading and the station."""
    if name in kind.str_fields:
        choices = string_choices(kind.model, name) or ("x",)
        return choices[(i + station) % len(choices)]
    info = kind.info[name]
    low, high = info.low or 0.0, info.high or 1.0
    step = (high - low) / 17
    value = low + step * ((i * 5 + station * 3) % 17)
    return int(value) if name in kind.int_fields else round(value, 3)


def _readings(hours: int, start_ms: int = T0) -> tuple[list[str], dict[tuple, list[FieldValue]]]:
    """5-minute readings of every kind for two stations; values by (kind, field, st, hour)."""
    lines: list[str] = []
    by_hour: dict[tuple, list[FieldValue]] = defaultdict(list)
    for s, station in enumerate(STATIONS):
        for kind in KINDS.values():
            for i in range(hours * 12):
                ts = start_ms + i * 300_000
                fields = {n: _value(kind, n, i, s) for n in kind.field_names}
                tags = {schema.STATION: station, schema.DEVICE: kind.device}
                lines.append(encode_line(kind.measurement, tags, fields, ts))
                for n, v in fields.items():
                    by_hour[(kind.name, n, station, (ts - start_ms) // H)].append(v)
    return lines, by_hour


def _rp_rows(influxd: Influxd, db: str) -> list[tuple[str, str, bool]]:
    found = influxd.query(f'SHOW RETENTION POLICIES ON "{db}"', db=db)
    return sorted((r["name"], r["duration"], r["default"]) for r in found)


def _cqs(influxd: Influxd, db: str) -> dict[str, str]:
    answer = influxd.query_raw("SHOW CONTINUOUS QUERIES", db=db)
    out: dict[str, str] = {}
    for series in answer["results"][0]["series"]:
        if series["name"] == db:
            out |= {name: text for name, text in series.get("values", [])}
    return out


def test_setup_is_idempotent_and_follows_its_settings(influxd: Influxd, fresh_db: str) -> None:
    client, plan = rollup_plan(influxd, fresh_db)
    setup(client, plan)
    policies, cqs = _rp_rows(influxd, fresh_db), _cqs(influxd, fresh_db)
    # raw stays the default policy (the collector writes there), now kept 90 days
    # alert transitions in their own policy, kept for ever (they outlive the raw readings)
    assert policies == [
        ("autogen", "2160h0m0s", True),
        (schema.EVENTS_RP, "0s", False),
        (schema.DAILY_RP, "0s", False),
        (schema.ROLLUP_RP, "0s", False),
    ]
    shards = influxd.query(f'SHOW RETENTION POLICIES ON "{fresh_db}"', db=fresh_db)
    groups = {r["name"]: r["shardGroupDuration"] for r in shards}
    assert groups[schema.ROLLUP_RP] == groups[schema.DAILY_RP] == "8736h0m0s"
    assert groups[schema.EVENTS_RP] == "8736h0m0s"
    hourly = {f"{schema.ROLLUP_RP}_{k}" for k in KINDS}
    daily = {f"{schema.DAILY_RP}_{k}" for k in KINDS}
    assert set(cqs) == hourly | daily
    assert all("RESAMPLE EVERY 1h FOR 1d" in cqs[name] for name in hourly)
    # the daily CQ reads the hourly points by local day, over the hourly window and a day
    assert all("RESAMPLE EVERY 1h FOR 2d" in cqs[name] for name in daily)
    assert all(f".{schema.ROLLUP_RP}." in cqs[name].split(" FROM ")[1] for name in daily)
    assert all("GROUP BY time(1d, -2h)" in cqs[name] for name in daily)
    again = setup(client, plan)
    assert "retention policy autogen already keeps 90d" in again
    assert f"retention policy {schema.EVENTS_RP} already keeps INF" in again
    assert (_rp_rows(influxd, fresh_db), _cqs(influxd, fresh_db)) == (policies, cqs)
    assert influxd.count(schema.RESOLUTION, db=fresh_db, field="rp") == 0  # in its own RP
    choice = influxd.query(f'SELECT * FROM "{schema.ROLLUP_RP}"."resolution"', db=fresh_db)
    assert [(r["rp"], r["up_to_ms"], r["bucket"]) for r in choice] == [
        ("autogen", 7 * 86_400_000, "5m"),
        (schema.ROLLUP_RP, 30 * 86_400_000, "1h"),
        (schema.DAILY_RP, 2**62, "1d"),
    ]
    # a changed window replaces the CQs; a changed retention alters the policy
    _, wider = rollup_plan(
        influxd, fresh_db, resample_for="48h", raw_retention="30d", events_retention="520w"
    )
    setup(client, wider)
    assert all("FOR 2d" in _cqs(influxd, fresh_db)[name] for name in hourly)
    assert all("FOR 3d" in _cqs(influxd, fresh_db)[name] for name in daily)
    assert ("autogen", "720h0m0s", True) in _rp_rows(influxd, fresh_db)
    assert (schema.EVENTS_RP, "87360h0m0s", False) in _rp_rows(influxd, fresh_db)


def test_hourly_aggregates_of_every_field(influxd: Influxd, fresh_db: str) -> None:
    client, plan = rollup_plan(influxd, fresh_db, raw_retention="INF")
    setup(client, plan)
    lines, by_hour = _readings(hours=2)
    influxd.write(lines, db=fresh_db)
    written = backfill(client, plan, T0, T0 + 2 * H)
    # two hours, both in one local day (T0 is 02:00 in Maputo): two hourly points, one daily
    assert written == len(STATIONS) * len(KINDS) * (2 + 1)
    funcs = {"mean": statistics.fmean, "min": min, "max": max, "last": lambda v: v[-1]}
    funcs["sum"] = sum
    for kind in KINDS.values():
        got = influxd.query(
            f'SELECT * FROM "{schema.ROLLUP_RP}"."{kind.measurement}" GROUP BY *', db=fresh_db
        )
        assert len(got) == len(STATIONS) * 2
        for row in got:
            assert row[schema.DEVICE] == kind.device  # tags kept
            hour = (row["time"] - T0) // H
            for name, info in kind.info.items():
                values = by_hour[(kind.name, name, row[schema.STATION], hour)]
                if name in kind.str_fields:
                    assert row[name] == values[-1]
                    continue
                assert row[name] == pytest.approx(funcs[info.chart.agg](values)), name
                for func in ("mean", "min", "max", "last"):
                    assert row[f"{name}_{func}"] == pytest.approx(funcs[func](values))


def test_daily_points_aggregate_the_hourly_ones_by_local_day(
    influxd: Influxd, fresh_db: str
) -> None:
    client, plan = rollup_plan(influxd, fresh_db, raw_retention="INF")
    setup(client, plan)
    start = T0 - 2 * H  # 00:00 in Maputo: three whole local days
    lines, _ = _readings(hours=72, start_ms=start)
    influxd.write(lines, db=fresh_db)
    backfill(client, plan, start, start + 72 * H)
    funcs = {"mean": statistics.fmean, "min": min, "max": max, "last": lambda v: v[-1]}
    funcs["sum"] = sum
    for kind in KINDS.values():
        m = kind.measurement
        hourly = influxd.query(f'SELECT * FROM "{schema.ROLLUP_RP}"."{m}" GROUP BY *', fresh_db)
        daily = influxd.query(f'SELECT * FROM "{schema.DAILY_RP}"."{m}" GROUP BY *', fresh_db)
        by_day: dict[tuple[str, int], list[dict]] = defaultdict(list)
        for row in hourly:
            by_day[(row[schema.STATION], (row["time"] - start) // DAY)].append(row)
        assert len(daily) == len(STATIONS) * 3
        for row in daily:
            day, rest = divmod(row["time"] - start, DAY)
            assert rest == 0 and row[schema.DEVICE] == kind.device  # local midnight, tags kept
            hours = by_day[(row[schema.STATION], day)]
            assert len(hours) == 24
            for name, info in kind.info.items():
                if name in kind.str_fields:
                    assert row[name] == hours[-1][name]
                    continue
                chart = funcs[info.chart.agg]
                assert row[name] == pytest.approx(chart([h[name] for h in hours])), name
                for func in ("mean", "min", "max", "last"):
                    field = f"{name}_{func}"
                    assert row[field] == pytest.approx(funcs[func]([h[field] for h in hours]))


def test_a_late_backlog_gets_its_hours_by_backfill(
    influxd: Influxd,
    fresh_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOLARWATER_INFLUX__URL", influxd.url)
    monkeypatch.setenv("SOLARWATER_INFLUX__DB", fresh_db)
    monkeypatch.setenv("SOLARWATER_INFLUX__RAW_RETENTION", "INF")
    assert rollup_main(["setup"]) == 0
    # a station's three days of backlog, arriving after its hours were rolled up without it
    lines, _ = _readings(hours=72)
    influxd.write([ln for ln in lines if "st-a" in ln], db=fresh_db)
    start, end = "2026-01-01T00:00+00:00", "2026-01-04T00:00+00:00"
    assert rollup_main(["backfill", "--since", start, "--until", end]) == 0
    influxd.write([ln for ln in lines if "st-b" in ln], db=fresh_db)  # the late one
    hourly = f'SELECT count("battery_soc_pct") FROM "{schema.ROLLUP_RP}"."solar" GROUP BY "station"'
    assert {r["station"]: r["count"] for r in influxd.query(hourly, db=fresh_db)} == {"st-a": 72}
    assert rollup_main(["backfill", "--since", start, "--until", end]) == 0
    assert "backfilled" in capsys.readouterr().out
    counts = {r["station"]: r["count"] for r in influxd.query(hourly, db=fresh_db)}
    assert counts == {"st-a": 72, "st-b": 72}  # again idempotent for st-a: same points


def test_setup_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOLARWATER_INFLUX__URL", "http://127.0.0.1:9")
    assert rollup_main(["setup"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unreachable" in err
    monkeypatch.setenv("SOLARWATER_INFLUX__RAW_VIEW_UP_TO", "1y")
    assert rollup_main(["setup"]) == 2
    assert "raw_view_up_to" in capsys.readouterr().err


def test_an_hourly_view_shorter_than_the_raw_one_is_one_line(
    influxd: Influxd,
    fresh_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOLARWATER_INFLUX__URL", influxd.url)
    monkeypatch.setenv("SOLARWATER_INFLUX__DB", fresh_db)
    monkeypatch.setenv("SOLARWATER_INFLUX__HOURLY_VIEW_UP_TO", "1d")
    assert rollup_main(["setup"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hourly_view_up_to 1d must be" in err


@pytest.mark.parametrize(
    ("days", "rp", "bucket"),
    [
        (1, "autogen", "5m"),
        (7, "autogen", "30m"),  # 7 d / 300 points, rounded as Grafana does
        (7.0001, schema.ROLLUP_RP, "1h"),  # never finer than the hourly points
        (30, schema.ROLLUP_RP, "2h"),
        (30.0001, schema.DAILY_RP, "1d"),  # never finer than the daily points
        (365, schema.DAILY_RP, "1d"),
    ],
)
def test_the_range_picks_the_resolution_and_its_buckets(
    influxd: Influxd, fresh_db: str, days: float, rp: str, bucket: str
) -> None:
    client, plan = rollup_plan(influxd, fresh_db, raw_retention="INF")
    setup(client, plan)
    view = View(fresh_db, T0, T0 + int(days * 86_400_000))
    board = BOARDS["solarwater-station"]
    chosen = variables(influxd, view, board, None)
    assert [v.values for v in chosen if v.name == RP_VARIABLE] == [(rp,)]
    panel, query = query_of("solarwater-station", "PV power")  # 300 points
    text = interpolate(
        query,
        from_ms=view.from_ms,
        to_ms=view.to_ms,
        max_data_points=int(panel["maxDataPoints"]),
        min_interval=panel["interval"],
        variables=chosen,
    )
    assert f'FROM "{rp}"."solar"' in text and f"GROUP BY time({bucket})" in text


def test_one_query_text_reads_raw_and_hourly_alike(influxd: Influxd, fresh_db: str) -> None:
    client, plan = rollup_plan(influxd, fresh_db, raw_retention="INF")
    setup(client, plan)
    lines, _ = _readings(hours=48)
    influxd.write(lines, db=fresh_db)
    backfill(client, plan, T0, T0 + 48 * H)
    panel, query = query_of("solarwater-fleet", "Battery SoC by station")
    view = View(fresh_db, T0, T0 + 30 * 86_400_000)  # 30 d, 50 points: 12 h buckets
    board = variables(influxd, view, BOARDS["solarwater-fleet"], None)
    answers = []
    for rp in ("autogen", schema.ROLLUP_RP):
        chosen = [v for v in board if v.name != RP_VARIABLE] + [Variable(RP_VARIABLE, (rp,))]
        text = interpolate(
            query,
            from_ms=view.from_ms,
            to_ms=view.to_ms,
            max_data_points=int(panel["maxDataPoints"]),
            min_interval=panel.get("interval"),
            variables=chosen,
        )
        found = rows(influxd.query_raw(text, db=fresh_db))
        answers.append(
            [
                (r["station"], r["time"], r["battery_soc_pct"])
                for r in found
                if r["battery_soc_pct"] is not None
            ]
        )
    raw, hourly = answers
    assert len(raw) == len(STATIONS) * 4  # 48 hours of data
    assert [a[:2] for a in hourly] == [a[:2] for a in raw]
    assert [a[2] for a in hourly] == pytest.approx([a[2] for a in raw])


def test_latest_values_read_raw_data_at_any_range() -> None:
    _, query = query_of("solarwater-station", "Battery SoC")
    assert '"$rp"' not in query and 'FROM "solar"' in query  # the last reading, not an hour's


def test_fleet_rain_has_one_row_per_bucket(influxd: Influxd, fresh_db: str) -> None:
    client, plan = rollup_plan(influxd, fresh_db, raw_retention="INF")
    setup(client, plan)
    lines, by_hour = _readings(hours=48)
    influxd.write(lines, db=fresh_db)
    panel, query = query_of("solarwater-water", "Rain captured and rain fallen (fleet)", "B")
    view = View(fresh_db, T0, T0 + 2 * 86_400_000 - 1)
    text = interpolate(
        query,
        from_ms=view.from_ms,
        to_ms=view.to_ms,
        max_data_points=int(panel["maxDataPoints"]),
        min_interval=panel.get("interval"),
        variables=variables(influxd, view, BOARDS["solarwater-water"], None),
    )
    assert 'FROM "autogen"."tank"' in text
    found = rows(influxd.query_raw(text, db=fresh_db))
    assert len(found) == 48 == len({r["time"] for r in found})  # 1 h buckets, no duplicates
    first = statistics.fmean(sum(by_hour[("tank", "rain_mm", s, 0)]) for s in STATIONS)
    assert found[0]["rain_mm"] == pytest.approx(first)
