"""Alerts end to end: simulator → Mosquitto → collector → webhook, SMTP and MQTT notifications.

Every test runs a real collector (in this event loop) against the session's Mosquitto and
InfluxDB, with a real aiohttp webhook receiver and a real aiosmtpd SMTP server, and checks the
`alert` points the collector wrote to InfluxDB. Expected transitions come from an oracle that
re-reads the simulator's recorded readings with the shipped rules written out in Python.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.service import Collector
from devices.catalogue import KINDS
from devices.kind import FieldValue
from devices.stations import Fleet, load_fleet
from devices.topics import format_topic
from devstack import Influxd, Mosquitto
from simulator import SimulationConfig, Summary, run_simulation
from simulator.summary import RecordedReading
from tests.alert_support import SMTP_PASSWORD, AlertTopicWatch, Hook, Mailbox
from tests.collector_support import collector_overrides, running_collector, wait_until

FLEET = load_fleet()
CAT = timezone(timedelta(hours=2))
# evening start: a bank failing from +1 h meets the night
START = datetime(2025, 7, 1, 20, 0, tzinfo=CAT)
INTERVAL_S = 300
MIN = 60_000
# one station per routing case: the Pemba route, the Montepuez route, the fallback
RUN_IDS = ("PEMBA-01", "MONTEPUEZ-01", "MOCIMBOA-01")
RUN = Fleet(stations=tuple(s for s in FLEET.stations if s.id in RUN_IDS))
EVALUATE_S = 0.05
SPEED = 7200.0  # simulated seconds per wall second: one evaluation = 6 simulated minutes
TOKEN = "e2e-4f9c1a7b3d2e8c6f0a5b9d1e"
PEMBA = {"phones": ["+258841110001", "+258841110002"], "emails": ["tecnico.pemba@example.org"]}
MONTEPUEZ = {"phones": ["+258842220000"], "emails": ["tecnico.montepuez@example.org"]}
FALLBACK = {"phones": ["+258849990000"], "emails": ["coordenacao@example.org"]}


# --- the oracle: the shipped rules, written out independently of the engine -------------------

Fields = Mapping[str, FieldValue]


def _num(f: Fields, key: str) -> float:
    v = f[key]
    assert isinstance(v, int | float)
    return float(v)


@dataclass(frozen=True)
class OracleRule:
    kind: str
    bad: Callable[[Fields], bool]
    clear: Callable[[Fields], bool]
    for_ms: int


SHIPPED: dict[str, OracleRule] = {
    "battery_low": OracleRule(
        "solar",
        lambda f: _num(f, "battery_soc_pct") < 50,
        lambda f: _num(f, "battery_soc_pct") > 60,
        15 * MIN,
    ),
    "battery_critical": OracleRule(
        "solar",
        lambda f: _num(f, "battery_soc_pct") < 30 or _num(f, "battery_voltage_v") < 23.4,
        lambda f: _num(f, "battery_soc_pct") > 35 and _num(f, "battery_voltage_v") > 23.8,
        5 * MIN,
    ),
    "tank_low": OracleRule(
        "tank", lambda f: _num(f, "level_pct") < 20, lambda f: _num(f, "level_pct") > 30, 30 * MIN
    ),
    "tank_empty": OracleRule(
        "tank", lambda f: _num(f, "level_pct") < 5, lambda f: _num(f, "level_pct") > 10, 0
    ),
    "controller_fault": OracleRule(
        "solar",
        lambda f: f["charge_state"] == "fault" or f["error_code"] != 0,
        lambda f: not (f["charge_state"] == "fault" or f["error_code"] != 0),
        0,
    ),
}


@dataclass(frozen=True)
class Expected:
    """One transition the rules call for: at `ts_ms`, the condition having held since `since_ms`."""

    ts_ms: int
    station: str
    rule: str
    state: str
    since_ms: int


def oracle(records: Sequence[RecordedReading]) -> list[Expected]:
    """Transitions of the shipped threshold rules over live (in-order) readings."""
    out: list[Expected] = []
    by_device: dict[tuple[str, str], list[RecordedReading]] = {}
    for r in records:
        by_device.setdefault((r.station, r.device), []).append(r)
    for readings in by_device.values():
        readings.sort(key=lambda r: r.ts_ms)
        for name, rule in SHIPPED.items():
            active, bad_since, clear_since = False, None, None
            for r in readings:
                if r.kind != rule.kind:
                    continue
                bad, clear = rule.bad(r.fields), rule.clear(r.fields)
                bad_since = (bad_since or r.ts_ms) if bad else None
                clear_since = (clear_since or r.ts_ms) if clear else None
                if not active and bad_since is not None and r.ts_ms - bad_since >= rule.for_ms:
                    active = True
                    out.append(Expected(r.ts_ms, r.station, name, "firing", bad_since))
                elif active and clear_since is not None and bad_since is None:
                    active = False
                    out.append(Expected(clear_since, r.station, name, "resolved", clear_since))
    return sorted(out, key=lambda e: (e.ts_ms, e.station, e.rule))


# --- the chain ----------------------------------------------------------------------------


def alert_section(hook: Hook, smtp_port: int, **over: Any) -> dict[str, Any]:
    """Dotted `alerts.*` settings: webhook (SMS gateway), SMTP, MQTT; two district routes."""
    values: dict[str, Any] = {
        "alerts.evaluate_interval_s": EVALUATE_S,
        "alerts.repeat_interval": "1h",
        # a simulated day passes in seconds: transitions come faster than any page interval
        "alerts.min_page_interval": 0,
        # nor, once the simulator stops, would fleet time move on to send a held group
        "alerts.group_wait": 0,
        "alerts.api_token": TOKEN,
        "alerts.notifiers": {
            "sms": {"type": "webhook", "url": hook.url, "bearer_token": "gw-token",
                    "backoff_s": 0.05, "timeout_s": 5},
            "mail": {"type": "email", "host": "127.0.0.1", "port": smtp_port,
                     "security": "none", "username": "alerts", "password": SMTP_PASSWORD,
                     "from": "alertas@solarwater.example", "backoff_s": 0.05},
            "bus": {"type": "mqtt"},
        },
        "alerts.routes": [
            {"name": "pemba", "districts": ["Pemba"], "notifiers": ["sms", "mail", "bus"],
             "recipients": PEMBA},
            {"name": "montepuez", "districts": ["Montepuez"],
             "notifiers": ["sms", "mail", "bus"], "recipients": MONTEPUEZ},
        ],
        "alerts.fallback": {"notifiers": ["sms", "mail", "bus"], "recipients": FALLBACK},
    }  # fmt: skip
    values.update({f"alerts.{k}": v for k, v in over.items()})
    return values


@dataclass
class Chain:
    """The receivers and the settings of one test's collector."""

    mosquitto: Mosquitto
    influxd: Influxd
    db: str
    prefix: str
    data_dir: Path
    hook: Hook
    mailbox: Mailbox
    smtp_port: int
    watch: AlertTopicWatch

    def overrides(self, **alerts: Any) -> dict[str, Any]:
        return collector_overrides(
            self.mosquitto, self.influxd, self.db, self.prefix, self.data_dir,
            **alert_section(self.hook, self.smtp_port, **alerts),
        )  # fmt: skip

    def sim(self, scenario: str, target: str, hours: float, **over: Any) -> SimulationConfig:
        values: dict[str, Any] = {
            "mqtt_url": self.mosquitto.url, "prefix": self.prefix, "fleet": RUN, "start": START,
            "duration_s": int(hours * 3600), "interval_s": INTERVAL_S, "speed": SPEED,
            "scenario": scenario, "scenario_station": target, "seed": 1, "quiet": True,
        }  # fmt: skip
        values.update(over)
        return SimulationConfig(**values)

    async def simulate(self, config: SimulationConfig) -> Summary:
        return await asyncio.to_thread(run_simulation, config, record=True)

    async def settle(self, collector: Collector, readings: int) -> None:
        """Until every reading is in InfluxDB, an evaluation judged them all and every
        notification it handed on is delivered (the webhook's post and the SMTP server's
        handler are done before their senders return)."""

        def landed() -> bool:
            return sum(self.influxd.count(kind, self.db) for kind in KINDS) >= readings

        await wait_until(landed, 60)
        await evaluated(collector)
        await delivered(collector)

    def alert_points(self) -> list[dict[str, Any]]:
        rows = self.influxd.query('SELECT * FROM "events"."alert"', self.db)
        return sorted(rows, key=lambda r: (r["time"], r["station"], r["rule"]))

    def transitions(self) -> list[tuple[int, str, str, str]]:
        return [(r["time"], r["station"], r["rule"], r["state"]) for r in self.alert_points()]


