"""AlertService end to end at the engine level, against real SMTP, HTTP, Mosquitto and InfluxDB.

Readings are fed to `observe` with device timestamps; the wall clock is a controllable
fake (it only drives reminders, silences and the quiet-fleet fallback), and the real
evaluation loop runs every 20 ms.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from collector.alerts import AlertService, AlertSettings
from collector.alerts.api import AlertApi
from collector.auth_limit import AuthLimiter, AuthLimitSettings
from collector.ingest.readings import Reading
from devices.stations import load_fleet
from devstack import Influxd, Mosquitto
from tests.alert_support import SMTP_PASSWORD, Hook, Mailbox

FLEET = load_fleet()
T0 = 1_750_000_000_000 - (1_750_000_000_000 % 60_000)  # device time, whole minute
MIN = 60_000
TICK = 0.02
TOKEN = "svc-7d3f9a1c5e8b2d4f6a0c9e1b"
# tests that move the wall clock by hours without readings keep silence pages out of the way
NO_SILENCE = {"station_silent": {"enabled": False}}
PEMBA_PHONES = ["+258841110001", "+258841110002"]
FALLBACK_PHONE = "+258849990000"


class FakeClock:
    """Wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def solar(station: str, ts: int, soc: float, volts: float = 25.6, **extra: Any) -> Reading:
    fields: dict[str, float | int | str] = {
        "battery_soc_pct": float(soc),
        "battery_voltage_v": volts,
        "charge_state": "float",
        "error_code": 0,
    }
    fields.update(extra)
    return Reading(station, FLEET.district_of(station), "solar", "mppt1", ts, None, fields)


def tank(station: str, ts: int, level: float) -> Reading:
    return Reading(
        station, FLEET.district_of(station), "tank", "tank1", ts, None, {"level_pct": level}
    )


# --- real receivers ---------------------------------------------------------------------


class MqttWatch:
    """A subscriber to `{prefix}/alerts/#` and a publisher standing in for the collector's."""

    def __init__(self, broker: Mosquitto, prefix: str) -> None:
        self.got: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.sub.on_message = self._on_message
        self.sub.connect(broker.host, broker.port)
        self.sub.subscribe(f"{prefix}/alerts/#", qos=1)
        self.sub.loop_start()
        self.pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.pub.connect(broker.host, broker.port)
        self.pub.loop_start()
        self.broker = broker

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.got.append((msg.topic, msg.payload, bool(msg.retain)))

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.pub.publish(topic, payload, qos=qos, retain=retain)

    def retained(self, topic: str, timeout: float = 3.0) -> bytes | None:
        """What a newly connecting client is handed on `topic` (None: nothing retained)."""
        box: list[bytes] = []
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.on_message = lambda cl, u, m: box.append(m.payload)
        c.connect(self.broker.host, self.broker.port)
        c.subscribe(topic, qos=1)
        c.loop_start()
        deadline = time.monotonic() + timeout
        while not box and time.monotonic() < deadline:
            time.sleep(0.05)
        c.loop_stop()
        c.disconnect()
        return box[0] if box else None

    def close(self) -> None:
        for c in (self.sub, self.pub):
            c.loop_stop()
            c.disconnect()


@pytest.fixture
def mqtt_watch(mosquitto: Mosquitto, prefix: str) -> Iterator[MqttWatch]:
    w = MqttWatch(mosquitto, prefix)
    time.sleep(0.2)  # subscription in place
    yield w
    w.close()


# --- the service under test ----------------------------------------------------------------


def base_config(hook: Hook, smtp_port: int, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "language": "pt",
        "evaluate_interval_s": TICK,
        "repeat_interval": "1h",
        "min_page_interval": 0,  # the fake wall clock stands still: pages are not damped here
        "group_wait": 0,  # nor would fleet time move on to send a group
        "api_token": TOKEN,
        "notifiers": {
            "sms": {"type": "webhook", "url": hook.url, "bearer_token": "gw-token",
                    "retries": 3, "backoff_s": 0.01, "timeout_s": 2},
            "mail": {"type": "email", "host": "127.0.0.1", "port": smtp_port,
                     "security": "none", "username": "alerts", "password": SMTP_PASSWORD,
                     "from": "alerts@solarwater.example", "backoff_s": 0.01},
            "bus": {"type": "mqtt"},
        },
        "routes": [
            {"name": "pemba", "districts": ["Pemba", "Metuge"], "notifiers": ["sms", "mail", "bus"],
             "recipients": {"phones": PEMBA_PHONES, "emails": ["tecnico.pemba@example.org"]}},
            {"name": "montepuez", "districts": ["Montepuez"], "notifiers": ["sms"],
             "recipients": {"phones": ["+258842220000"]}},
        ],
        "fallback": {"notifiers": ["sms", "bus"], "recipients": {"phones": [FALLBACK_PHONE]}},
    }  # fmt: skip
    cfg.update(over)
    return cfg


