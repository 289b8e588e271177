"""SMS without internet: the modem notifier against a real gammu-smsd, smstools' documented
spool format, `OK <id>` replies, the daily SMS budget, and the HTTP SMS gateway presets against
a real aiohttp server.

gammu-smsd runs on its files backend with Gammu's dummy phone (no modem): it takes our outbox
files, "sends" them and moves them to its sent folder; an SMS the dummy phone receives lands in
its inbox, where the notifier reads the reply. smstools needs a modem to run at all, so its
files are checked against its documented format (smstools3 "SMS file format").
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from collector.alerts import AlertConfigError, AlertService, AlertSettings
from collector.alerts.model import Notification
from collector.alerts.notifiers import DeliveryError, NotifierContext, build_notifier
from collector.alerts.notifiers.modem import ModemNotifier
from collector.alerts.notifiers.sms_spool import read_received
from collector.alerts.notifiers.webhook import PRESET_SAMPLES, WebhookNotifier, WebhookSettings
from collector.alerts.replies import parse_ok
from collector.config import ConfigError, load_settings
from collector.ingest.readings import Reading
from devices.stations import load_fleet
from devices.topics import format_topic
from devstack import Influxd, Mosquitto
from devstack.ports import free_port
from tests.collector_support import CollectorProcess, publish_all, publisher
from tests.sms_support import GAMMU_SMSD, GammuSmsd

FLEET = load_fleet()
PEMBA = ["+258841110001", "+258841110002"]
FALLBACK = "+258849990000"
MIN = 60_000
T0 = 1_750_000_000_000 - (1_750_000_000_000 % MIN)
CTX = NotifierContext(prefix="solarwater", mqtt_publish=None)
needs_gammu = pytest.mark.skipif(GAMMU_SMSD is None, reason="gammu-smsd is not installed")


def note(event: str = "firing", alert_id: int = 7, station: str = "PEMBA-01", **kw: Any) -> Any:
    values: dict[str, Any] = {
        "event": event, "alert_id": alert_id, "station": station, "station_name": None,
        "district": "Pemba", "device": "mppt1", "rule": "battery_critical",
        "severity": "critical", "value": 20.0, "threshold": "< 30", "since_ms": T0,
        "ts_ms": T0 + 5 * MIN, "duration_s": 300.0, "text": "CRÍTICO Bateria crítica #7",
        "sms": "CRITICO Bateria critica: PEMBA-01 (Pemba) SoC 20% #7", "route": "pemba",
        "phones": tuple(PEMBA),
    }  # fmt: skip
    values.update(kw)
    return Notification(**values)


def modem(tmp_path: Path, **over: Any) -> ModemNotifier:
    out, inbox = tmp_path / "out", tmp_path / "in"
    out.mkdir(parents=True, exist_ok=True)
    inbox.mkdir(parents=True, exist_ok=True)
    cfg = {"type": "sms_modem", "outbox": out, "inbox": inbox, **over}
    settings = AlertSettings.model_validate({"notifiers": {"modem": cfg}}).notifiers["modem"]
    n = build_notifier("modem", settings, CTX)
    assert isinstance(n, ModemNotifier)
    return n


@pytest.fixture
def gammu(tmp_path: Path) -> Iterator[GammuSmsd]:
    if GAMMU_SMSD is None:
        pytest.skip("gammu-smsd is not installed")
    d = GammuSmsd(tmp_path / "gammu")
    d.start()
    yield d
    d.stop()


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


# --- gammu-smsd, for real -----------------------------------------------------------------


@needs_gammu
async def test_gammu_smsd_sends_our_outbox_files(gammu: GammuSmsd, tmp_path: Path) -> None:
    n = modem(tmp_path, outbox=gammu.outbox, inbox=gammu.inbox)
    await n.send(note())
    await until(lambda: len(list(gammu.sent.iterdir())) == 2)
    names = sorted(p.name for p in gammu.sent.iterdir())
    # gammu-smsd-files(7): OUT<priority><date>_<time>_<serial>_<recipient>_<note>.txt
    for name, phone in zip(names, PEMBA, strict=True):
        assert re.fullmatch(rf"OUTA\d{{8}}_\d{{6}}_\d{{3}}_{re.escape(phone)}_a7fir\.txt", name)
        gammu.wait_log(f'Found 1 sms to "{phone}" with text "{note().sms}"')
    assert list(gammu.error.iterdir()) == [] and list(gammu.outbox.iterdir()) == []
    assert n.stats()["sms_written"] == 2


def settings_for(gammu: GammuSmsd, **alerts: Any) -> AlertSettings:
    return AlertSettings.model_validate(
        {
            "evaluate_interval_s": 0.02, "repeat_interval": "1h", "min_page_interval": 0,
            "rules": {"station_silent": {"enabled": False}},
            "notifiers": {"modem": {
                "type": "sms_modem", "outbox": gammu.outbox, "inbox": gammu.inbox,
                "poll_interval_s": 0.05, "settle_s": 0, "backoff_s": 0.01,
            }},
            "routes": [{"name": "pemba", "districts": ["Pemba"], "notifiers": ["modem"],
                        "recipients": {"phones": PEMBA}}],
            "fallback": {"notifiers": ["modem"], "recipients": {"phones": [FALLBACK]}},
            **alerts,
        }
    )  # fmt: skip


def critical(ts: int) -> Reading:
    fields: dict[str, float | int | str] = {
        "battery_soc_pct": 20.0, "battery_voltage_v": 24.0, "charge_state": "bulk",
        "error_code": 0,
    }  # fmt: skip
    return Reading("PEMBA-01", "Pemba", "solar", "mppt1", ts, None, fields)


@needs_gammu
async def test_ok_reply_through_gammu_acknowledges_and_reminders_stop(
    gammu: GammuSmsd, tmp_path: Path
) -> None:
    wall = [1_800_000_000.0]
    svc = AlertService(
        settings_for(gammu), FLEET, tmp_path / "state",
        write_lines=lambda lines: None, mqtt_publish=None, clock=lambda: wall[0],
    )  # fmt: skip
    await svc.start()
    try:
        for m in range(7):  # battery_critical: SoC < 30 % for 5 min
            svc.observe(critical(T0 + m * MIN))
        await until(lambda: len(list(gammu.sent.iterdir())) == 2)
        (a,) = svc.active.values()
        texts = [p.read_bytes().decode("utf-16") for p in gammu.sent.iterdir()]
        assert all(t.endswith(f"#{a.id}") for t in texts)

        gammu.receive(FALLBACK, f"OK {a.id}")  # a number not routed to Pemba's alerts
        gammu.receive("+258800000000", f"OK {a.id}")  # nobody's number
        gammu.receive(PEMBA[0], "bom dia")
        gammu.receive(PEMBA[1], f"  ok   {a.id} ")
        await until(lambda: a.acked_ms is not None and svc.stats()["sms_replies_read"] == 4)
        assert a.acked_by == PEMBA[1]
        st = svc.stats()
        assert (st["sms_replies_not_routed"], st["sms_replies_unknown_sender"]) == (1, 1)
        assert (st["sms_replies_bad_text"], st["sms_replies_acked"]) == (1, 1)
        assert list(gammu.inbox.iterdir()) == []  # read replies are taken away

        wall[0] += 2 * 3600  # past the repeat interval: an acknowledged alert sends no reminder
        await asyncio.sleep(0.3)
        assert len(list(gammu.sent.iterdir())) == 2 and list(gammu.outbox.iterdir()) == []
    finally:
        await svc.stop()


def reading(station: str, district: str, ts: int, soc: float, volts: float) -> Reading:
    fields: dict[str, float | int | str] = {
        "battery_soc_pct": soc, "battery_voltage_v": volts, "charge_state": "bulk",
        "error_code": 0,
    }  # fmt: skip
    return Reading(station, district, "solar", "mppt1", ts, None, fields)


@needs_gammu
async def test_a_sender_guessing_alert_ids_by_sms_is_locked_out(
    gammu: GammuSmsd, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wall = [1_800_000_000.0]
    limit = {"failures": 3, "window": "10m"}
    svc = AlertService(
        settings_for(gammu, sms_reply_limit=limit), FLEET, tmp_path / "state",
        write_lines=lambda lines: None, mqtt_publish=None, clock=lambda: wall[0],
    )  # fmt: skip
    await svc.start()
    try:
        # battery_critical at PEMBA-01 (Pemba's route) and MONTEPUEZ-01 (the fallback's);
        # PEMBA-02's fires too, then clears: an alert of the Pemba phones' that has resolved
        for m in range(7):
            for sid, district in (("PEMBA-01", "Pemba"), ("PEMBA-02", "Pemba"),
                                  ("MONTEPUEZ-01", "Montepuez")):  # fmt: skip
                svc.observe(reading(sid, district, T0 + m * MIN, 20.0, 24.0))
        await until(lambda: len(svc.active) == 3)
        ids = {a.station: a.id for a in svc.active.values()}
        svc.observe(reading("PEMBA-02", "Pemba", T0 + 8 * MIN, 80.0, 26.0))
        await until(lambda: len(svc.active) == 2)
        pemba, montepuez, resolved = ids["PEMBA-01"], ids["MONTEPUEZ-01"], ids["PEMBA-02"]
        stolen, other = PEMBA

        # the stolen SIM: a late reply to a resolved alert of its own is no guess; ids that
        # do not exist and another district's alert are, and the third locks it out
        for text in (f"OK {resolved}", f"OK {pemba + 100}", f"OK {montepuez}", f"OK {pemba + 101}"):
            gammu.receive(stolen, text)
        gammu.receive("+258800000000", f"OK {pemba}")  # nobody's number: counted on its own
        await until(lambda: svc.stats()["sms_replies_read"] == 5)
        st = svc.stats()
        assert (st["sms_replies_not_active"], st["sms_replies_unknown_alert"]) == (1, 2)
        assert (st["sms_replies_not_routed"], st["sms_replies_unknown_sender"]) == (1, 1)
        assert (st["auth_sms_failures"], st["auth_sms_lockouts"]) == (4, 1)
        assert st["auth_sms_senders"] == 2

        # locked out: even a right guess is refused unread; the colleague's phone still works
        gammu.receive(stolen, f"OK {pemba}")
        await until(lambda: svc.stats()["sms_replies_read"] == 6)
        assert svc.find(pemba) is not None and svc.find(pemba).acked_ms is None  # type: ignore[union-attr]
        gammu.receive(other, f"OK {pemba}")
        await until(lambda: svc.stats()["sms_replies_read"] == 7)
        assert svc.find(pemba).acked_by == other  # type: ignore[union-attr]
        st = svc.stats()
        assert (st["sms_replies_locked_out"], st["auth_sms_limited"]) == (1, 1)
        assert st["sms_replies_acked"] == 1 and st["auth_sms_failures"] == 4

        # the lockout ends after the window; the next wrong guess is checked and counted
        wall[0] += 601
        gammu.receive(stolen, f"OK {montepuez}")
        await until(lambda: svc.stats()["sms_replies_read"] == 8)
        st = svc.stats()
        assert (st["sms_replies_not_routed"], st["auth_sms_failures"]) == (2, 5)
        assert st["sms_replies_locked_out"] == 1
        assert svc.find(montepuez).acked_ms is None  # type: ignore[union-attr]
    finally:
        await svc.stop()
    lockouts = [r.getMessage() for r in caplog.records if "locked out for" in r.getMessage()]
    assert lockouts == [
        f"auth: 3 failed SMS acknowledgements from {stolen[1:]}; locked out for 600 s"
    ]  # once, not per refused reply


# --- smstools: its documented file format --------------------------------------------------


async def test_smstools_outgoing_file_follows_its_documented_format(tmp_path: Path) -> None:
    n = modem(tmp_path, daemon="smstools")
    await n.send(note(phones=(PEMBA[0],)))
    (f,) = (tmp_path / "out").iterdir()
    # "To: 491721234567 ... international format without the leading +", headers, empty line
    assert f.read_bytes() == f"To: 258841110001\nAlphabet: UTF-8\n\n{note().sms}\n".encode()
    u = modem(tmp_path / "u", daemon="smstools", encoding="ucs2")
    await u.send(note(phones=(PEMBA[0],), sms="Olá"))
    (g,) = (tmp_path / "u" / "out").iterdir()
    # UCS2: "the message text part must be written with the 16 bit Unicode (big endian)"
    assert g.read_bytes() == b"To: 258841110001\nAlphabet: UCS2\n\n" + "Olá".encode("utf-16-be")
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_smstools_incoming_file_is_read(tmp_path: Path) -> None:
    f = tmp_path / "GSM1.a1b2c3"
    f.write_bytes(
        b"From: 258841110001\nFrom_SMSC: 258840000000\nSent: 25-07-01 20:00:00\n"
        b"Received: 25-07-01 20:00:05\nSubject: GSM1\nAlphabet: ISO\nUDH: false\n\nOk 12\n"
    )
    got = read_received(f, "smstools")
    assert got.sender == "258841110001" and got.text is not None and parse_ok(got.text) == 12


@pytest.mark.parametrize(
    ("text", "alert_id"),
    [("OK 12", 12), ("ok12", 12), ("  Ok   #12. ", 12), ("OK\t7\n", 7),
     ("OK", None), ("okay 12", None), ("OK 12 13", None), ("12", None), ("", None)],
)  # fmt: skip
def test_ok_text_is_parsed_tolerantly(text: str, alert_id: int | None) -> None:
    assert parse_ok(text) == alert_id


# --- the daily SMS budget ------------------------------------------------------------------


async def test_sms_over_the_daily_budget_is_summed_up_in_one_message(tmp_path: Path) -> None:
    n = modem(tmp_path, daily_budget=2)
    now = [1_800_000_000.0]
    n.gate.clock = lambda: now[0]
    one = (PEMBA[0],)
    for i, rule in enumerate(["battery_low", "tank_low", "battery_low", "tank_empty"], 1):
        await n.send(note(alert_id=i, rule=rule, phones=one))
    await n.send(note("resolved", alert_id=1, phones=one))  # its firing went out: sent
    await n.send(
        note("resolved", alert_id=3, rule="battery_low", phones=one)
    )  # its firing was held: held too
    await n.send(note(alert_id=9, station="PEMBA-02", phones=one))  # another station's budget
    out = tmp_path / "out"
    assert len(list(out.iterdir())) == 4
    assert n.stats()["sms_over_budget"] == 3

    now[0] += 86_400  # the station's window ends: one summary, to the numbers held back
    await n.gate.summaries()
    texts = sorted(p.read_bytes().decode("utf-16") for p in out.iterdir())
    summary = [t for t in texts if t.startswith("SolarWater")]
    assert summary == [
        "SolarWater: 3 SMS de PEMBA-01 retidos (limite 2/dia): battery_low x2, tank_empty"
    ]
    await n.gate.summaries()
    assert len(list(out.iterdir())) == 5 and n.stats()["sms_budget_summaries"] == 1
    # a held alert's reminder in the new window goes out, and then so does its resolution
    await n.send(note("reminder", alert_id=4, rule="tank_empty", phones=one))
    await n.send(note("resolved", alert_id=4, rule="tank_empty", phones=one))
    assert len(list(out.iterdir())) == 7 and n.stats()["sms_over_budget"] == 3


async def test_a_retry_after_a_full_outbox_writes_the_rest_once_within_the_budget(
    tmp_path: Path,
) -> None:
    n = modem(tmp_path, daily_budget=1, max_queued=1)
    out = tmp_path / "out"
    with pytest.raises(DeliveryError, match="holds 1 files"):
        await n.send(note())  # the first phone's file fills the outbox
    (first,) = out.iterdir()
    first.rename(tmp_path / first.name)  # the daemon sent it
    await n.send(note())  # the dispatcher's retry: the second phone only, no second slot taken
    (second,) = out.iterdir()
    assert PEMBA[0] in first.name and PEMBA[1] in second.name
    st = n.stats()
    assert (st["sms_written"], st["sms_outbox_full"], st["sms_over_budget"]) == (2, 1, 0)


# --- the HTTP SMS gateway presets, against a real server ------------------------------------


class Gateway:
    """A real aiohttp server answering like an SMS gateway; keeps each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.status = 201
        self.fail_request: int | None = None  # this request (counted from 1) gets a 503
        self.seen = 0
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.seen += 1
        if self.seen == self.fail_request:
            return web.json_response({"status": "busy"}, status=503)
        self.requests.append((request.path, dict(request.headers), form))
        return web.json_response({"status": "queued"}, status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    g = Gateway()
    await g.start()
    yield g
    assert g.runner is not None
    await g.runner.cleanup()


def webhook(cfg: dict[str, Any]) -> WebhookNotifier:
    settings = AlertSettings.model_validate({"notifiers": {"sms": cfg}}).notifiers["sms"]
    n = build_notifier("sms", settings, CTX)
    assert isinstance(n, WebhookNotifier)
    return n


async def test_twilio_preset_posts_one_form_per_phone_with_basic_auth(gateway: Gateway) -> None:
    sid = "AC0123456789abcdef0123456789abcdef"
    n = webhook({
        "type": "webhook", "preset": "twilio", "account_sid": sid, "auth_token": "tw-secret",
        "from": "+258840000000",
        "url": f"http://127.0.0.1:{gateway.port}/2010-04-01/Accounts/{{account_sid}}/Messages.json",
    })  # fmt: skip
    gateway.fail_request = 2  # the second phone's request fails once: the retry sends only it
    try:
        with pytest.raises(DeliveryError):
            await n.send(note())
        await n.send(note())
    finally:
        await n.close()
    basic = "Basic " + base64.b64encode(f"{sid}:tw-secret".encode()).decode()
    assert [(p, h["Authorization"], h["Content-Type"], f) for p, h, f in gateway.requests] == [
        (f"/2010-04-01/Accounts/{sid}/Messages.json", basic,
         "application/x-www-form-urlencoded", {"To": phone, "From": "+258840000000",
                                               "Body": note().sms})
        for phone in PEMBA
    ]  # fmt: skip


async def test_africastalking_preset_posts_one_form_with_the_api_key(gateway: Gateway) -> None:
    n = webhook({
        "type": "webhook", "preset": "africastalking", "username": "solarwater",
        "api_key": "at-key", "from": "SOLARWATER",
        "url": f"http://127.0.0.1:{gateway.port}/version1/messaging",
    })  # fmt: skip
    try:
        await n.send(note())
        gateway.status = 401  # a refused key is permanent: not retried
        with pytest.raises(DeliveryError) as err:
            await n.send(note())
        assert err.value.permanent
    finally:
        await n.close()
    path, headers, form = gateway.requests[0]
    assert path == "/version1/messaging" and headers["apiKey"] == "at-key"
    assert headers["Accept"] == "application/json" and "Authorization" not in headers
    assert form == {
        "username": "solarwater", "to": ",".join(PEMBA), "message": note().sms,
        "from": "SOLARWATER",
    }  # fmt: skip


# --- mistakes are one line at start-up ------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(PRESET_SAMPLES))
def test_preset_samples_validate(preset: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(PRESET_SAMPLES[preset].replace("/run/secrets/twilio_token", str(secret))
                   .replace("/run/secrets/at_api_key", str(secret)))  # fmt: skip
    ns = load_settings(cfg).alerts.notifiers["sms"]
    assert isinstance(ns, WebhookSettings) and ns.preset == preset


@pytest.mark.parametrize(
    ("notifier", "message"),
    [({"type": "webhook", "preset": "twilio", "account_sid": "AC1", "auth_token": "x"},
      "webhook preset twilio needs from"),
     ({"type": "sms_modem", "daemon": "smstools", "encoding": "utf-16"},
      "encoding 'utf-16' is not one smstools reads (utf-8, iso-8859-15, ucs2)")],
)  # fmt: skip
def test_bad_sms_settings_are_one_line(notifier: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, {"alerts.notifiers": {"sms": notifier}})
    assert "\n" not in str(err.value) and message in str(err.value)


@pytest.mark.parametrize(
    "notifier",
    [{"type": "sms_modem"},
     {"type": "webhook", "preset": "africastalking", "username": "u", "api_key": "k"}],
)  # fmt: skip
def test_an_sms_notifier_on_a_route_without_phones_is_one_line(notifier: dict[str, Any]) -> None:
    over = {
        "alerts.notifiers": {"sms": notifier},
        "alerts.fallback": {"notifiers": ["sms"], "recipients": {"emails": ["a@example.org"]}},
    }
    with pytest.raises(ConfigError) as err:
        load_settings(None, over)
    assert str(err.value).endswith(
        "fallback: notifier 'sms' sends SMS but no phones are listed"
    ) and "\n" not in str(err.value)


def test_a_missing_spool_directory_is_refused_at_start(tmp_path: Path) -> None:
    s = AlertSettings.model_validate(
        {"notifiers": {"m": {"type": "sms_modem", "outbox": tmp_path / "nope"}}}
    )
    with pytest.raises(AlertConfigError, match=r"^alerts: notifier 'm': outbox .*nope is not a"):
        AlertService(s, FLEET, tmp_path, write_lines=lambda lines: None, mqtt_publish=None)


# --- the collector as a subprocess, gammu-smsd, Mosquitto and InfluxDB ---------------------


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return json.loads(resp.read())


@needs_gammu
async def test_collector_pages_by_modem_and_a_reply_acknowledges(
    gammu: GammuSmsd, tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd, fresh_db: str,
    prefix: str,
) -> None:  # fmt: skip
    config = tmp_path / "collector.yaml"
    alerts = {
        "evaluate_interval_s": 0.05, "min_page_interval": 0, "repeat_interval": "1h",
        "rules": {"station_silent": {"enabled": False}},
        "notifiers": {"modem": {"type": "sms_modem", "outbox": str(gammu.outbox),
                                "inbox": str(gammu.inbox), "poll_interval_s": 0.1,
                                "settle_s": 0, "daily_budget": 5}},
        "routes": [{"name": "pemba", "districts": ["Pemba"], "notifiers": ["modem"],
                    "recipients": {"phones": PEMBA}}],
        # every other district must reach someone too, or the collector refuses to start
        "fallback": {"notifiers": ["modem"], "recipients": {"phones": ["+258840000999"]}},
    }  # fmt: skip
    config.write_text(yaml.safe_dump({"alerts": alerts}))
    env = {
        "SOLARWATER_MQTT__URL": mosquitto.url, "SOLARWATER_MQTT__PREFIX": prefix,
        "SOLARWATER_MQTT__CLIENT_ID": f"sms-{prefix}", "SOLARWATER_INFLUX__URL": influxd.url,
        "SOLARWATER_INFLUX__DB": fresh_db, "SOLARWATER_INFLUX__FLUSH_INTERVAL_S": "0.2",
    }  # fmt: skip
    proc = CollectorProcess(tmp_path, env, ["--config", str(config), "--data-dir", str(tmp_path)])
    await asyncio.to_thread(proc.start)
    try:
        now = time.time()
        readings = [
            {"ts": now - 60 * (6 - m), "seq": m, "battery_soc_pct": 20.0,
             "battery_voltage_v": 24.0, "charge_state": "bulk", "error_code": 0}
            for m in range(7)
        ]  # fmt: skip
        client = publisher(mosquitto)
        topic = format_topic(prefix, "PEMBA-01", "solar", "mppt1", "telemetry")
        publish_all(client, [(topic, json.dumps({"readings": readings}).encode())])
        client.loop_stop()
        client.disconnect()
        await until(lambda: len(list(gammu.sent.iterdir())) == 2, 20)
        (alert,) = get_json(proc.http_port, "/alerts")["alerts"]
        for p in gammu.sent.iterdir():
            assert p.read_bytes().decode("utf-16").endswith(f"#{alert['id']}")

        gammu.receive("+258800000000", f"OK {alert['id']}")  # nobody's: a failed attempt
        gammu.receive(PEMBA[0], f"Ok {alert['id']}")
        await until(lambda: get_json(proc.http_port, "/alerts")["alerts"][0]["acked_by"], 15)
        await until(lambda: "solarwater_auth_sms_failures_total 1.0" in proc.metrics(), 15)
        assert "solarwater_auth_sms_senders 1.0" in proc.metrics()
        (acked,) = get_json(proc.http_port, "/alerts")["alerts"]
        assert acked["acked_by"] == PEMBA[0] and acked["id"] == alert["id"]
        assert "solarwater_sms_replies_acked_total 1.0" in proc.metrics()
        assert "solarwater_sms_written_total 2.0" in proc.metrics()
    finally:
        assert await asyncio.to_thread(proc.stop) == 0