async def evaluated(collector: Collector) -> None:
    """Until an evaluation that began after this call has finished.

    The collector shows readings to the engine before it writes them, so once they are in
    InfluxDB that evaluation judges them all. Counted, not slept for: on a loaded machine
    a fixed sleep ended with an evaluation (or its notifications) still under way.
    """
    alerts = collector.alerts
    assert alerts is not None
    seen = alerts.evaluations  # the one running now may have begun before the readings
    await wait_until(lambda: alerts.evaluations >= seen + 2, 20, 0.01)


async def delivered(collector: Collector) -> None:
    """Until no notification is queued or being delivered (a queue's size leaves out the one
    a worker holds, whose post may still be on its way)."""
    alerts = collector.alerts
    assert alerts is not None
    await wait_until(lambda: alerts.dispatcher.undelivered() == 0, 20, 0.01)


@pytest.fixture
def chain(
    mosquitto: Mosquitto,
    influxd: Influxd,
    fresh_db: str,
    prefix: str,
    tmp_path: Path,
    hook: Hook,
    mailbox: tuple[Mailbox, int],
) -> Iterator[Chain]:
    watch = AlertTopicWatch(mosquitto, prefix)
    time.sleep(0.1)  # the subscription is in place before anything can fire
    yield Chain(
        mosquitto, influxd, fresh_db, prefix, tmp_path / "var", hook, mailbox[0], mailbox[1], watch
    )
    watch.close()