class Harness:
    """One AlertService with its receivers; `restart` makes a new one on the same state."""

    def __init__(self, cfg: dict[str, Any], state: Path, watch: MqttWatch, prefix: str) -> None:
        self.cfg = cfg
        self.state = state
        self.watch = watch
        self.prefix = prefix
        self.clock = FakeClock()
        self.lines: list[str] = []  # alert transitions
        self.states: list[str] = []  # station_state points (test_dashboards_state.py)
        self.svc = self._make()

    def _write(self, lines: list[str]) -> None:
        for line in lines:
            (self.states if line.startswith("station_state,") else self.lines).append(line)

    def _make(self) -> AlertService:
        return AlertService(
            AlertSettings.model_validate(self.cfg),
            FLEET,
            self.state,
            prefix=self.prefix,
            write_lines=self._write,
            mqtt_publish=self.watch.publish,
            clock=self.clock,
        )

    async def restart(self) -> None:
        await self.svc.stop()
        self.svc = self._make()
        await self.svc.start()

    def feed(self, readings: list[Reading]) -> None:
        for r in readings:
            self.svc.observe(r)

    async def settle(self, ticks: int = 4) -> None:
        """Let the real evaluation loop run a few times and deliveries finish."""
        await asyncio.sleep(TICK * ticks)
        await wait_for(lambda: self.svc.dispatcher.pending() == 0, 5)
        await asyncio.sleep(0.05)


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until `cond()` held; fails the test after `timeout`."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


@pytest.fixture
async def make(
    tmp_path: Path, hook: Hook, mailbox: tuple[Mailbox, int], mqtt_watch: MqttWatch, prefix: str
) -> AsyncIterator[Callable[..., Any]]:
    made: list[Harness] = []

    async def factory(**over: Any) -> Harness:
        h = Harness(base_config(hook, mailbox[1], **over), tmp_path / "state", mqtt_watch, prefix)
        await h.svc.start()
        made.append(h)
        return h

    yield factory
    for h in made:
        if h.svc._task is not None:
            await h.svc.stop()


def healthy_fleet(ts: int, skip: str = "") -> list[Reading]:
    return [solar(s.id, ts, 85.0) for s in FLEET.stations if s.id != skip]


def fleet_with(ts: int, station: str, soc: float) -> list[Reading]:
    """The healthy fleet at `ts`, with `station` at `soc`."""
    return [*healthy_fleet(ts, skip=station), solar(station, ts, soc)]


# --- scenarios -------------------------------------------------------------------------------


