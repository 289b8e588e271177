"""Technician tokens scoped to districts, the history of who acted, maintenance windows.

A real collector (in this event loop) on the session's Mosquitto and InfluxDB pages a real
aiohttp webhook receiver; technicians' tokens come from the file the CLI writes.
"""

from __future__ import annotations

import asyncio
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import orjson
import pytest

from collector.alerts.technician_tokens import main as technicians_cli
from devices.topics import format_topic
from devstack import Influxd, Mosquitto
from tests.alert_support import Hook
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)

ADMIN = "adm-7Hq2xL9pV4mK8sT1wZ6bN3cR"
TZ = ZoneInfo("Africa/Maputo")


def fault(prefix: str, station: str) -> tuple[str, bytes]:
    body = {"ts": datetime.now(UTC).isoformat(), "battery_soc_pct": 80.0,
            "battery_voltage_v": 26.0, "charge_state": "fault", "error_code": 9}  # fmt: skip
    return format_topic(prefix, station, "solar", "mppt1", "telemetry"), orjson.dumps(body)


def add_technician(
    capsys: pytest.CaptureFixture[str], path: Path, name: str, *districts: str
) -> str:
    args = ["--file", str(path), "add", name, *(f"--district={d}" for d in districts)]
    assert technicians_cli(args) == 0
    return capsys.readouterr().out.strip()


def settings(hook: Hook, **extra: Any) -> dict[str, Any]:
    return {
        "alerts.evaluate_interval_s": 0.05,
        "alerts.min_page_interval": 0,
        "alerts.api_token": ADMIN,
        "alerts.notifiers": {"sms": {"type": "webhook", "url": hook.url, "backoff_s": 0.05}},
        "alerts.fallback": {"notifiers": ["sms"], "recipients": {"phones": ["+258849990000"]}},
        **{f"alerts.{k}": v for k, v in extra.items()},
    }


