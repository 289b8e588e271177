"""Storms, backlogs and restarts: grouping, inhibition, the digest, state that survives.

Each test runs `python -m collector` as a subprocess against the session's Mosquitto and
InfluxDB, with a real aiohttp webhook receiver, a real aiosmtpd server and an MQTT watcher.
Readings are hand-made with device timestamps hours in the past; a pacer station moves
fleet time on, so 30 minutes of silence pass in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
import yaml

from devices.topics import format_topic
from devstack import Influxd, Mosquitto
from tests.alert_support import SMTP_PASSWORD, AlertTopicWatch, Hook, Mailbox
from tests.collector_support import CollectorProcess, publish_all, publisher, wait_until
from tests.fault_support import collector_env, metric

MIN = 60_000
SUL = [f"SUL-{i:02d}" for i in range(1, 14)]
NORTE = [f"NORTE-{i:02d}" for i in range(1, 14)]
PACER = "PACER-01"  # reports all along: fleet time moves with its device clock
PHONES = {"sul": ["+258841110001"], "norte": ["+258842220002"], "centro": ["+258843330003"]}
EMAILS = {"sul": ["sul@example.org"], "norte": ["norte@example.org"]}


def fleet_yaml(path: Path) -> Path:
    """26 stations in two districts, and the pacer in a third."""
    stations = [
        {"id": s, "name": s.title(), "district": district, "latitude": -12.0 - i / 10,
         "longitude": 40.0, "devices": [{"kind": "solar", "id": "mppt1"}]}
        for district, ids in (("Sul", SUL), ("Norte", NORTE), ("Centro", [PACER]))
        for i, s in enumerate(ids)
    ]  # fmt: skip
    path.write_text(yaml.safe_dump({"stations": stations}))
    return path


def config_yaml(path: Path, fleet: Path, hook: Hook, smtp_port: int, **alerts: Any) -> Path:
    secret = path.with_name("smtp_password")
    secret.write_text(SMTP_PASSWORD)
    secret.chmod(0o600)
    section: dict[str, Any] = {
        "evaluate_interval_s": 0.05,
        "min_page_interval": 0,
        "repeat_interval": "1h",
        "notifiers": {
            "sms": {"type": "webhook", "url": hook.url, "backoff_s": 0.05, "timeout_s": 5},
            "mail": {"type": "email", "host": "127.0.0.1", "port": smtp_port,
                     "security": "none", "username": "alerts",
                     "password_file": str(secret),
                     "from": "alertas@solarwater.example", "backoff_s": 0.05},
            "bus": {"type": "mqtt"},
        },
        "routes": [
            {"name": "sul", "districts": ["Sul"], "notifiers": ["sms", "mail"],
             "recipients": {"phones": PHONES["sul"], "emails": EMAILS["sul"]}},
            {"name": "norte", "districts": ["Norte"], "notifiers": ["sms", "mail", "bus"],
             "recipients": {"phones": PHONES["norte"], "emails": EMAILS["norte"]}},
            {"name": "centro", "districts": ["Centro"], "notifiers": ["sms"],
             "recipients": {"phones": PHONES["centro"]}},
        ],
    }  # fmt: skip
    section.update(alerts)
    path.write_text(yaml.safe_dump({"fleet": str(fleet), "alerts": section}))
    return path


def solar(ts_ms: int, soc: float) -> dict[str, Any]:
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms / 1000))
    return {"ts": f"{iso}.{ts_ms % 1000:03d}Z", "battery_soc_pct": soc,
            "battery_voltage_v": 26.0, "charge_state": "float", "error_code": 0}  # fmt: skip


@dataclass
class Rig:
    """A collector subprocess, its receivers and a publisher standing in for the stations."""

    proc: CollectorProcess
    hook: Hook
    mailbox: Mailbox
    watch: AlertTopicWatch
    pub: mqtt.Client
    prefix: str
    t0: int  # device time of minute 0, hours before now

    def topic(self, station: str) -> str:
        return format_topic(self.prefix, station, "solar", "mppt1", "telemetry")

    async def send(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        encoded = [(self.topic(s), orjson.dumps(p)) for s, p in messages]
        await asyncio.to_thread(publish_all, self.pub, encoded)

    async def reading(self, station: str, minute: float, soc: float) -> None:
        await self.send([(station, solar(self.at(minute), soc))])

    async def backlog(self, station: str, minutes: range, soc: Any) -> None:
        readings = [solar(self.at(m), soc(m) if callable(soc) else soc) for m in minutes]
        await self.send([(station, {"readings": readings})])

    def at(self, minute: float) -> int:
        return self.t0 + int(minute * MIN)

    async def pace(self, first: float, last: float, step: float, pause_s: float = 0.0) -> None:
        """The pacer reports from `first` to `last` (minutes): fleet time follows."""
        m = first
        while m <= last:
            await self.reading(PACER, m, 85.0)
            if pause_s:
                await asyncio.sleep(pause_s)
            m += step

    async def pace_until(
        self, first: float, step: float, done: Any, limit: float, pause_s: float = 0.05
    ) -> float:
        """The pacer reports step by step until `done()` (evaluations see each step): a
        slow machine takes more steps, not a different fleet time. The minute reached."""
        m = first
        while not done():
            assert m <= limit, f"not done by minute {limit}"
            await self.reading(PACER, m, 85.0)
            await asyncio.sleep(pause_s)
            m += step
        return m

    def posts(self, **match: Any) -> list[dict[str, Any]]:
        return self.hook.events(**match)

    async def alerts(self) -> list[dict[str, Any]]:
        def get() -> list[dict[str, Any]]:
            import urllib.request

            url = f"http://127.0.0.1:{self.proc.http_port}/alerts"
            with urllib.request.urlopen(url, timeout=5) as resp:
                body: list[dict[str, Any]] = orjson.loads(resp.read())["alerts"]
            return body

        return await asyncio.to_thread(get)


@pytest.fixture
def make_rig(
    mosquitto: Mosquitto,
    influxd: Influxd,
    fresh_db: str,
    prefix: str,
    tmp_path: Path,
    hook: Hook,
    mailbox: tuple[Mailbox, int],
) -> Iterator[Any]:
    made: list[Rig] = []

    def make(hours_ago: float, **alerts: Any) -> Rig:
        fleet = fleet_yaml(tmp_path / "fleet.yaml")
        cfg = config_yaml(tmp_path / "collector.yaml", fleet, hook, mailbox[1], **alerts)
        env = collector_env(mosquitto, influxd, fresh_db, prefix, tmp_path / "var")
        proc = CollectorProcess(tmp_path, env, ["--config", str(cfg)])
        watch = AlertTopicWatch(mosquitto, prefix)
        now = int(time.time() * 1000)
        t0 = now - int(hours_ago * 3600_000) - now % MIN
        rig = Rig(proc, hook, mailbox[0], watch, publisher(mosquitto), prefix, t0)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        if rig.proc.proc is not None:
            rig.proc.stop()
        rig.watch.close()
        rig.pub.loop_stop()
        rig.pub.disconnect()


def silence_posts(rig: Rig, event: str) -> list[dict[str, Any]]:
    return rig.posts(event=event, rule="station_silent")


# --- 1. 26 stations go silent at once ------------------------------------------------------


async def test_storm_of_silent_stations_pages_each_route_once_and_inhibits_their_batteries(
    make_rig: Any, influxd: Influxd, fresh_db: str
) -> None:
    rig: Rig = make_rig(hours_ago=3)
    storm = SUL + NORTE
    await asyncio.to_thread(rig.proc.start)
    # live: ten minutes of low batteries (battery_low needs 15), the last words staggered
    # over 50 s of device time
    for m in range(0, 11):
        await rig.send([(s, solar(rig.at(m), 45.0)) for s in storm])
        await rig.reading(PACER, m, 85.0)
    await rig.send([(s, solar(rig.at(10) + 2000 * i + 1000, 45.0)) for i, s in enumerate(storm)])
    # fleet time crosses the 30 minutes of each station, slowly around them
    await rig.pace(11, 39, 1)
    reached = await rig.pace_until(39.25, 0.25, lambda: len(silence_posts(rig, "firing")) >= 2, 65)
    # a first backlog batch up to minute 40: batteries still low and not stale at minute 75,
    # yet the stations are still silent (35 min) -> battery_low fires, inhibited
    await rig.pace(reached, 75, 1)
    for s in storm:
        await rig.backlog(s, range(11, 41), 45.0)

    async def inhibited_count() -> int:
        return sum(a["rule"] == "battery_low" for a in await rig.alerts())

    deadline = time.monotonic() + 15
    while await inhibited_count() < 26:
        assert time.monotonic() < deadline, await rig.alerts()
        await asyncio.sleep(0.1)
    active = await rig.alerts()
    assert {a["station"] for a in active if a["rule"] == "station_silent"} == set(storm)
    # recorded and listed, marked as held back by their station's silence
    assert {(a["rule"], a["inhibited"]) for a in active} == {
        ("battery_low", True), ("station_silent", False)
    }  # fmt: skip
    assert rig.posts(rule="battery_low") == []
    # the rest of the backlog: batteries recovered, the stations speak again
    for s in storm:
        await rig.backlog(s, range(41, 76), 85.0)
    await rig.pace_until(75.5, 0.5, lambda: len(rig.posts(event="digest")) >= 2, 120)
    await asyncio.sleep(0.5)  # anything more would land now
    metrics = rig.proc.metrics()
    rig.proc.stop()

    for event in ("firing", "resolved"):
        posts = silence_posts(rig, event)
        # one per route, listing its 13 stations
        assert sorted(p["route"] for p in posts) == ["norte", "sul"], event
        for p in posts:
            ids = SUL if p["route"] == "sul" else NORTE
            assert sorted(p["stations"]) == ids and p["phones"] == PHONES[p["route"]]
            assert len(set(p["alert_ids"])) == 13 and p["station"] == ""
            assert "13 estações" in p["text"]
    # the batteries were never paged: they fired and cleared while their stations were silent
    assert rig.posts(rule="battery_low") == []
    # what came and went is told in one digest per route, one line per station
    digests = rig.posts(event="digest")
    assert sorted(p["route"] for p in digests) == ["norte", "sul"]
    for p in digests:
        assert sorted(p["stations"]) == (SUL if p["route"] == "sul" else NORTE)
        assert p["text"].count("Bateria fraca") == 13, p["text"]
    assert {p["route"] for p in rig.hook.posts} == {"sul", "norte"}  # the pacer: nothing
    assert len(rig.hook.posts) == 6
    # e-mail: the same six, to the two routes' addresses
    assert sorted(r[0] for r, _ in rig.mailbox.messages) == sorted(
        [EMAILS["sul"][0]] * 3 + [EMAILS["norte"][0]] * 3
    )
    # MQTT (norte only): the grouped notification keeps one retained topic per station
    got = rig.watch.messages()
    silent_topics = {t for t, b, _ in got if t.endswith("/station_silent") and b}
    assert silent_topics == {f"{rig.prefix}/alerts/{s}/station_silent" for s in NORTE}
    assert rig.watch.retained_now() == []
    # the state of each battery was recorded all the same
    rows = influxd.query(
        'SELECT "state" FROM "events"."alert" WHERE rule = \'battery_low\'', fresh_db
    )
    states = [r["state"] for r in rows]
    assert (states.count("firing"), states.count("resolved"), len(states)) == (26, 26, 52)
    # 13 stations x 5 (route, notifier) pairs x (silence, return, digest)
    assert metric(metrics, "solarwater_notifications_grouped_total") == 13 * 5 * 3
    assert metric(metrics, "solarwater_alerts_inhibited") == 0


# --- 2. a 6 h GSM outage whose backlog holds a battery that went low and recovered --------


async def test_outage_backlog_with_a_battery_that_came_and_went_sends_only_its_digest(
    make_rig: Any, influxd: Influxd, fresh_db: str
) -> None:
    rig: Rig = make_rig(hours_ago=9)
    await asyncio.to_thread(rig.proc.start)
    for m in range(0, 61, 5):  # an hour live
        await rig.reading("SUL-01", m, 85.0)
        await rig.reading(PACER, m, 85.0)
    await rig.pace(65, 415, 5)  # six hours without SUL-01
    await rig.pace_until(415.5, 0.5, lambda: len(silence_posts(rig, "firing")) == 1, 440)
    # its backlog, in three batches of two hours: below 50% from +2 h for an hour
    low = range(120, 180)
    for first in range(65, 420, 120):
        await rig.backlog(
            "SUL-01", range(first, first + 120, 5), lambda m: 45.0 if m in low else 85.0
        )
        await asyncio.sleep(0.2)
    await rig.pace_until(441, 1, lambda: len(rig.posts(event="digest")) == 1, 480)
    await asyncio.sleep(0.5)
    rig.proc.stop()

    assert [(p["event"], p["station"], p["rule"], p["route"]) for p in rig.hook.posts] == [
        ("firing", "SUL-01", "station_silent", "sul"),
        ("resolved", "SUL-01", "station_silent", "sul"),
        ("digest", "SUL-01", "alert_digest", "sul"),
    ]
    [digest] = rig.posts(event="digest")
    # the battery's hours in the station's timezone (Africa/Maputo, UTC+2)
    since = time.strftime("%H:%M", time.gmtime((rig.at(120) + 2 * 3600_000) / 1000))
    assert "Bateria fraca" in digest["text"] and since in digest["text"], digest["text"]
    assert len(rig.mailbox.messages) == 3
    rows = influxd.query('SELECT * FROM "events"."alert" WHERE rule = \'battery_low\'', fresh_db)
    assert rows == []  # nothing fired: by the time it arrived, it was over


# --- 3. restarts: nothing paged twice, a pending `for` survives kill -9 --------------------


async def test_restart_and_kill9_page_nothing_twice_and_keep_a_pending_timer(
    make_rig: Any,
) -> None:
    rig: Rig = make_rig(hours_ago=2, repeat_interval="2s")
    x, y = "NORTE-01", "NORTE-02"
    await asyncio.to_thread(rig.proc.start)
    for m in range(0, 7):  # X critical (5 min), Y healthy
        await rig.send([(x, solar(rig.at(m), 25.0)), (y, solar(rig.at(m), 85.0))])
    await wait_until(lambda: len(rig.posts(event="firing", rule="battery_critical")) == 1, 15, 0.05)
    # the MQTT notifier sends reminders like the others
    topic = f"{rig.prefix}/alerts/{x}/battery_critical"

    def mqtt_reminded() -> bool:
        return any(
            t == topic and b and orjson.loads(b)["event"] == "reminder"
            for t, b, _ in rig.watch.messages()
        )

    await wait_until(mqtt_reminded, 10, 0.05)
    assert rig.posts(event="reminder", rule="battery_critical")

    # a clean restart
    assert await asyncio.to_thread(rig.proc.stop) == 0
    await asyncio.to_thread(rig.proc.start)
    for m in range(7, 9):
        await rig.send([(x, solar(rig.at(m), 25.0)), (y, solar(rig.at(m), 85.0))])
    # Y starts a battery_low run (15 min) after the restart: only its own save keeps it
    for m in range(9, 13):
        await rig.send([(x, solar(rig.at(m), 25.0)), (y, solar(rig.at(m), 45.0))])
    await asyncio.sleep(0.5)  # a few evaluations: the timer is saved when it starts
    await asyncio.to_thread(rig.proc.kill)
    await asyncio.to_thread(rig.proc.start)
    for m in range(13, 25):
        await rig.send([(x, solar(rig.at(m), 25.0)), (y, solar(rig.at(m), 45.0))])
    await wait_until(lambda: rig.posts(event="firing", station=y, rule="battery_low"), 15, 0.05)
    await asyncio.sleep(0.5)
    rig.proc.stop()

    # Y's page counts `for` from its first low reading, before the kill
    [page] = rig.posts(event="firing", station=y, rule="battery_low")
    assert page["since_ms"] == rig.at(9)
    # X's alerts: paged once each across both restarts (reminders aside)
    firing = [(p["station"], p["rule"]) for p in rig.posts(event="firing")]
    assert sorted(firing) == [(x, "battery_critical"), (x, "battery_low"), (y, "battery_low")]