async def test_failing_battery_pages_its_district_once_and_resolves(
    make: Callable[..., Any],
    hook: Hook,
    mailbox: tuple[Mailbox, int],
    mqtt_watch: MqttWatch,
    influxd: Influxd,
    fresh_db: str,
    prefix: str,
) -> None:
    h: Harness = await make()
    box = mailbox[0]
    # 30 healthy minutes, then PEMBA-01 drops to 45% (battery_low: < 50 for 15 min)
    for m in range(30):
        h.feed(healthy_fleet(T0 + m * MIN))
    bad_from = 30
    for m in range(bad_from, bad_from + 15):  # 0..14 min below: not yet 15 min
        h.feed(healthy_fleet(T0 + m * MIN, skip="PEMBA-01"))
        h.feed([solar("PEMBA-01", T0 + m * MIN, 45.0)])
    await h.settle()
    assert hook.posts == [] and box.messages == []

    due = bad_from + 15
    h.feed(fleet_with(T0 + due * MIN, "PEMBA-01", 44.0))
    took = await wait_for(lambda: len(hook.posts) == 1, 3)
    assert took < TICK + 1.0  # one evaluation cycle plus an HTTP round trip
    await h.settle()

    fired = hook.events(event="firing")
    assert len(fired) == 1 and len(hook.posts) == 1
    p = fired[0]
    assert (p["station"], p["rule"], p["district"], p["route"]) == (
        "PEMBA-01", "battery_low", "Pemba", "pemba"
    )  # fmt: skip
    assert p["phones"] == PEMBA_PHONES and p["value"] == 44.0 and p["threshold"] == "< 50"
    assert p["duration_s"] == 15 * 60
    assert len(p["sms"]) <= 160 and "PEMBA-01" in p["sms"] and "(Pemba)" in p["sms"]
    assert "44%" in p["sms"] and "< 50%" in p["sms"] and "15 min" in p["sms"]
    assert hook.auth[0] == "Bearer gw-token"
    assert [rcpt for rcpt, _ in box.messages] == [["tecnico.pemba@example.org"]]
    assert "Bateria fraca" in box.subjects()[0]

    # more low minutes: still one page (reminders are 1 h of wall time away)
    for m in range(due + 1, due + 10):
        h.feed(fleet_with(T0 + m * MIN, "PEMBA-01", 44))
    await h.settle()
    assert len(hook.posts) == 1

    # 55% is inside the hysteresis band: not resolved; 65% clears it
    rec = due + 10
    h.feed(fleet_with(T0 + rec * MIN, "PEMBA-01", 55))
    await h.settle()
    assert len(hook.posts) == 1
    rec += 1
    h.feed(fleet_with(T0 + rec * MIN, "PEMBA-01", 65))
    await wait_for(lambda: len(hook.posts) == 2, 3)
    await h.settle()
    resolved = hook.events(event="resolved")
    assert len(resolved) == 1 and resolved[0]["station"] == "PEMBA-01"
    assert resolved[0]["ts_ms"] == T0 + rec * MIN and resolved[0]["value"] == 65.0
    assert resolved[0]["sms"].startswith("RESOLVIDO Bateria fraca: PEMBA-01 (Pemba)")
    assert len(hook.posts) == 2 and len(box.messages) == 2
    assert {p["station"] for p in hook.posts} == {"PEMBA-01"}
    assert h.svc.stats()["notifications_failed"] == 0

    # MQTT: the firing was retained, the resolution cleared it
    topic = f"{prefix}/alerts/PEMBA-01/battery_low"
    with mqtt_watch.lock:
        seen = [(t, orjson.loads(b)["event"] if b else None, r) for t, b, r in mqtt_watch.got]
    assert seen == [(topic, "firing", False), (topic, "resolved", False), (topic, None, False)]
    assert mqtt_watch.retained(topic, timeout=0.5) is None

    # InfluxDB: the two transitions at their device times
    influxd.write(h.lines, fresh_db)
    rows = influxd.query('SELECT * FROM "alert"', fresh_db)
    got = [
        (r["time"], r["station"], r["rule"], r["severity"], r["state"], r["value"]) for r in rows
    ]
    assert got == [
        (T0 + due * MIN, "PEMBA-01", "battery_low", "warning", "firing", 44.0),
        (T0 + rec * MIN, "PEMBA-01", "battery_low", "warning", "resolved", 65.0),
    ]
    assert "PEMBA-01" in rows[0]["message"] and "há 15 min" in rows[0]["message"]


async def test_backlog_already_cleared_in_device_time_fires_nothing(
    make: Callable[..., Any], hook: Hook
) -> None:
    h: Harness = await make()
    live_end = 6 * 60  # six hours of fleet time
    for m in range(0, live_end + 1, 5):
        h.feed(healthy_fleet(T0 + m * MIN, skip="PEMBA-02"))
    h.feed([solar("PEMBA-02", T0, 85.0)])
    await h.settle()
    # six hours without a word from PEMBA-02: that much is true, and paged
    assert [(p["station"], p["rule"]) for p in hook.posts] == [("PEMBA-02", "station_silent")]
    hook.posts.clear()
    h.lines.clear()
    # PEMBA-02's 6 h backlog arrives in one go: below 50% for 20 min (more than battery_low's
    # 15), critical for 10 min (more than its 5), a controller fault and an empty-tank
    # minute, all cleared long before the backlog ends
    backlog = []
    for m in range(1, live_end + 1):
        soc = 45.0 if 60 <= m < 80 else 25.0 if 100 <= m < 110 else 85.0
        extra: dict[str, Any] = {"error_code": 7} if m == 200 else {}
        backlog.append(solar("PEMBA-02", T0 + m * MIN, soc, **extra))
        backlog.append(tank("PEMBA-02", T0 + m * MIN, 3.0 if m == 150 else 60.0))
    h.feed(backlog)
    await h.settle(8)
    # the news is that the station speaks again, then one digest of what came and went;
    # no stale battery, tank or fault page
    assert [(p["event"], p["rule"]) for p in hook.posts] == [
        ("resolved", "station_silent"), ("digest", "alert_digest")
    ]  # fmt: skip
    digest = hook.posts[1]["text"]
    for title in ("Bateria fraca", "Bateria crítica", "Falha do controlador", "Tanque vazio"):
        assert title in digest, digest
    assert len(h.lines) == 1 and "rule=station_silent" in h.lines[0]
    assert h.svc.stats()["alerts_fired"] == 1 and h.svc.stats()["alerts_active"] == 0