class Api:
    def __init__(self, port: int, session: aiohttp.ClientSession) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.session = session

    async def __call__(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as resp:
            return resp.status, await resp.json()


async def test_technician_acts_only_in_their_districts_and_history_says_who(
    mosquitto: Mosquitto,
    influxd: Influxd,
    fresh_db: str,
    prefix: str,
    tmp_path: Path,
    hook: Hook,
    capsys: pytest.CaptureFixture[str],
) -> None:
    techs = tmp_path / "technicians.yaml"
    ana = add_technician(capsys, techs, "Ana Pemba", "Pemba")
    assert ana.startswith("swt_") and ana not in techs.read_text()  # stored hashed only
    assert stat.S_IMODE(techs.stat().st_mode) == 0o600
    over = collector_overrides(
        mosquitto, influxd, fresh_db, prefix, tmp_path / "var",
        **settings(hook, technicians_file=str(techs)),
    )  # fmt: skip
    client = publisher(mosquitto)
    try:
        async with running_collector(over) as collector, aiohttp.ClientSession() as session:
            api = Api(collector.http_port, session)
            faults = [fault(prefix, s) for s in ("PEMBA-01", "MONTEPUEZ-01")]
            await asyncio.to_thread(publish_all, client, faults)
            await wait_until(lambda: len(hook.events(event="firing")) == 2, 10, 0.05)
            ids = {p["station"]: p["alert_id"] for p in hook.events(event="firing")}

            # another district's alert and station are refused; a fleet-wide silence too
            status, body = await api("POST", f"/alerts/{ids['MONTEPUEZ-01']}/ack", ana)
            assert status == 403 and "Pemba" in body["error"]
            for silence in ({"station": "MONTEPUEZ-01"}, {"rule": "controller_fault"}):
                assert (await api("POST", "/silences", ana, {**silence, "duration": "1h"}))[
                    0
                ] == 403
            # their own: the token says who, whatever the body claims
            status, body = await api(
                "POST", f"/alerts/{ids['PEMBA-01']}/ack", ana, {"by": "someone else"}
            )
            assert status == 200 and body["acked_by"] == "Ana Pemba"
            status, silence = await api(
                "POST", "/silences", ana, {"station": "PEMBA-02", "duration": "2h"}
            )
            assert status == 201 and silence["created_by"] == "Ana Pemba"
            assert (await api("DELETE", f"/silences/{silence['id']}", ana))[0] == 200
            # the admin token still acts everywhere, under the name it gives
            status, body = await api(
                "POST", f"/alerts/{ids['MONTEPUEZ-01']}/ack", ADMIN, {"by": "Coordenador"}
            )
            assert status == 200 and body["acked_by"] == "Coordenador"

            # rotating prints a new token; the old one stops working without a restart
            new = add_technician(capsys, techs, "Ana Pemba")
            assert new != ana
            status, _ = await api("POST", "/silences", ana, {"station": "PEMBA-02", "duration": 60})
            assert status == 401
            status, _ = await api("POST", "/silences", new, {"station": "PEMBA-02", "duration": 60})
            assert status == 201

            status, body = await api("GET", "/alerts/actions")
            assert status == 200
            got = [(a["action"], a["by"], a["via"], a["station"]) for a in body["actions"]]
            assert got == [
                ("silence", "Ana Pemba", "technician", "PEMBA-02"),
                ("ack", "Coordenador", "admin", "MONTEPUEZ-01"),
                ("unsilence", "Ana Pemba", "technician", "PEMBA-02"),
                ("silence", "Ana Pemba", "technician", "PEMBA-02"),
                ("ack", "Ana Pemba", "technician", "PEMBA-01"),
            ]
            _, body = await api("GET", f"/alerts/{ids['PEMBA-01']}/history")
            assert [(a["action"], a["by"]) for a in body["actions"]] == [("ack", "Ana Pemba")]
    finally:
        client.loop_stop()
        client.disconnect()


async def test_weekly_window_holds_its_station_pages_and_records_the_alert(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path, hook: Hook
) -> None:
    # every day, from an hour ago to an hour from now (alerts timezone), at PEMBA-01 only
    now = datetime.now(TZ)
    window = {"station": "PEMBA-01", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
              "from": (now - timedelta(hours=1)).strftime("%H:%M"),
              "to": (now + timedelta(hours=1)).strftime("%H:%M"), "comment": "limpeza"}  # fmt: skip
    over = collector_overrides(
        mosquitto, influxd, fresh_db, prefix, tmp_path / "var",
        **settings(hook, maintenance=[window]),
    )  # fmt: skip
    client = publisher(mosquitto)
    try:
        async with running_collector(over) as collector, aiohttp.ClientSession() as session:
            api = Api(collector.http_port, session)
            # a one-off window through the API for the control station, in the future
            start = datetime.now(UTC) + timedelta(days=1)
            end = start + timedelta(hours=2)
            once = {"station": "PEMBA-02", "rules": ["controller_fault"],
                    "start": start.isoformat(), "end": end.isoformat()}  # fmt: skip
            status, created = await api("POST", "/windows", ADMIN, once)
            assert status == 201 and created["id"] == 1
            assert (await api("POST", "/windows", ADMIN, {"station": "PEMBA-02"}))[0] == 400
            faults = [fault(prefix, s) for s in ("PEMBA-01", "PEMBA-02")]
            await asyncio.to_thread(publish_all, client, faults)
            await wait_until(lambda: hook.events(event="firing"), 10, 0.05)
            await asyncio.sleep(0.5)  # ten evaluations: PEMBA-01's page would be out by now
            _, body = await api("GET", "/alerts")
            _, windows = await api("GET", "/windows")
            assert (await api("DELETE", "/windows/1", ADMIN))[0] == 200
    finally:
        client.loop_stop()
        client.disconnect()
    assert [(p["event"], p["station"]) for p in hook.posts] == [("firing", "PEMBA-02")]
    # the alert inside the window is recorded and shown as silenced
    assert {(a["station"], a["silenced"]) for a in body["alerts"]} == {
        ("PEMBA-01", True),
        ("PEMBA-02", False),
    }
    assert [(w["id"], w["station"]) for w in windows["windows"]] == [
        (None, "PEMBA-01"),
        (1, "PEMBA-02"),
    ]
    rows = influxd.query('SELECT * FROM "events"."alert" WHERE station = \'PEMBA-01\'', fresh_db)
    assert [(r["rule"], r["state"]) for r in rows] == [("controller_fault", "firing")]
