"""Against a collector subprocess on the session's Mosquitto and InfluxDB: a web session
survives a restart and sign-out removes it; guessing tokens or links is locked out.

The limiter's client addresses come from X-Forwarded-For, the collector trusting the test as
its reverse proxy (as it would trust a TLS proxy in front of it), so one test client can be
several phones.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import aiohttp
import yaml
from yarl import URL

from collector.alerts.technicians import TechnicianSettings, new_token, token_hash, write_file
from devstack import Influxd, Mosquitto
from tests.collector_support import CollectorProcess, collector_env
from tests.test_acklinks import ADMIN

FAILURES = 3
GLOBAL = 6


def rows(db: Path) -> int:
    """Sessions in the collector's file, read beside it (WAL: readers see each commit)."""
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM sessions").fetchone()[0])
    finally:
        con.close()


async def test_a_session_survives_a_restart_and_guessing_is_locked_out(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    ana = new_token()
    techs = tmp_path / "technicians.yaml"
    write_file(techs, [TechnicianSettings(name="Ana Pemba", districts=("Pemba",),
                                          token_sha256=token_hash(ana))])  # fmt: skip
    env = {
        **collector_env(mosquitto, influxd, fresh_db, prefix),
        "SOLARWATER_ALERTS__API_TOKEN": ADMIN,
    }
    data = tmp_path / "var"
    proc = CollectorProcess(tmp_path, env, ["--data-dir", str(data)])
    base = f"http://127.0.0.1:{proc.http_port}"
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(yaml.safe_dump({
        "web": {"enabled": True, "secure_cookies": False},
        "alerts": {"technicians_file": str(techs), "public_url": base},
        "http": {"auth_limit": {"failures": FAILURES, "window": "10m",
                                "global_failures": GLOBAL, "trusted_proxies": ["127.0.0.1"]}},
    }))  # fmt: skip
    proc.args += ["--config", str(cfg)]
    sessions_db = data / "web" / "sessions.sqlite3"
    await asyncio.to_thread(proc.start)
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            phone = {"X-Forwarded-For": "203.0.113.1"}
            async with http.post(f"{base}/signin", data={"token": ana}, headers=phone) as resp:
                assert resp.status == 200 and resp.url.path == "/"
            assert rows(sessions_db) == 1
            assert ana not in sessions_db.read_text(errors="replace")

            # the collector restarts: the cookie still opens the pages
            assert await asyncio.to_thread(proc.stop) == 0
            await asyncio.to_thread(proc.start)
            async with http.get(f"{base}/", allow_redirects=False) as resp:
                assert resp.status == 200
                html = await resp.text()
            assert "Ana Pemba" in html and 'data-station="PEMBA-01"' in html
            csrf = re.search(r'name="csrf" value="([^"]+)"', html)
            assert csrf

            # sign-out removes it from the file, and the cookie opens nothing any more
            cookie = {"Cookie": f"sw_session={jar.filter_cookies(URL(base))['sw_session'].value}"}
            async with http.post(
                f"{base}/signout", data={"csrf": csrf.group(1)}, allow_redirects=False
            ) as resp:
                assert resp.status == 303 and resp.headers["Location"] == "/signin"
            assert rows(sessions_db) == 0
        async with aiohttp.ClientSession() as bare:
            async with bare.get(f"{base}/", headers=cookie, allow_redirects=False) as resp:
                assert resp.status == 303 and resp.headers["Location"] == "/signin"

            # a guessing script at one address: FAILURES wrong tokens, then 429 even for the
            # right one, on the API and the signed links too
            script = {"X-Forwarded-For": "198.51.100.66"}
            for _ in range(FAILURES):
                async with bare.post(
                    f"{base}/signin", data={"token": "swt_guess"}, headers=script
                ) as resp:
                    assert resp.status == 401
            async with bare.post(f"{base}/signin", data={"token": ana}, headers=script) as resp:
                assert resp.status == 429 and 590 <= int(resp.headers["Retry-After"]) <= 600
            bearer = {**script, "Authorization": f"Bearer {ADMIN}"}
            async with bare.post(f"{base}/alerts/1/ack", headers=bearer) as resp:
                assert resp.status == 429 and "Retry-After" in resp.headers
            async with bare.get(f"{base}/a/1.zzzzzz.AAAAAAAAAAAAAAAA", headers=script) as resp:
                assert resp.status == 429
            # another phone is not locked out by it
            async with bare.post(
                f"{base}/signin", data={"token": ana}, headers=phone, allow_redirects=False
            ) as resp:
                assert resp.status == 303

            # many addresses guessing together: once GLOBAL failures are in, everyone waits
            for i in range(GLOBAL - FAILURES):
                hop = {"X-Forwarded-For": f"192.0.2.{i + 10}", "Authorization": "Bearer wrong"}
                async with bare.post(f"{base}/alerts/1/ack", headers=hop) as resp:
                    assert resp.status == 401
            async with bare.get(
                f"{base}/g/1.zzzzzz.AAAAAAAAAAAAAAAA", headers={"X-Forwarded-For": "192.0.2.99"}
            ) as resp:
                assert resp.status == 429
            async with bare.get(f"{base}/metrics") as resp:
                metrics = await resp.text()
        for line in ("solarwater_auth_failures_total 6.0", "solarwater_auth_lockouts_total 1.0",
                     "solarwater_auth_global_lockouts_total 1.0",
                     "solarwater_auth_limited_total 4.0"):  # fmt: skip
            assert line in metrics, line
    finally:
        rc = await asyncio.to_thread(proc.stop)
    log = proc.log_path.read_text()
    assert rc == 0, log[-2000:]
    assert log.count("from 198.51.100.66; locked out") == 1  # once, not per refused try