async def test_backlog_still_failing_fires_once_at_device_time(
    make: Callable[..., Any], hook: Hook
) -> None:
    h: Harness = await make()
    for m in range(0, 6 * 60 + 1, 5):
        h.feed(healthy_fleet(T0 + m * MIN, skip="PEMBA-02"))
    # the live reading of PEMBA-02 arrives first, then its backlog interleaves late
    h.feed([solar("PEMBA-02", T0 + 360 * MIN, 40.0)])
    backlog = [solar("PEMBA-02", T0 + m * MIN, 85.0) for m in range(0, 360)]
    h.feed(backlog)  # all older than the live reading: skipped by the state machine
    assert h.svc.stats()["alert_readings_out_of_order"] == 360
    # then it keeps reporting low
    for m in range(361, 380):
        h.feed(fleet_with(T0 + m * MIN, "PEMBA-02", 40))
    await wait_for(lambda: len(hook.posts) == 1, 3)
    await h.settle()
    assert len(hook.posts) == 1
    assert hook.posts[0]["rule"] == "battery_low" and hook.posts[0]["ts_ms"] >= T0 + 375 * MIN
    assert "PEMBA-02" in h.lines[0] and h.lines[0].endswith(str(T0 + 375 * MIN))


async def test_silent_station_alerts_once_and_resolves_when_it_speaks(
    make: Callable[..., Any], hook: Hook
) -> None:
    h: Harness = await make(rules={"station_silent": {"for": "30m"}})
    # only two stations have ever reported: the other 17 must not page at start-up
    for m in range(0, 10):
        h.feed([solar("PEMBA-01", T0 + m * MIN, 85), solar("MONTEPUEZ-01", T0 + m * MIN, 85)])
    await h.settle()
    for m in range(10, 45):  # PEMBA-01 goes quiet after minute 9
        h.feed([solar("MONTEPUEZ-01", T0 + m * MIN, 85)])
        await asyncio.sleep(0.002)
    await wait_for(lambda: len(hook.posts) == 1, 3)
    await h.settle()
    p = hook.posts[0]
    assert (p["event"], p["station"], p["rule"]) == ("firing", "PEMBA-01", "station_silent")
    assert p["since_ms"] == T0 + 9 * MIN and p["phones"] == PEMBA_PHONES
    assert h.lines[0].endswith(f" {T0 + 39 * MIN}")  # silent from 30 min after the last word
    assert "sem telemetria" in p["text"]
    for m in range(45, 60):
        h.feed([solar("MONTEPUEZ-01", T0 + m * MIN, 85)])
    await h.settle()
    assert len(hook.posts) == 1
    h.feed([solar("PEMBA-01", T0 + 60 * MIN, 85)])
    await wait_for(lambda: len(hook.posts) == 2, 3)
    await h.settle()
    r = hook.posts[1]
    assert (r["event"], r["station"], r["ts_ms"]) == ("resolved", "PEMBA-01", T0 + 60 * MIN)
    assert r["duration_s"] == 51 * 60
    assert len(hook.posts) == 2