def as_expected(e: Sequence[Expected]) -> list[tuple[int, str, str, str]]:
    return [(x.ts_ms, x.station, x.rule, x.state) for x in e]


def webhook_summary(hook: Hook) -> list[tuple[str, str, str, str, list[str]]]:
    return [(p["event"], p["station"], p["rule"], p["route"], p["phones"]) for p in hook.posts]


# --- 1. a failing battery -----------------------------------------------------------------


async def test_failing_battery_pages_its_district_once_within_for_and_resolves(
    chain: Chain,
) -> None:
    async with running_collector(chain.overrides()) as collector:
        summary = await chain.simulate(chain.sim("battery-failure", "MONTEPUEZ-01", hours=14))
        await chain.settle(collector, summary.readings.total)
        stats = collector.alerts.stats() if collector.alerts else {}

    expected = oracle(summary.records)
    # the scenario does what it says: the failing bank goes low, then critical, then recovers
    assert [(e.station, e.rule, e.state) for e in expected] == [
        ("MONTEPUEZ-01", "battery_low", "firing"),
        ("MONTEPUEZ-01", "battery_critical", "firing"),
        ("MONTEPUEZ-01", "battery_critical", "resolved"),
        ("MONTEPUEZ-01", "battery_low", "resolved"),
    ]
    # InfluxDB: exactly those transitions, at their device times; nothing for other stations
    assert chain.transitions() == as_expected(expected)

    # within `for` plus one evaluation, in device time
    first_bad = {e.rule: e.since_ms for e in expected if e.state == "firing"}
    fired_at = {e.rule: e.ts_ms for e in expected if e.state == "firing"}
    rule_for = {"battery_low": 15 * MIN, "battery_critical": 5 * MIN}
    for rule, since in first_bad.items():
        # the point is stamped at the first reading `for` after the first bad one
        assert fired_at[rule] - since <= rule_for[rule] + INTERVAL_S * 1000 - 1
        sent = chain.hook.events(event="firing", rule=rule)[0]
        # the notification carries the fleet time of the evaluation that sent it
        lag_ms = sent["ts_ms"] - fired_at[rule]
        assert 0 <= lag_ms <= SPEED * EVALUATE_S * 1000 + INTERVAL_S * 1000, (rule, lag_ms)

    # webhook (SMS gateway): one page per alert, one resolution, to Montepuez's technicians only
    assert webhook_summary(chain.hook) == [
        (e.state, "MONTEPUEZ-01", e.rule, "montepuez", MONTEPUEZ["phones"]) for e in expected
    ]
    assert all(p["district"] == "Montepuez" for p in chain.hook.posts)
    assert chain.hook.auth == ["Bearer gw-token"] * 4
    # email: the same four, to Montepuez's address only
    assert [rcpt for rcpt, _ in chain.mailbox.messages] == [MONTEPUEZ["emails"]] * 4
    subjects = chain.mailbox.subjects()
    assert sum("Bateria fraca" in s and "MONTEPUEZ-01" in s for s in subjects) == 2
    assert sum(s.startswith("RESOLVIDO") for s in subjects) == 2
    # MQTT: firing, then resolved and the retained message cleared; nothing left retained
    topics = {f"{chain.prefix}/alerts/MONTEPUEZ-01/{r}" for r in rule_for}
    got = chain.watch.messages()
    assert {t for t, _, _ in got} == topics
    for t in topics:
        events = [orjson.loads(b)["event"] if b else None for tt, b, _ in got if tt == t]
        assert events == ["firing", "resolved", None]
    assert chain.watch.retained_now() == []
    assert stats["notifications_failed"] == 0 and stats["notifications_unrouted"] == 0
    assert stats["alerts_fired"] == 2 and stats["alerts_active"] == 0


