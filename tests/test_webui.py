"""The technicians' pages in a real browser: headless Chromium against a collector on real
Mosquitto and InfluxDB, fed 48 h of telemetry by the simulator through the broker.

Sign-in, the district's stations in urgency order, a station's charts and devices, the
acknowledgement seen by the API with the technician's name, another district shut out,
CSRF refusals, security headers, escaping, and each page's transferred bytes.
"""

from __future__ import annotations

import asyncio
import math
import re
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from collector.alerts.technician_tokens import main as technicians_cli
from collector.alerts.technicians import Identity
from collector.web.sessions import Session, Sessions, id_hash
from devices import schema
from devices.stations import Fleet, load_fleet, sample_fleet_path
from devstack import Influxd, Mosquitto
from simulator import SimulationConfig, Summary, run_simulation
from tests.browser_support import chromium, chromium_or_skip
from tests.collector_support import collector_overrides, running_collector, wait_until

SCRIPT_NAME = "<script>alert(1)</script> Posto"
PAGE_MAX = 60 * 1024
HOURS = 48
INTERVAL_S = 1800
STATES = ("alerting", "silent", "stale", "ok")  # most urgent first, as web.md says
# Runs on the same clock, each with a fault that lasts to the end: PEMBA-01's tank runs dry
# (tank_low, tank_empty); the array cable is cut at PEMBA-04 and MONTEPUEZ-01 (the bank runs
# down: battery_critical, then the load disconnect). PEMBA-02 runs clean; PEMBA-03 (the
# <script> name) is fed nothing, so it is stale. Two alerting stations in Pemba: their order
# is the physics' (lower charge first).
RUNS = (
    ("dry-spell", "PEMBA-01", ("PEMBA-01", "PEMBA-02")),
    ("brown-out", "PEMBA-04", ("PEMBA-04",)),
    ("brown-out", "MONTEPUEZ-01", ("MONTEPUEZ-01",)),
)


def fleet_file(path: Path) -> Path:
    """The sample fleet's stations the test needs (their real devices), and two more in Pemba."""
    sample = yaml.safe_load(sample_fleet_path().read_text(encoding="utf-8"))["stations"]
    keep = {s["id"]: s for s in sample if s["id"] in ("PEMBA-01", "PEMBA-02", "MONTEPUEZ-01")}
    script = {"id": "PEMBA-03", "name": SCRIPT_NAME, "district": "Pemba",
              "latitude": -12.99, "longitude": 40.53}  # fmt: skip
    wimbe = {**keep["PEMBA-02"], "id": "PEMBA-04", "name": "Pemba Wimbe", "latitude": -12.98}
    stations = [*keep.values(), script, wimbe]
    path.write_text(yaml.safe_dump({"stations": stations}, allow_unicode=True))
    return path


def simulations(fleet: Fleet, mqtt_url: str, prefix: str) -> list[SimulationConfig]:
    """The runs of RUNS, 48 h at 30 min as fast as the broker takes them, ending by now."""
    start_s = math.floor((time.time() - HOURS * 3600) / INTERVAL_S) * INTERVAL_S
    return [
        SimulationConfig(
            mqtt_url=mqtt_url,
            prefix=prefix,
            quiet=True,
            seed=1,
            speed=0,
            fleet=Fleet(stations=tuple(s for s in fleet.stations if s.id in ids)),
            start=datetime.fromtimestamp(start_s, UTC),
            duration_s=HOURS * 3600,
            interval_s=INTERVAL_S,
            scenario=scenario,
            scenario_station=target,
        )
        for scenario, target, ids in RUNS
    ]


def last_soc(summaries: list[Summary]) -> dict[str, float]:
    """Each station's newest battery charge as the simulator handed it to the broker."""
    newest: dict[str, tuple[int, float]] = {}
    for r in (r for s in summaries for r in s.records):
        soc = r.fields.get("battery_soc_pct")
        if (
            r.kind == "solar"
            and isinstance(soc, float)
            and r.ts_ms >= newest.get(r.station, (0,))[0]
        ):
            newest[r.station] = (r.ts_ms, soc)
    return {k: v for k, (_, v) in newest.items()}


def faulted(summaries: list[Summary]) -> set[str]:
    """Stations whose bank reached its low mark or whose tank ran dry (the simulator's truth)."""
    return {
        sid
        for s in summaries
        for sid, t in s.truth.stations.items()
        if t.battery_low_at is not None or t.tank_empty_at is not None
    }