async def test_whole_fleet_quiet_falls_back_to_the_wall_clock(
    make: Callable[..., Any], hook: Hook
) -> None:
    h: Harness = await make()
    h.feed([solar("PEMBA-01", T0, 85), solar("MONTEPUEZ-01", T0, 85)])
    await h.settle()
    h.clock.t += 29 * 60
    await h.settle()
    assert hook.posts == []
    h.clock.t += 2 * 60  # 31 min of wall time without any reading from anyone
    await wait_for(lambda: len(hook.posts) == 2, 3)
    await h.settle()
    assert {(p["station"], p["rule"]) for p in hook.posts} == {
        ("PEMBA-01", "station_silent"),
        ("MONTEPUEZ-01", "station_silent"),
    }


async def test_restart_mid_alert_sends_nothing_twice(
    make: Callable[..., Any], hook: Hook, mailbox: tuple[Mailbox, int]
) -> None:
    # the wall clock jumps an hour below: keep silence out of this test
    h: Harness = await make(rules=NO_SILENCE)
    for m in range(0, 20):
        h.feed([solar("PEMBA-01", T0 + m * MIN, 20.0), solar("MONTEPUEZ-01", T0 + m * MIN, 85)])
    await wait_for(lambda: len(hook.posts) == 2, 3)  # battery_critical at 5 min, low at 15
    await h.settle()
    assert sorted(p["rule"] for p in hook.posts) == ["battery_critical", "battery_low"]
    ids = {p["rule"]: p["alert_id"] for p in hook.posts}

    await h.restart()
    assert h.svc.stats()["alerts_active"] == 2
    for m in range(20, 40):
        h.feed([solar("PEMBA-01", T0 + m * MIN, 20.0), solar("MONTEPUEZ-01", T0 + m * MIN, 85)])
    await h.settle(8)
    assert len(hook.posts) == 2  # no second page after the restart
    h.clock.t += 3600  # the reminder falls due an hour after the first page, not after restart
    await wait_for(lambda: len(hook.posts) == 4, 3)
    assert sorted(p["event"] for p in hook.posts[2:]) == ["reminder", "reminder"]

    await h.restart()
    h.feed([solar("PEMBA-01", T0 + 40 * MIN, 70.0, volts=26.0)])
    await wait_for(lambda: len(hook.posts) == 6, 3)
    await h.settle()
    resolved = hook.events(event="resolved")
    assert {(p["rule"], p["alert_id"]) for p in resolved} == set(ids.items())
    assert len(hook.posts) == 6 and len(mailbox[0].messages) == 6


