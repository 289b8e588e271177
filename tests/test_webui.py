"""The technicians' pages in a real browser: headless Chromium against a collector on real
Mosquitto and InfluxDB, fed 48 h of readings through the broker.

Sign-in, the district's stations in urgency order, a station's charts and devices, the
acknowledgement seen by the API with the technician's name, another district shut out,
CSRF refusals, security headers, escaping, and each page's transferred bytes.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from collector.alerts.technician_tokens import main as technicians_cli
from collector.alerts.technicians import Identity
from collector.web.sessions import Sessions
from devices.topics import format_topic
from devstack import Influxd, Mosquitto
from tests.browser_support import chromium, chromium_or_skip
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)

SCRIPT_NAME = "<script>alert(1)</script> Posto"
PAGE_MAX = 60 * 1024


def fleet_file(path: Path) -> Path:
    def station(sid: str, name: str, district: str, lat: float, lon: float) -> dict[str, Any]:
        return {"id": sid, "name": name, "district": district, "latitude": lat, "longitude": lon}

    path.write_text(yaml.safe_dump({"stations": [
        station("PEMBA-01", "Pemba Comando Provincial", "Pemba", -12.97, 40.52),
        station("PEMBA-02", "Pemba Paquitequete", "Pemba", -12.96, 40.50),
        station("PEMBA-03", SCRIPT_NAME, "Pemba", -12.99, 40.53),
        station("MONTEPUEZ-01", "Montepuez", "Montepuez", -13.13, 39.0),
    ]}, allow_unicode=True))  # fmt: skip
    return path


def readings(
    prefix: str, station: str, end_s: float, fault_at_end: bool
) -> list[tuple[str, bytes]]:
    """48 h of solar and tank readings every 30 min, ending at `end_s`."""
    out = []
    for i in range(96, -1, -1):
        t = end_s - i * 1800
        hour = (t / 3600) % 24
        sun = max(0.0, math.sin((hour - 6) / 12 * math.pi))
        last = i == 0
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        solar = {"ts": iso, "battery_soc_pct": 70 + 20 * sun, "battery_voltage_v": 26.0,
                 "pv_power_w": 1500 * sun, "charge_state": "fault" if last and fault_at_end
                 else "bulk", "error_code": 9 if last and fault_at_end else 0}  # fmt: skip
        tank = {"ts": iso, "level_pct": 80 - 10 * (96 - i) / 96}
        out.append(
            (format_topic(prefix, station, "solar", "mppt1", "telemetry"), orjson.dumps(solar))
        )
        out.append(
            (format_topic(prefix, station, "tank", "tank1", "telemetry"), orjson.dumps(tank))
        )
    return out


def add_technician(capsys: pytest.CaptureFixture[str], path: Path, name: str, district: str) -> str:
    assert technicians_cli(["--file", str(path), "add", name, f"--district={district}"]) == 0
    return capsys.readouterr().out.strip()


async def sign_in(page: Any, base: str, token: str) -> int:
    await page.goto(base + "/signin")
    await page.eval(f"document.querySelector('input[name=token]').value = {token!r}")
    return int(await page.tap("form[action='/signin'] button"))


async def test_technician_signs_in_sees_district_in_urgency_order_and_acknowledges(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    chromium_or_skip()
    techs = tmp_path / "technicians.yaml"
    ana = add_technician(capsys, techs, "Ana Pemba", "Pemba")
    bento = add_technician(capsys, techs, "Bento Montepuez", "Montepuez")
    over = collector_overrides(
        mosquitto, influxd, fresh_db, prefix, tmp_path / "var",
        fleet=str(fleet_file(tmp_path / "fleet.yaml")),
        **{"alerts.evaluate_interval_s": 0.05, "alerts.min_page_interval": 0,
           "alerts.technicians_file": str(techs), "web.enabled": True, "alerts.public_url": "http://127.0.0.1:9",
           "web.secure_cookies": False},
    )  # fmt: skip
    now = time.time()
    influxd.write([f"forecast,station=PEMBA-02 battery_days=3.5,water_days=12.0 {int(now * 1000)}"],
                  fresh_db)  # fmt: skip
    client = publisher(mosquitto)
    try:
        async with running_collector(over) as collector, chromium(tmp_path) as browser:
            base = f"http://127.0.0.1:{collector.http_port}"
            msgs = readings(prefix, "PEMBA-01", now, True) + readings(
                prefix, "PEMBA-02", now, False
            )
            msgs += readings(prefix, "MONTEPUEZ-01", now, True)
            await asyncio.to_thread(publish_all, client, msgs)
            svc = collector.alerts
            assert svc is not None
            await wait_until(
                lambda: {a.station for a in svc.active.values()} >= {"PEMBA-01", "MONTEPUEZ-01"},
                15,
                0.05,
            )

            def written() -> bool:
                rows = influxd.query("SELECT count(level_pct) FROM tank", fresh_db)
                return bool(rows) and rows[0]["count"] == 3 * 97

            await wait_until(written, 15, 0.1)
            sizes: dict[str, int] = {}

            page = await browser.page(360, 740)
            # the pages work without JavaScript: this technician's browser runs none of ours
            await page.send("Emulation.setScriptExecutionDisabled", {"value": True})
            sizes["signin"] = await page.goto(base + "/")  # not signed in: to the sign-in form
            assert await page.eval("location.pathname") == "/signin"
            sizes["list"] = await sign_in(page, base, ana)
            assert await page.eval("location.pathname") == "/"
            order = await page.eval(
                "[...document.querySelectorAll('li.card')].map(li => li.dataset.station)"
            )
            assert order == ["PEMBA-01", "PEMBA-03", "PEMBA-02"]  # alerting, stale, ok
            states = await page.eval(
                "[...document.querySelectorAll('li.card')].map(li => li.className)"
            )
            assert states == ["card alerting", "card stale", "card ok"]
            # the <script> station name is text, not a script that ran
            assert SCRIPT_NAME in await page.eval("document.body.innerText")
            assert await page.eval("document.scripts.length") == 1  # ours, /static/app.js
            assert "3.5 d" in await page.eval(
                "document.querySelector('[data-station=PEMBA-02]').innerText"
            )
            assert await page.eval("document.documentElement.scrollWidth") <= 360
            # the English switch, and back (the choice is a cookie)
            sizes["list_en"] = await page.tap("a.lang")
            assert await page.eval("document.querySelector('h1').innerText") == "Stations"
            await page.tap("a.lang")
            assert await page.eval("document.querySelector('h1').innerText") == "Estações"
            sizes["map"] = await page.goto(base + "/map")
            assert await page.eval("document.querySelectorAll('svg.map circle.st').length") == 3

            # the alerting station: charts, devices, and its alert acknowledged by one tap
            sizes["station"] = await page.goto(base + "/s/PEMBA-01")
            assert await page.eval("document.querySelectorAll('svg.chart path.ln').length") == 3
            devices = await page.eval("document.querySelector('ul.dev').innerText")
            assert "mppt1" in devices and "tank1" in devices
            wide = "document.documentElement.scrollWidth"
            assert await page.eval(wide) <= 360  # reads on a 360 px phone: no sideways scroll
            alert_id = next(a.id for a in svc.active.values() if a.station == "PEMBA-01")
            sizes["after_ack"] = await page.tap(f"form[action='/alert/{alert_id}/ack'] button")
            assert await page.eval("location.pathname") == "/s/PEMBA-01"
            assert "Ana Pemba" in await page.eval("document.querySelector('ul.al').innerText")
            sizes["alert"] = await page.goto(f"{base}/alert/{alert_id}")
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/alerts/{alert_id}/history") as resp:
                    hist = await resp.json()
                assert hist["alert"]["acked_by"] == "Ana Pemba"
                assert [(a["action"], a["by"], a["via"]) for a in hist["actions"]] == [
                    ("ack", "Ana Pemba", "web")
                ]
                await page.size(1280, 800)
                await page.goto(base + "/s/PEMBA-01")

                # another district's technician neither sees nor acts on PEMBA-01
                other = await browser.page(360, 740)
                await sign_in(other, base, bento)
                order = await other.eval(
                    "[...document.querySelectorAll('li.card')].map(li => li.dataset.station)"
                )
                assert order == ["MONTEPUEZ-01"]
                other.statuses.clear()
                await other.goto(base + "/s/PEMBA-01")
                assert other.statuses == [403]
                await other.goto(f"{base}/alert/{alert_id}")
                assert "Sem acesso" in await other.eval("document.body.innerText")

                # the signed link of an SMS lands on the same alert page, with its button
                mont = next(a.id for a in svc.active.values() if a.station == "MONTEPUEZ-01")
                assert svc.signer is not None
                await other.goto(f"{base}/a/{svc.signer.token(mont, int(time.time()) + 600)}")
                dl = "document.querySelector('dl').innerText"
                via_link = (await other.eval("document.title"), await other.eval(dl))
                ack_form = "[...document.forms].filter(f => f.action.includes('/a/')).length"
                assert await other.eval(ack_form) == 1
                await other.goto(f"{base}/alert/{mont}")
                assert (await other.eval("document.title"), await other.eval(dl)) == via_link

                # forms: a missing or forged CSRF token is refused, as is another district
                jar = aiohttp.CookieJar(unsafe=True)
                async with aiohttp.ClientSession(cookie_jar=jar) as b:
                    async with b.post(
                        base + "/signin", data={"token": bento}, allow_redirects=False
                    ) as resp:
                        assert resp.status == 303
                        cookie = resp.headers["Set-Cookie"]
                        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
                    async with b.get(base + "/") as resp:
                        html = await resp.text()
                        headers = resp.headers
                    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
                    assert csrf
                    for data in ({}, {"csrf": "forged" + csrf.group(1)[6:]}):
                        async with b.post(f"{base}/alert/{mont}/ack", data=data) as resp:
                            assert resp.status == 403 and "CSRF" in await resp.text()
                    async with b.post(
                        f"{base}/alert/{alert_id}/silence", data={"csrf": csrf.group(1)}
                    ) as resp:
                        assert resp.status == 403  # PEMBA-01 is not Bento's
                    async with b.post(
                        f"{base}/alert/{mont}/ack",
                        data={"csrf": csrf.group(1)},
                        allow_redirects=False,
                    ) as resp:
                        assert resp.status == 303
                    assert (
                        svc.find(mont) is not None and svc.find(mont).acked_by == "Bento Montepuez"
                    )  # type: ignore[union-attr]
                    async with b.post(
                        base + "/signout", data={"csrf": csrf.group(1)}, allow_redirects=False
                    ) as resp:
                        assert resp.status == 303
                    async with b.get(base + "/", allow_redirects=False) as resp:
                        assert resp.status == 303 and resp.headers["Location"] == "/signin"
                    # a rotated token ends the sessions it opened
                    async with b.post(base + "/signin", data={"token": bento}) as resp:
                        assert resp.status == 200 and resp.url.path == "/"
                    add_technician(capsys, techs, "Bento Montepuez", "Montepuez")
                    async with b.get(base + "/", allow_redirects=False) as resp:
                        assert resp.status == 303 and resp.headers["Location"] == "/signin"
                    async with b.get(base + "/metrics") as resp:
                        metrics = await resp.text()
                    assert "solarwater_web_csrf_refused_total 2.0" in metrics, metrics
            csp = headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Referrer-Policy"] == "no-referrer"
            print("transferred bytes per page:", sizes)
            assert all(0 < n < PAGE_MAX for n in sizes.values()), sizes
    finally:
        client.loop_stop()
        client.disconnect()


def test_sessions_are_bounded_and_expire() -> None:
    s = Sessions(limit=2, ttl_s=10)
    who = Identity("Ana", frozenset({"Pemba"}))
    a, b = s.open(who, "h", 0), s.open(who, "h", 1)
    c = s.open(who, "h", 2)  # full: the oldest goes, and is counted
    assert s.get(a.id, 3) is None and s.get(b.id, 3) is b and s.get(c.id, 3) is c
    assert s.evicted == 1 and len(s) == 2
    assert s.get(b.id, 11) is None  # ten seconds after its sign-in
    assert not c.csrf_ok(None) and not c.csrf_ok("x") and c.csrf_ok(c.csrf)
