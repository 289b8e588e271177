"""Alert transitions in their own retention policy, against the real InfluxDB 1.6 and Mosquitto.

The collector runs in-process with its alert engine; the alerts board's queries run as Grafana
would send them (tests/dashboard_queries.py).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.config import ConfigError, load_settings
from collector.store.rollup.setup import setup
from collector.store.sinks import SinkUnavailable, make_sink
from collector.store.sinks.influx_v1 import InfluxV1Settings
from dashboards import alerts as alerts_board
from devices import schema
from devstack import Influxd, Mosquitto
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)
from tests.dashboard_queries import View, one, query_of, run
from tests.rollup_support import rollup_plan, set_up_rollup

DAY_MS = 86_400_000
MIN_MS = 60_000
STATION = "PEMBA-01"
EVENTS = f'"{schema.EVENTS_RP}"."{schema.ALERT}"'


def _low_battery_backlog(start_ms: int, minutes: int = 10) -> bytes:
    """A station's store-and-forward backlog: a reading a minute, battery critical throughout."""
    readings = [
        {"ts": (start_ms + i * MIN_MS) / 1000, "seq": i, "battery_soc_pct": 20.0,
         "battery_voltage_v": 23.0}
        for i in range(minutes)
    ]  # fmt: skip
    return orjson.dumps({"readings": readings})


def _overrides(mosquitto: Mosquitto, influxd: Influxd, db: str, prefix: str, data: Path) -> Any:
    return collector_overrides(
        mosquitto, influxd, db, prefix, data,
        **{"alerts.evaluate_interval_s": 0.2, "insight.enabled": False},
    )  # fmt: skip


def _policies(influxd: Influxd, db: str) -> dict[str, str]:
    rows = influxd.query(f'SHOW RETENTION POLICIES ON "{db}"', db=db)
    return {r["name"]: r["duration"] for r in rows}