async def test_ack_stops_reminders(make: Callable[..., Any], hook: Hook) -> None:
    h: Harness = await make(repeat_interval="10m", rules=NO_SILENCE)
    h.feed([tank("PEMBA-01", T0, 2.0)])  # tank_empty fires at once
    await wait_for(lambda: len(hook.posts) == 1, 3)
    alert_id = hook.posts[0]["alert_id"]
    h.clock.t += 600
    await wait_for(lambda: len(hook.posts) == 2, 3)
    assert hook.posts[1]["event"] == "reminder" and hook.posts[1]["sms"].startswith("LEMBRETE")

    app = web.Application()
    AlertApi(h.svc, AuthLimiter(AuthLimitSettings())).mount(app)
    async with TestClient(TestServer(app)) as client:
        resp = await client.post(
            f"/alerts/{alert_id}/ack",
            json={"by": "Tecnico Pemba"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert resp.status == 200
        body = await resp.json()
        assert body["acked_by"] == "Tecnico Pemba" and body["acked"] is not None
    for _ in range(3):
        h.clock.t += 600
        await h.settle()
    assert len(hook.posts) == 2
    h.feed([tank("PEMBA-01", T0 + MIN, 50.0)])  # the resolution is still announced
    await wait_for(lambda: len(hook.posts) == 3, 3)
    assert hook.posts[2]["event"] == "resolved"
    async with TestClient(TestServer(app)) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.post(f"/alerts/{alert_id}/ack", headers=auth)).status == 409
        assert (await client.post(f"/alerts/{alert_id + 5}/ack", headers=auth)).status == 404


async def test_silenced_station_is_quiet_until_the_window_ends(
    make: Callable[..., Any], hook: Hook
) -> None:
    h: Harness = await make(rules=NO_SILENCE, repeat_interval=0)  # 0: no reminders
    app = web.Application()
    AlertApi(h.svc, AuthLimiter(AuthLimitSettings())).mount(app)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with TestClient(TestServer(app)) as client:
        resp = await client.post(
            "/silences", json={"station": "PEMBA-01", "duration": "2h", "comment": "visita"},
            headers=auth,
        )  # fmt: skip
        assert resp.status == 201, await resp.text()
        silence = await resp.json()
        # a silence for MONTEPUEZ-01's controller faults, deleted again
        resp = await client.post(
            "/silences", json={"station": "MONTEPUEZ-01", "rule": "controller_fault",
                               "duration": 3600}, headers=auth,
        )  # fmt: skip
        other = await resp.json()
        assert (await client.delete(f"/silences/{other['id']}", headers=auth)).status == 200
        listed = await (await client.get("/silences")).json()
        assert [s["id"] for s in listed["silences"]] == [silence["id"]]

        h.feed([tank("PEMBA-01", T0, 2.0), tank("PEMBA-02", T0, 2.0)])
        h.feed([solar("PEMBA-01", T0, 80, error_code=3)])
        await wait_for(lambda: len(hook.posts) == 1, 3)
        await h.settle()
        assert [(p["station"], p["rule"]) for p in hook.posts] == [("PEMBA-02", "tank_empty")]
        active = (await (await client.get("/alerts")).json())["alerts"]
        assert {(a["station"], a["rule"], a["silenced"]) for a in active} == {
            ("PEMBA-01", "tank_empty", True),
            ("PEMBA-01", "controller_fault", True),
            ("PEMBA-02", "tank_empty", False),
        }
        # the fault clears during the silence: nobody was told it fired, so nothing at all
        h.feed([solar("PEMBA-01", T0 + MIN, 80, error_code=0)])
        h.clock.t += 3600
        await h.settle()
        assert len(hook.posts) == 1
        h.clock.t += 3601  # the window has ended; the tank is still empty
        await wait_for(lambda: len(hook.posts) == 2, 3)
        await h.settle()
        assert (hook.posts[1]["station"], hook.posts[1]["rule"]) == ("PEMBA-01", "tank_empty")
        assert hook.posts[1]["event"] == "firing" and len(hook.posts) == 2
        history = (await (await client.get("/alerts/history?station=PEMBA-01")).json())["alerts"]
        assert sorted((a["rule"], a["state"]) for a in history) == [
            ("controller_fault", "resolved"),
            ("tank_empty", "firing"),
        ]


async def test_mutating_endpoints_need_the_token(make: Callable[..., Any]) -> None:
    h: Harness = await make()
    app = web.Application()
    AlertApi(h.svc, AuthLimiter(AuthLimitSettings())).mount(app)
    async with TestClient(TestServer(app)) as client:
        for method, path in [
            ("POST", "/alerts/1/ack"),
            ("POST", "/silences"),
            ("DELETE", "/silences/1"),
        ]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                resp = await client.request(method, path, json={"station": "PEMBA-01"},
                                            headers=headers)  # fmt: skip
                assert resp.status == 401, (method, path, headers)
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.get("/alerts")).status == 200
        assert (await client.get("/silences")).status == 200
        # with the token: a bad silence is a 400 with a reason, an unknown alert a 404
        auth = {"Authorization": f"Bearer {TOKEN}"}
        resp = await client.post("/silences", json={"station": "PEMBA-01"}, headers=auth)
        assert resp.status == 400 and "end or duration" in (await resp.json())["error"]
        resp = await client.post("/silences", json={"rule": "nope", "duration": 60}, headers=auth)
        assert resp.status == 400 and "unknown rule" in (await resp.json())["error"]
        assert (await client.post("/alerts/999/ack", headers=auth)).status == 404


async def test_without_a_token_changes_are_disabled(make: Callable[..., Any]) -> None:
    h: Harness = await make(api_token=None)
    app = web.Application()
    AlertApi(h.svc, AuthLimiter(AuthLimitSettings())).mount(app)
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/silences", json={"station": "PEMBA-01", "duration": 60},
                                 headers={"Authorization": "Bearer anything"})  # fmt: skip
        assert resp.status == 403 and "api_token" in (await resp.json())["error"]


