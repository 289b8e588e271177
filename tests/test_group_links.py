"""A storm's grouped page carries one signed link; following it acknowledges the group.

A collector subprocess on the session's Mosquitto and InfluxDB groups three stations'
controller faults into one notification to a real aiosmtpd server and a real aiohttp SMS
gateway. The link in the e-mail opens the group's page; technicians signed in from it act
on their own districts' alerts only, and the API's history names them.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from collector.alerts.links import LinkSigner
from devstack import Influxd, Mosquitto
from tests.alert_support import SMTP_PASSWORD, Hook, Mailbox, mail_and_sms, two_district_technicians
from tests.collector_support import (
    CollectorProcess,
    collector_env,
    publish_all,
    publisher,
    wait_until,
)
from tests.test_acklinks import ADMIN, body_of, fault

STATIONS = ("PEMBA-01", "PEMBA-02", "MONTEPUEZ-01")


def config(hook: Hook, smtp_port: int, base: str, password: Path, techs: Path) -> dict[str, Any]:
    return {
        "web": {"enabled": True, "secure_cookies": False},
        "alerts": {
            "evaluate_interval_s": 0.05,
            "min_page_interval": 0,
            "group_rules": ["controller_fault"],
            "group_wait": "2s",  # margin for a loaded machine: the three must join
            "public_url": base,
            "technicians_file": str(techs),
            "notifiers": mail_and_sms(smtp_port, password, hook),
            "routes": [
                {
                    "name": "sul",
                    "districts": ["Pemba", "Montepuez"],
                    "notifiers": ["mail", "sms"],
                    "recipients": {"emails": ["sul@example.org"], "phones": ["+258841110001"]},
                },
            ],
            "fallback": {"notifiers": ["sms"], "recipients": {"phones": ["+258849990000"]}},
        },
    }


async def sign_in_from(http: aiohttp.ClientSession, base: str, link: str, token: str) -> str:
    """Open the group link unsigned, follow its sign-in link, sign in: back on the page."""
    async with http.get(link) as resp:
        assert resp.status == 200
        html = await resp.text()
    found = re.search(r'href="(/signin\?next=[^"]+)"', html)
    assert found and "<button" not in html, html  # nothing to press before signing in
    async with http.get(base + found.group(1).replace("&amp;", "&")) as resp:
        form = await resp.text()
    after = re.search(r'name="next" value="([^"]+)"', form)
    assert after
    async with http.post(base + "/signin", data={"token": token, "next": after.group(1)}) as resp:
        assert resp.status == 200 and str(resp.url) == link
        return await resp.text()


async def test_a_grouped_page_links_to_one_page_that_acknowledges_the_group(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path,
    hook: Hook, mailbox: tuple[Mailbox, int],
) -> None:  # fmt: skip
    box, smtp_port = mailbox
    techs = tmp_path / "technicians.yaml"
    ana, bento = two_district_technicians(techs)
    env = {
        **collector_env(mosquitto, influxd, fresh_db, prefix),
        "SOLARWATER_INFLUX__FLUSH_INTERVAL_S": "0.2",
        "SOLARWATER_ALERTS__API_TOKEN": ADMIN,
    }
    data = tmp_path / "var"
    proc = CollectorProcess(tmp_path, env, ["--data-dir", str(data)])
    base = f"http://127.0.0.1:{proc.http_port}"
    password = tmp_path / "smtp_password"
    password.write_text(SMTP_PASSWORD)
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(yaml.safe_dump(config(hook, smtp_port, base, password, techs)))
    proc.args += ["--config", str(cfg)]
    await asyncio.to_thread(proc.start)
    client = publisher(mosquitto)
    try:
        await asyncio.to_thread(publish_all, client, [fault(prefix, s) for s in STATIONS])
        await wait_until(lambda: box.messages, 20, 0.05)
        assert len(box.messages) == 1  # one message for the three stations
        text = body_of(box.messages[0][1])
        found = re.search(rf"{re.escape(base)}/g/\S+", text)
        assert found, text
        link = found.group(0)
        assert text.splitlines()[2] == link  # right under the text, as an alert's link
        await wait_until(lambda: hook.events(event="firing"), 10, 0.05)
        sms = hook.events(event="firing")[0]
        assert len(hook.events(event="firing")) == 1 and sms["link"] == link
        assert sorted(sms["stations"]) == sorted(STATIONS) and len(sms["alert_ids"]) == 3
        assert sms["sms"].endswith(" " + link) and len(sms["sms"]) <= 160
        ids = dict(zip(sms["stations"], sms["alert_ids"], strict=True))

        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as bento_http,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as ana_http,
        ):
            # Bento sees the three, may act on Montepuez's only
            html = await sign_in_from(bento_http, base, link, bento)
            assert all(s in html for s in STATIONS)
            assert html.count("fora dos seus distritos") == 2
            csrf = re.search(r'name="csrf" value="([^"]+)"', html)
            assert csrf and re.findall(r'name="alert" value="(\d+)"', html) == [
                str(ids["MONTEPUEZ-01"])
            ]
            for alert, status in ((ids["PEMBA-01"], 403), (ids["MONTEPUEZ-01"], 303)):
                async with bento_http.post(
                    link, data={"csrf": csrf.group(1), "alert": str(alert)}, allow_redirects=False
                ) as resp:
                    assert resp.status == status
            async with bento_http.post(link, data={"alert": str(ids["MONTEPUEZ-01"])}) as resp:
                assert resp.status == 403  # no CSRF token

            # Ana acknowledges all of hers with one tap
            html = await sign_in_from(ana_http, base, link, ana)
            assert "Confirmado por Bento Montepuez" in html and "Confirmar os meus (2)" in html
            csrf = re.search(r'name="csrf" value="([^"]+)"', html)
            assert csrf
            async with ana_http.post(
                link, data={"csrf": csrf.group(1)}, allow_redirects=False
            ) as resp:
                assert resp.status == 303 and resp.headers["Location"] == link.removeprefix(base)

            for station, by in (("PEMBA-01", "Ana Pemba"), ("PEMBA-02", "Ana Pemba"),
                                ("MONTEPUEZ-01", "Bento Montepuez")):  # fmt: skip
                async with ana_http.get(f"{base}/alerts/{ids[station]}/history") as resp:
                    hist = await resp.json()
                assert hist["alert"]["acked_by"] == by, station
                assert [(a["action"], a["by"], a["via"]) for a in hist["actions"]] == [
                    ("ack", by, "web")
                ]

            # a tampered link (one signature character, or another group) and an expired one
            sig = link[-1]
            secret = (data / "alerts" / "link_secret").read_text().strip().encode()
            signer = LinkSigner(secret, base, 60)
            gid = int(link.removeprefix(f"{base}/g/").split(".")[0])
            alert_signed = f"{base}/g/{signer.token(gid, int(time.time()) + 600)}"
            other_group = f"{base}/g/{gid + 1}.{link.split('.')[-2]}.{link[-16:]}"
            for url in (link[:-1] + ("A" if sig != "A" else "B"), other_group, alert_signed):
                async with ana_http.get(url) as resp:
                    assert resp.status == 403 and "não é válido" in await resp.text()
            # nor does a group's signature open an alert's page
            async with ana_http.get(f"{base}/a/{link.removeprefix(f'{base}/g/')}") as resp:
                assert resp.status == 403
            expired = f"{base}/g/{signer.token(gid, int(time.time()) - 5, 'g')}"
            async with ana_http.get(expired) as resp:
                assert resp.status == 410 and "expirou" in await resp.text()
            async with ana_http.post(expired, data={"csrf": csrf.group(1)}) as resp:
                assert resp.status == 410
    finally:
        client.loop_stop()
        client.disconnect()
        rc = await asyncio.to_thread(proc.stop)
    assert rc == 0, proc.log_path.read_text()[-2000:]