async def test_an_alert_on_a_backlog_older_than_raw_retention_lands_and_shows_as_firing(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    set_up_rollup(influxd, fresh_db, raw_retention="90d")
    now_ms = int(time.time() * 1000)
    old_ms = now_ms - 100 * DAY_MS
    client = publisher(mosquitto)
    try:
        async with running_collector(
            _overrides(mosquitto, influxd, fresh_db, prefix, tmp_path)
        ) as collector:
            topic = f"{prefix}/{STATION}/solar/mppt1/telemetry"
            publish_all(client, [(topic, _low_battery_backlog(old_ms))])
            await wait_until(lambda: influxd.query(f"SELECT * FROM {EVENTS}", fresh_db), 20)
            # the readings themselves are older than the raw policy keeps: InfluxDB refuses them
            await wait_until(lambda: collector.quarantine.total > 0, 20)
    finally:
        client.loop_stop()
        client.disconnect()
    rows = influxd.query(f"SELECT * FROM {EVENTS}", fresh_db)
    assert [(r["station"], r["rule"], r["state"]) for r in rows] == [
        (STATION, "battery_critical", "firing")
    ]
    assert rows[0]["time"] < now_ms - 99 * DAY_MS  # at device time, 100 days back
    assert influxd.query(f'SELECT * FROM "{schema.ALERT}"', fresh_db) == []  # not in raw
    assert influxd.query('SELECT * FROM "solar"', fresh_db) == []
    # the alerts board, over the last 24 h, counts it: it fired long ago and still holds
    view = View(fresh_db, now_ms - DAY_MS, now_ms + MIN_MS)
    panel, active = query_of(alerts_board.UID, "Alerts firing")
    assert one(run(influxd, view, alerts_board.UID, panel, active), "active") == 1
    panel, firing = query_of(alerts_board.UID, "Firing now")
    shown = [(r["station"], r["rule"]) for r in run(influxd, view, alerts_board.UID, panel, firing)]
    assert shown == [(STATION, "battery_critical")]


async def test_spooled_alert_points_replay_into_the_events_policy_of_a_new_database(
    mosquitto: Mosquitto, influxd: Influxd, prefix: str, tmp_path: Path
) -> None:
    db = "t_" + uuid.uuid4().hex[:12]  # not created: the collector makes it and the policy
    data = tmp_path / "var"
    down = _overrides(mosquitto, influxd, db, prefix, data) | {"influx.url": "http://127.0.0.1:9"}
    client = publisher(mosquitto)
    try:
        async with running_collector(down) as collector:
            start_ms = int(time.time() * 1000) - 20 * MIN_MS
            topic = f"{prefix}/{STATION}/solar/mppt1/telemetry"
            publish_all(client, [(topic, _low_battery_backlog(start_ms))])
            spool = collector.events_spool
            assert spool is not None
            await wait_until(lambda: not spool.empty, 20)  # InfluxDB down: on disk
            _, details = collector.health()
            assert any(x.startswith("alert points not written") for x in details["problems"])
            assert details["events_spool"]["bytes"] > 0
        assert not spool.empty  # still there after the stop
        # InfluxDB back, the collector restarted: the old spool is read and replayed
        try:
            async with running_collector(_overrides(mosquitto, influxd, db, prefix, data)) as again:
                assert _policies(influxd, db)[schema.EVENTS_RP] == "0s"  # kept for ever
                await wait_until(lambda: influxd.query(f"SELECT * FROM {EVENTS}", db), 20)
                replayed = again.events_spool
                assert replayed is not None
                await wait_until(lambda: replayed.empty, 20)
            rows = influxd.query(f"SELECT * FROM {EVENTS}", db)
            assert [(r["station"], r["rule"], r["state"]) for r in rows] == [
                (STATION, "battery_critical", "firing")
            ]
            assert influxd.query(f'SELECT * FROM "{schema.ALERT}"', db) == []
        finally:
            influxd.drop_db(db)
    finally:
        client.loop_stop()
        client.disconnect()


async def test_the_events_sink_makes_its_policy_again_when_it_was_dropped(
    influxd: Influxd, fresh_db: str
) -> None:
    settings = InfluxV1Settings.model_validate({"url": influxd.url, "db": fresh_db})
    sink = make_sink(settings).events_sink()
    await sink.start()
    line = f'{schema.ALERT},station=A,rule=r,severity=warning state="firing" 1700000000000'
    try:
        await sink.prepare()
        assert _policies(influxd, fresh_db)[schema.EVENTS_RP] == "0s"
        await sink.prepare()  # again: harmless
        # `rollup setup` after the collector finds it as it wants it
        client, plan = rollup_plan(influxd, fresh_db)
        assert f"retention policy {schema.EVENTS_RP} already keeps INF" in setup(client, plan)
        influxd.query_raw(
            f'DROP RETENTION POLICY "{schema.EVENTS_RP}" ON "{fresh_db}"',
            db=fresh_db,
            method="POST",
        )
        with pytest.raises(SinkUnavailable, match="was missing; created it"):
            await sink.write([line])  # the writer spools it and retries
        await sink.write([line])
    finally:
        await sink.close()
    assert [r["state"] for r in influxd.query(f"SELECT * FROM {EVENTS}", fresh_db)] == ["firing"]


def test_setup_copies_alert_points_an_older_collector_wrote_to_the_raw_policy(
    influxd: Influxd, fresh_db: str
) -> None:
    """Upgrading keeps the alert history: the boards read `events` only."""
    influxd.create_db(fresh_db)
    influxd.write(
        [
            f'{schema.ALERT},station=A,rule=r,severity=critical state="firing",value=20.0,'
            f'message="low" 1700000000000',
            f'{schema.ALERT},station=A,rule=r,severity=critical state="resolved",value=60.0,'
            f'message="ok" 1700003600000',
        ],
        fresh_db,
    )
    client, plan = rollup_plan(influxd, fresh_db)
    for _ in range(2):  # the second setup copies the same points: nothing changes
        steps = setup(client, plan)
        assert f"copied 2 {schema.ALERT} points from {plan.raw_rp} to {schema.EVENTS_RP}" in steps
        rows = influxd.query(f"SELECT * FROM {EVENTS}", fresh_db)
        assert [(r["time"], r["state"], r["severity"]) for r in rows] == [
            (1700000000000, "firing", "critical"),
            (1700003600000, "resolved", "critical"),
        ]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"events_retention": "30d"}, "events_retention 30d must be INF or at least raw_retention"),
        ({"raw_retention": "INF", "events_retention": "520w"}, "at least raw_retention INF"),
        ({"retention_policy": schema.EVENTS_RP}, "is the alert transitions' own policy"),
    ],
)
def test_events_policy_mistakes_are_one_line(values: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, {f"influx.{k}": v for k, v in values.items()})
    assert expected in str(err.value) and "\n" not in str(err.value)