async def test_webhook_retries_then_counts_failures(make: Callable[..., Any], hook: Hook) -> None:
    h: Harness = await make()
    hook.fail = 2  # two 503s, then success
    h.feed([tank("MONTEPUEZ-01", T0, 2.0)])
    await wait_for(lambda: len(hook.posts) == 1, 3)
    assert len(hook.auth) == 3
    assert h.svc.stats()["notifications_retried"] == 2
    assert hook.posts[0]["phones"] == ["+258842220000"]
    hook.fail, hook.status = 1, 400  # a refusal is not retried
    h.feed([solar("MONTEPUEZ-01", T0, 80, error_code=9)])
    await wait_for(lambda: h.svc.stats()["notifications_failed"] == 1, 3)
    assert len(hook.auth) == 4 and len(hook.posts) == 1


async def test_unregistered_station_goes_to_the_fallback(
    make: Callable[..., Any], hook: Hook, mqtt_watch: MqttWatch, prefix: str
) -> None:
    h: Harness = await make()
    h.feed([Reading("NEW-99", None, "tank", "tank1", T0, None, {"level_pct": 1.0})])
    await wait_for(lambda: len(hook.posts) == 1, 3)
    p = hook.posts[0]
    assert (p["route"], p["phones"], p["district"]) == ("fallback", [FALLBACK_PHONE], None)
    assert "NEW-99 (?)" in p["sms"]
    retained = mqtt_watch.retained(f"{prefix}/alerts/NEW-99/tank_empty")
    assert retained is not None and orjson.loads(retained)["event"] == "firing"


async def test_a_route_limited_to_critical_lets_warnings_fall_through_to_the_fallback(
    make: Callable[..., Any], hook: Hook
) -> None:
    norte = {"name": "norte", "districts": ["Palma"], "severities": ["critical"],
             "notifiers": ["sms"], "recipients": {"phones": ["+258842220009"]}}  # fmt: skip
    base = base_config(hook, 0)["routes"]
    h: Harness = await make(routes=[*base, norte], rules={"tank_low": {"for": 0}})
    h.feed([Reading("PALMA-01", None, "tank", "tank1", T0, None, {"level_pct": 15.0})])
    await wait_for(lambda: len(hook.posts) == 1, 3)
    h.feed([Reading("PALMA-01", None, "tank", "tank1", T0 + 60_000, None, {"level_pct": 1.0})])
    await wait_for(lambda: len(hook.posts) == 2, 3)
    got = [(p["rule"], p["severity"], p["route"], p["phones"]) for p in hook.posts]
    assert got == [
        ("tank_low", "warning", "fallback", [FALLBACK_PHONE]),
        ("tank_empty", "critical", "norte", ["+258842220009"]),
    ]


async def test_an_alert_inhibited_by_the_silence_that_still_holds_pages_once_on_return(
    make: Callable[..., Any], hook: Hook
) -> None:
    h: Harness = await make()
    for m in range(0, 61, 5):
        h.feed(healthy_fleet(T0 + m * MIN, skip="PEMBA-02"))
        h.feed([solar("PEMBA-02", T0 + m * MIN, 45.0 if m >= 30 else 85.0)])
    for m in range(65, 111, 5):  # PEMBA-02 goes quiet
        h.feed(healthy_fleet(T0 + m * MIN, skip="PEMBA-02"))
    await h.settle()
    assert [(p["event"], p["rule"]) for p in hook.posts] == [("firing", "station_silent")]
    # a first backlog batch: still low, 35 min behind fleet time -> battery_low fires while
    # the station is still silent: recorded, not paged
    h.feed([solar("PEMBA-02", T0 + m * MIN, 45.0) for m in range(61, 76)])
    await h.settle()
    assert {a.rule for a in h.svc.active.values() if a.station == "PEMBA-02"} == {
        "station_silent", "battery_low"
    }  # fmt: skip
    assert len(hook.posts) == 1 and h.svc.stats()["alerts_inhibited"] == 1
    # the rest: still low when the station is heard again -> the battery pages then, once
    h.feed([solar("PEMBA-02", T0 + m * MIN, 45.0) for m in range(76, 111)])
    await h.settle()
    h.feed(healthy_fleet(T0 + 115 * MIN, skip="PEMBA-02"))
    await h.settle(10)
    assert sorted((p["event"], p["rule"]) for p in hook.posts[1:]) == [
        ("firing", "battery_low"), ("resolved", "station_silent")
    ]  # fmt: skip
    [page] = hook.events(event="firing", rule="battery_low")
    assert page["since_ms"] == T0 + 30 * MIN and h.svc.stats()["alert_digests"] == 0