# --- 2. a backlog that had already cleared ------------------------------------------------


class Device:
    """A crafted device on the real broker: single readings live, or a backlog in batches."""

    def __init__(self, broker: Mosquitto, prefix: str, station: str, kind: str, device: str):
        self.topic = format_topic(prefix, station, kind, device, "telemetry")
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{station}-{device}")
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, payload: dict[str, Any]) -> None:
        info = self.client.publish(self.topic, orjson.dumps(payload), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def solar_fields(soc: float = 85.0, volts: float = 26.0, error: int = 0) -> dict[str, Any]:
    state = "fault" if error else "float"
    return {"battery_soc_pct": soc, "battery_voltage_v": volts, "charge_state": state,
            "error_code": error}  # fmt: skip


def ms_of(t: datetime) -> int:
    return int(t.timestamp() * 1000)


async def test_backlog_that_had_cleared_in_device_time_fires_nothing(chain: Chain) -> None:
    # PEMBA-02 reports live for an hour and loses GSM for six hours while the simulated
    # fleet (starting where PEMBA-02 goes quiet) goes on; then it flushes its six hours:
    # battery low for 30 min, critical for 20, a controller fault and an empty tank, all over
    # hours before the flush, and (the control) a tank low for its last hour, still true
    # when the backlog arrives
    t0 = ms_of(START)
    solar = Device(chain.mosquitto, chain.prefix, "PEMBA-02", "solar", "mppt1")
    tank = Device(chain.mosquitto, chain.prefix, "PEMBA-02", "tank", "tank1")

    def at(m: int) -> str:
        return (START + timedelta(minutes=m)).isoformat()

    def backlog_solar(m: int) -> dict[str, Any]:  # m: minutes into the outage
        if 30 <= m < 60:
            return {"ts": at(m), **solar_fields(soc=45.0)}
        if 90 <= m < 110:
            return {"ts": at(m), **solar_fields(soc=25.0, volts=23.0)}
        return {"ts": at(m), **solar_fields(error=17 if 150 <= m < 160 else 0)}

    def backlog_tank(m: int) -> dict[str, Any]:
        level = 3.0 if 180 <= m < 185 else 15.0 if m >= 300 else 60.0
        return {"ts": at(m), "level_pct": level}

    try:
        async with running_collector(chain.overrides()) as collector:
            for m in range(-60, 0):  # live, one reading a minute
                await asyncio.to_thread(solar.publish, {"ts": at(m), **solar_fields()})
                await asyncio.to_thread(tank.publish, {"ts": at(m), "level_pct": 60.0})
            summary = await chain.simulate(chain.sim("none", "PEMBA-01", hours=6, speed=0))
            await chain.settle(collector, summary.readings.total + 120)
            assert chain.transitions() == [(t0 + 29 * MIN, "PEMBA-02", "station_silent", "firing")]
            # the 6 h backlog: 3 messages of 120 readings per device, evaluations in between
            for first in range(0, 360, 120):
                minutes = range(first, first + 120)
                await asyncio.to_thread(
                    solar.publish, {"readings": [backlog_solar(m) for m in minutes]}
                )
                await asyncio.to_thread(
                    tank.publish, {"readings": [backlog_tank(m) for m in minutes]}
                )
                await chain.settle(collector, summary.readings.total + 120 + 2 * first + 240)
            await chain.settle(collector, summary.readings.total + 840)
            assert collector.alerts is not None
            stats = collector.alerts.stats()
    finally:
        solar.close()
        tank.close()

    assert oracle(summary.records) == []  # the simulated stations stay healthy
    landed = chain.influxd.query(
        "SELECT count(battery_soc_pct) FROM solar WHERE station = 'PEMBA-02'", chain.db
    )
    assert landed[0]["count"] == 420  # the backlog was ingested in full
    # nothing for the battery, the fault or the empty tank; the silence, which was true,
    # resolves when the backlog arrives; the tank that is still low fires, at device time
    assert chain.transitions() == [
        (t0 + 29 * MIN, "PEMBA-02", "station_silent", "firing"),
        (t0 + 330 * MIN, "PEMBA-02", "tank_low", "firing"),
        (t0 + 359 * MIN, "PEMBA-02", "station_silent", "resolved"),
    ]
    # (the last solar batch may resolve the silence before the last tank batch is in); what
    # came and went inside the backlog is told once, in the station's digest
    assert sorted(webhook_summary(chain.hook)) == [
        ("digest", "PEMBA-02", "alert_digest", "pemba", PEMBA["phones"]),
        ("firing", "PEMBA-02", "station_silent", "pemba", PEMBA["phones"]),
        ("firing", "PEMBA-02", "tank_low", "pemba", PEMBA["phones"]),
        ("resolved", "PEMBA-02", "station_silent", "pemba", PEMBA["phones"]),
    ]
    [digest] = chain.hook.events(event="digest")
    for title in ("Bateria fraca", "Bateria crítica", "Falha do controlador", "Tanque vazio"):
        assert title in digest["text"], digest["text"]
    assert [rcpt for rcpt, _ in chain.mailbox.messages] == [PEMBA["emails"]] * 4
    assert stats["alert_readings_out_of_order"] == 0 and stats["alerts_active"] == 1


async def test_simulated_gsm_outage_backlog_pages_only_the_silence(chain: Chain) -> None:
    # the simulator's own outage: PEMBA-01's link is down from +2 h to +8 h, its readings are
    # buffered and flushed in {"readings": [...]} batches when the link returns
    async with running_collector(chain.overrides()) as collector:
        summary = await chain.simulate(chain.sim("gsm-outage", "PEMBA-01", hours=9, speed=0))
        await chain.settle(collector, summary.readings.total)

    assert summary.backlog_messages > 0 and summary.dropped["silent"] == 0
    assert oracle(summary.records) == []
    t0 = ms_of(START)
    outage = t0 + 2 * 3600 * 1000
    before = {r.ts_ms for r in summary.records if r.station == "PEMBA-01" and r.ts_ms < outage}
    points = chain.transitions()
    # silent 30 min after the last reading the broker had before the link dropped (one that
    # was still in the device's send window when the link died comes with the backlog)
    assert points[0][1:] == ("PEMBA-01", "station_silent", "firing")
    assert points[0][0] - 30 * MIN in before
    assert points[0][0] - 30 * MIN >= outage - 32 * INTERVAL_S * 1000  # at most one window
    assert [p[1:] for p in points[1:]] == [("PEMBA-01", "station_silent", "resolved")]
    assert points[1][0] >= t0 + 8 * 3600 * 1000 - INTERVAL_S * 1000  # when the backlog came
    assert webhook_summary(chain.hook) == [
        ("firing", "PEMBA-01", "station_silent", "pemba", PEMBA["phones"]),
        ("resolved", "PEMBA-01", "station_silent", "pemba", PEMBA["phones"]),
    ]


# --- 3. a silent station ------------------------------------------------------------------


async def test_silent_station_alerts_once_and_resolves_when_it_speaks_again(chain: Chain) -> None:
    async with running_collector(chain.overrides()) as collector:
        summary = await chain.simulate(chain.sim("silent-station", "PEMBA-01", hours=6))
        await chain.settle(collector, summary.readings.total)

    station = FLEET.get("PEMBA-01")
    assert station is not None
    # each of its devices, 2 h of 5-minute ticks
    assert summary.dropped["silent"] == len(station.devices) * 24
    assert oracle(summary.records) == []
    heard = sorted({r.ts_ms for r in summary.records if r.station == "PEMBA-01"})
    gap = next(i for i in range(1, len(heard)) if heard[i] - heard[i - 1] > INTERVAL_S * 1000)
    last_word, speaks_again = heard[gap - 1], heard[gap]
    assert speaks_again - last_word == (2 * 3600 + INTERVAL_S) * 1000
    points = chain.transitions()
    assert points[0] == (last_word + 30 * MIN, "PEMBA-01", "station_silent", "firing")
    # resolved at the station's newest reading when an evaluation sees it: the first one
    # after the gap, or one evaluation (SPEED * EVALUATE_S of device time) later
    (resolved_ms, *rest) = points[1]
    assert rest == ["PEMBA-01", "station_silent", "resolved"] and len(points) == 2
    assert speaks_again <= resolved_ms <= speaks_again + SPEED * EVALUATE_S * 1000
    assert webhook_summary(chain.hook) == [
        ("firing", "PEMBA-01", "station_silent", "pemba", PEMBA["phones"]),
        ("resolved", "PEMBA-01", "station_silent", "pemba", PEMBA["phones"]),
    ]
    firing = chain.hook.posts[0]
    assert "sem telemetria" in firing["text"] and firing["since_ms"] == last_word
    assert [rcpt for rcpt, _ in chain.mailbox.messages] == [PEMBA["emails"]] * 2


# --- 4. a collector restart in the middle of an active alert -----------------------------


async def test_restart_mid_alert_sends_nothing_twice(chain: Chain) -> None:
    config = chain.sim("battery-failure", "MONTEPUEZ-01", hours=14)
    overrides = chain.overrides()
    async with running_collector(overrides) as collector:
        run = asyncio.create_task(chain.simulate(config))
        await wait_until(lambda: len(chain.hook.posts) == 2, 30, 0.01)  # low, then critical
        stopping_at = time.monotonic()
    assert not run.done()
    async with running_collector(overrides) as collector:
        restart_s = time.monotonic() - stopping_at  # stop, start, connect
        assert collector.alerts is not None
        restored = collector.alerts.stats()["alerts_active"]
        summary = await run
        await chain.settle(collector, summary.readings.total)
        stats = collector.alerts.stats()

    assert restored == 2  # both alerts were active across the restart
    expected = oracle(summary.records)
    assert [(e.station, e.rule, e.state) for e in expected] == [
        ("MONTEPUEZ-01", "battery_low", "firing"),
        ("MONTEPUEZ-01", "battery_critical", "firing"),
        ("MONTEPUEZ-01", "battery_critical", "resolved"),
        ("MONTEPUEZ-01", "battery_low", "resolved"),
    ]
    resolved_at = max(e.ts_ms for e in expected)
    # the restart came well before the recovery, in device time
    assert restart_s * SPEED * 1000 < resolved_at - ms_of(START)
    assert chain.transitions() == as_expected(expected)
    assert webhook_summary(chain.hook) == [
        (e.state, "MONTEPUEZ-01", e.rule, "montepuez", MONTEPUEZ["phones"]) for e in expected
    ]
    ids = {p["rule"]: p["alert_id"] for p in chain.hook.events(event="firing")}
    assert {p["rule"]: p["alert_id"] for p in chain.hook.events(event="resolved")} == ids
    assert len(chain.mailbox.messages) == 4
    for rule in ids:
        topic = f"{chain.prefix}/alerts/MONTEPUEZ-01/{rule}"
        events = [orjson.loads(b)["event"] if b else None for t, b, _ in chain.watch.messages()
                  if t == topic]  # fmt: skip
        assert events == ["firing", "resolved", None]
    assert stats["alerts_fired"] == 0 and stats["alerts_resolved"] == 2  # the new collector's


# --- 5. acknowledgement and silences through the HTTP API ---------------------------------


class Api:
    """The collector's HTTP API, as a technician's tool calls it."""

    def __init__(self, collector: Collector, session: aiohttp.ClientSession) -> None:
        self.base = f"http://127.0.0.1:{collector.http_port}"
        self.session = session

    async def call(
        self, method: str, path: str, token: str | None = TOKEN, body: Any = None
    ) -> tuple[int, Any, Mapping[str, str]]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as resp:
            return resp.status, await resp.json(), resp.headers


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_ack_through_the_api_stops_reminders(
    chain: Chain, session: aiohttp.ClientSession
) -> None:
    # the controller faults from +4 h; the run ends at +5 h with the fault still active
    async with running_collector(chain.overrides(repeat_interval="1s")) as collector:
        api = Api(collector, session)
        summary = await chain.simulate(chain.sim("controller-fault", "PEMBA-01", 5, speed=0))
        await chain.settle(collector, summary.readings.total)
        await wait_until(lambda: len(chain.hook.events(event="reminder")) >= 2, 10, 0.02)
        status, body, _ = await api.call("GET", "/alerts")
        assert status == 200
        [alert] = body["alerts"]
        assert (alert["station"], alert["rule"], alert["acked"]) == (
            "PEMBA-01", "controller_fault", None
        )  # fmt: skip
        before = len(chain.hook.posts)
        status, body, _ = await api.call(
            "POST", f"/alerts/{alert['id']}/ack", body={"by": "Tecnico Pemba"}
        )
        assert status == 200 and body["acked_by"] == "Tecnico Pemba"
        await delivered(collector)  # a reminder already handed to the notifier may land
        after_ack = len(chain.hook.posts)
        await asyncio.sleep(3.0)  # three repeat intervals
        assert len(chain.hook.posts) == after_ack and after_ack - before <= 1
        _, body, _ = await api.call("GET", "/alerts")
        assert body["alerts"][0]["acked_by"] == "Tecnico Pemba"

    assert [e.rule for e in oracle(summary.records)] == ["controller_fault"]
    posts = chain.hook.posts
    assert posts[0]["event"] == "firing" and {p["event"] for p in posts[1:]} == {"reminder"}
    assert {(p["station"], p["route"]) for p in posts} == {("PEMBA-01", "pemba")}
    assert posts[1]["sms"].startswith("LEMBRETE")
    assert len(chain.mailbox.messages) == len(posts)  # reminders go by email too


async def test_silenced_station_is_quiet_until_the_window_ends(
    chain: Chain, session: aiohttp.ClientSession
) -> None:
    window_s = 6.0
    pemba02 = Device(chain.mosquitto, chain.prefix, "PEMBA-02", "solar", "mppt1")
    try:
        async with running_collector(chain.overrides(repeat_interval=0)) as collector:
            api = Api(collector, session)
            status, silence, _ = await api.call(
                "POST", "/silences",
                body={"station": "PEMBA-01", "duration": window_s, "comment": "visita"},
            )  # fmt: skip
            assert status == 201, silence
            ends = silence["end"]
            summary = await chain.simulate(chain.sim("controller-fault", "PEMBA-01", 5, speed=0))
            # the control: another station of the same route faults during the window
            at = (START + timedelta(hours=4, minutes=50)).isoformat()
            await asyncio.to_thread(pemba02.publish, {"ts": at, **solar_fields(error=5)})
            await chain.settle(collector, summary.readings.total + 1)
            _, body, _ = await api.call("GET", "/alerts")
            assert time.time() < datetime.fromisoformat(ends).timestamp(), "the run was too slow"
            assert {(a["station"], a["rule"], a["silenced"]) for a in body["alerts"]} == {
                ("PEMBA-01", "controller_fault", True),
                ("PEMBA-02", "controller_fault", False),
            }
            assert webhook_summary(chain.hook) == [
                ("firing", "PEMBA-02", "controller_fault", "pemba", PEMBA["phones"])
            ]
            # the window ends with the fault still active: its page goes out then
            await wait_until(lambda: len(chain.hook.posts) == 2, window_s + 5, 0.02)
            await chain.settle(collector, summary.readings.total + 1)
    finally:
        pemba02.close()

    assert webhook_summary(chain.hook)[1] == (
        "firing", "PEMBA-01", "controller_fault", "pemba", PEMBA["phones"]
    )  # fmt: skip
    assert chain.hook.arrived[1] >= datetime.fromisoformat(ends).timestamp()
    assert len(chain.hook.posts) == 2 and len(chain.mailbox.messages) == 2
    # the alert itself was recorded when it happened, silence or not
    assert [(t, s, r) for _, s, r, t in chain.transitions()] == [
        ("firing", "PEMBA-01", "controller_fault"),
        ("firing", "PEMBA-02", "controller_fault"),
    ]


# --- 6. the API refuses changes without the token -----------------------------------------


async def test_mutating_endpoints_refuse_a_missing_or_wrong_token(
    chain: Chain, session: aiohttp.ClientSession
) -> None:
    # the wrong tries below stay under the lockout (the limiter has its own tests)
    overrides = {**chain.overrides(), "http.auth_limit.failures": 13}
    async with running_collector(overrides) as collector:
        api = Api(collector, session)
        silence = {"station": "PEMBA-01", "duration": "1h"}
        for token in (None, "wrong-token", TOKEN + "x", ""):
            for method, path in [
                ("POST", "/alerts/1/ack"),
                ("POST", "/silences"),
                ("DELETE", "/silences/1"),
            ]:
                status, body, headers = await api.call(method, path, token, silence)
                assert status == 401, (method, path, token)
                assert headers["WWW-Authenticate"].startswith("Bearer")
                assert "Authorization" in body["error"]
        # nothing was created; reading stays open; the right token works
        assert (await api.call("GET", "/silences", None))[:2] == (200, {"silences": []})
        assert (await api.call("GET", "/alerts", None))[:2] == (200, {"alerts": []})
        status, created, _ = await api.call("POST", "/silences", TOKEN, silence)
        assert status == 201
        assert (await api.call("DELETE", f"/silences/{created['id']}"))[0] == 200
        # more guesses: the address is locked out by the 13th failure at the latest
        for _ in range(13):
            status, _, headers = await api.call("POST", "/silences", "wrong-token", silence)
            if status != 401:
                break
        assert status == 429 and int(headers["Retry-After"]) > 0