def expected_order(
    fleet: Fleet, district: str, summaries: list[Summary], critical: set[str]
) -> list[tuple[str, str]]:
    """(station, state) most urgent first, by web.md's rule, from what the simulator did."""
    fed = {sid for s in summaries for sid in s.readings.by_station}
    bad, soc = faulted(summaries), last_soc(summaries)

    def state(sid: str) -> str:
        return "alerting" if sid in bad else "ok" if sid in fed else "stale"

    ids = [s.id for s in fleet.stations if s.district == district]
    key = {
        sid: (STATES.index(state(sid)), sid not in critical, soc.get(sid, 101.0), sid)
        for sid in ids
    }
    return [(sid, state(sid)) for sid in sorted(ids, key=key.__getitem__)]


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
    fleet = load_fleet(fleet_file(tmp_path / "fleet.yaml"))
    over = collector_overrides(
        mosquitto, influxd, fresh_db, prefix, tmp_path / "var", fleet=str(tmp_path / "fleet.yaml"),
        **{"alerts.evaluate_interval_s": 0.05, "alerts.min_page_interval": 0,
           "alerts.technicians_file": str(techs), "web.enabled": True, "alerts.public_url": "http://127.0.0.1:9",
           "web.secure_cookies": False},
    )  # fmt: skip
    # Written by hand: a forecast needs days of history, more than these runs give the insight.
    forecast = (
        f"forecast,station=PEMBA-02 battery_days=3.5,water_days=12.0 {int(time.time() * 1000)}"
    )
    influxd.write([forecast], fresh_db)
    async with running_collector(over) as collector, chromium(tmp_path) as browser:
        base = f"http://127.0.0.1:{collector.http_port}"
        runs = simulations(fleet, mosquitto.url, prefix)
        summaries: list[Summary] = await asyncio.gather(
            *(asyncio.to_thread(run_simulation, c, record=True) for c in runs)
        )
        assert faulted(summaries) == {"PEMBA-01", "PEMBA-04", "MONTEPUEZ-01"}, [
            s.truth.to_json() for s in summaries
        ]
        total = sum(s.readings.total for s in summaries)

        def written() -> bool:
            return sum(influxd.count(m, fresh_db) for m in schema.READING_MEASUREMENTS) >= total

        await wait_until(written, 15, 0.1)
        svc = collector.alerts
        assert svc is not None

        def alerting() -> set[str]:
            return {
                a.station
                for a in svc.active.values()
                if a.state == "firing" and a.rule != "station_silent"
            }

        await wait_until(lambda: alerting() == faulted(summaries), 15, 0.05)
        critical = {a.station for a in svc.active.values() if a.severity == "critical"}
        sizes: dict[str, int] = {}

        page = await browser.page(360, 740)
        # the pages work without JavaScript: this technician's browser runs none of ours
        await page.send("Emulation.setScriptExecutionDisabled", {"value": True})
        sizes["signin"] = await page.goto(base + "/")  # not signed in: to the sign-in form
        assert await page.eval("location.pathname") == "/signin"
        sizes["list"] = await sign_in(page, base, ana)
        assert await page.eval("location.pathname") == "/"
        cards = await page.eval(
            "[...document.querySelectorAll('li.card')]"
            ".map(li => [li.dataset.station, li.className])"
        )
        want = expected_order(fleet, "Pemba", summaries, critical)
        # each state shown, and two alerting stations: their order is the physics'
        assert [state for _, state in want] == ["alerting", "alerting", "stale", "ok"], want
        assert cards == [[sid, f"card {state}"] for sid, state in want]
        # each card's charge is the simulator's last one, "—" where it sent nothing
        soc = last_soc(summaries)
        texts = await page.eval("[...document.querySelectorAll('li.card')].map(li => li.innerText)")
        for (sid, _), text in zip(want, texts, strict=True):
            assert f"Bateria {f'{soc[sid]:.0f}%' if sid in soc else '—'} " in text, (sid, text)
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
        dots = "document.querySelectorAll('svg.map circle.st').length"
        assert await page.eval(dots) == sum(s.district == "Pemba" for s in fleet.stations)

        # the alerting station: charts, devices, and its alert acknowledged by one tap
        sizes["station"] = await page.goto(base + "/s/PEMBA-01")
        assert await page.eval("document.querySelectorAll('svg.chart path.ln').length") == 3
        devices = await page.eval("document.querySelector('ul.dev').innerText")
        assert "mppt1" in devices and "tank1" in devices
        wide = "document.documentElement.scrollWidth"
        assert await page.eval(wide) <= 360  # reads on a 360 px phone: no sideways scroll
        alert_id = next(
            a.id
            for a in svc.active.values()
            if a.station == "PEMBA-01" and a.rule != "station_silent"
        )
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
            # not a silence: a backlog arriving could resolve one before the ack
            mont = next(
                a.id
                for a in svc.active.values()
                if a.station == "MONTEPUEZ-01" and a.rule != "station_silent"
            )
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
                    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
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
                assert svc.find(mont) is not None and svc.find(mont).acked_by == "Bento Montepuez"  # type: ignore[union-attr]
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


async def test_sessions_are_bounded_expire_and_keep_only_hashes(tmp_path: Path) -> None:
    s = Sessions(tmp_path / "web", limit=2, ttl_s=10)
    await s.start(0)
    try:
        a, b = await s.open("h", 0), await s.open("h", 1)
        c = await s.open("h", 2)  # full: the oldest goes, and is counted
        assert await s.get(a.id, 3) is None
        assert await s.get(b.id, 3) == b and await s.get(c.id, 3) == c
        assert s.evicted == 1 and len(s) == 2
        assert await s.get(b.id, 11) is None and len(s) == 1  # ten seconds after its sign-in
        await s.close(c.id)
        assert await s.get(c.id, 3) is None and len(s) == 0
        d = await s.open("h", 20)
        await s.open("h", 21)
    finally:
        await s.aclose()
    raw = (tmp_path / "web" / "sessions.sqlite3").read_bytes()
    assert d.id.encode() not in raw and id_hash(d.id).encode() in raw
    again = Sessions(tmp_path / "web", limit=2, ttl_s=10)
    await again.start(25)  # a restart keeps what is still valid
    try:
        assert len(again) == 2 and await again.get(d.id, 25) == d
        await again.start(30.5)  # and drops, at start, what expired while down
        assert len(again) == 1
    finally:
        await again.aclose()
    assert stat.S_IMODE((tmp_path / "web" / "sessions.sqlite3").stat().st_mode) == 0o600
    live = Session(d.id, Identity("Ana", frozenset({"Pemba"})), "h", d.expires_s)
    assert not live.csrf_ok(None) and not live.csrf_ok("x") and live.csrf_ok(live.csrf)
