"""Acknowledging from the phone: the signed link of a real e-mail, followed by an HTTP client.

A collector subprocess on the session's Mosquitto and InfluxDB pages a real aiosmtpd server
and a real aiohttp webhook receiver; the test opens the link the e-mail carries, taps the
button (a form POST) and checks the reminders stop, and that forged and expired links are
refused.
"""

from __future__ import annotations

import asyncio
import re
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from collector.alerts.links import LinkSigner
from devices.topics import format_topic
from devstack import Influxd, Mosquitto
from tests.alert_support import SMTP_PASSWORD, Hook, Mailbox, mail_and_sms
from tests.collector_support import (
    CollectorProcess,
    collector_env,
    publish_all,
    publisher,
    wait_until,
)

ADMIN = "adm-7Hq2xL9pV4mK8sT1wZ6bN3cR"
PEMBA = {"emails": ["tecnico.pemba@example.org"], "phones": ["+258841110001"]}


def fault(prefix: str, station: str, error: int = 17) -> tuple[str, bytes]:
    """A live solar reading of `station` with a controller fault (fires at once)."""
    body = {"ts": datetime.now(UTC).isoformat(), "battery_soc_pct": 80.0,
            "battery_voltage_v": 26.0, "charge_state": "fault", "error_code": error}  # fmt: skip
    return format_topic(prefix, station, "solar", "mppt1", "telemetry"), orjson.dumps(body)


def config(hook: Hook, smtp_port: int, public_url: str, password: Path) -> dict[str, Any]:
    return {
        "alerts": {
            "evaluate_interval_s": 0.05,
            "repeat_interval": "1s",
            "min_page_interval": 0,
            "public_url": public_url,
            "notifiers": mail_and_sms(smtp_port, password, hook),
            "routes": [
                {
                    "name": "pemba",
                    "districts": ["Pemba"],
                    "notifiers": ["mail", "sms"],
                    "recipients": PEMBA,
                },
            ],
            "fallback": {"notifiers": ["sms"], "recipients": {"phones": ["+258849990000"]}},
        }
    }


def body_of(msg: Any) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def test_technician_acks_through_the_link_in_a_real_email(
    mosquitto: Mosquitto,
    influxd: Influxd,
    fresh_db: str,
    prefix: str,
    tmp_path: Path,
    hook: Hook,
    mailbox: tuple[Mailbox, int],
) -> None:
    box, smtp_port = mailbox
    env = {
        **collector_env(mosquitto, influxd, fresh_db, prefix),
        "SOLARWATER_INFLUX__FLUSH_INTERVAL_S": "0.2",
        "SOLARWATER_ALERTS__API_TOKEN": ADMIN,
    }
    data = tmp_path / "var"
    proc = CollectorProcess(tmp_path, env, ["--data-dir", str(data)])
    base = f"http://127.0.0.1:{proc.http_port}"
    cfg = tmp_path / "collector.yaml"
    password = tmp_path / "smtp_password"
    password.write_text(SMTP_PASSWORD)
    cfg.write_text(yaml.safe_dump(config(hook, smtp_port, base, password)))
    proc.args += ["--config", str(cfg)]
    await asyncio.to_thread(proc.start)
    client = publisher(mosquitto)
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.to_thread(publish_all, client, [fault(prefix, "PEMBA-01")])
            await wait_until(lambda: box.messages, 20, 0.05)
            rcpt, mail = box.messages[0]
            assert rcpt == PEMBA["emails"]
            text = body_of(mail)
            found = re.search(rf"{re.escape(base)}/a/\S+", text)
            assert found, text
            link = found.group(0)
            # the SMS gateway's text carries the same kind of link, whole, inside one SMS
            firing = hook.events(event="firing")[0]
            assert firing["link"].startswith(f"{base}/a/{firing['alert_id']}.")
            assert firing["sms"].endswith(" " + firing["link"]) and len(firing["sms"]) <= 160
            assert len(link) - len(base) <= 40  # short: /a/{id}.{exp}.{16 chars}
            await wait_until(lambda: hook.events(event="reminder"), 10, 0.05)

            # opening the link shows the alert and the button
            async with http.get(link) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/html")
                csp = resp.headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp and "unsafe-inline" not in csp
                assert resp.headers["Referrer-Policy"] == "no-referrer"
                page = await resp.text()
            assert "PEMBA-01" in page and "Falha do controlador" in page
            assert not re.search(r"<script(?![^>]*\ssrc=)", page)  # no inline script
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf and '<form method="post"' in page

            # a POST without the page's token is refused; with it, one tap acknowledges
            async with http.post(link, data={"csrf": "x" * 22}) as resp:
                assert resp.status == 403
            async with http.post(
                link, data={"csrf": csrf.group(1), "name": "Ana <Técnica>"}, allow_redirects=False
            ) as resp:
                assert resp.status == 303
            async with http.get(link) as resp:
                page = await resp.text()
            assert "Confirmado por Ana &lt;Técnica&gt;" in page and "<form" not in page

            # reminders stop (one already handed to a notifier may still land: wait it out)
            await wait_until(lambda: proc.health()["alerts"]["notifications_queued"] == 0, 10)
            await asyncio.sleep(0.5)  # one in delivery lands (local receivers: milliseconds)
            after = len(hook.posts) + len(box.messages)
            await asyncio.sleep(2.5)  # 2.5 repeat intervals
            assert len(hook.posts) + len(box.messages) == after

            # the history says who acknowledged, and how
            alert_id = firing["alert_id"]
            async with http.get(f"{base}/alerts/{alert_id}/history") as resp:
                hist = await resp.json()
            assert [(a["action"], a["by"], a["via"]) for a in hist["actions"]] == [
                ("ack", "Ana <Técnica>", "link")
            ]
            assert hist["alert"]["acked_by"] == "Ana <Técnica>"

            # a forged link (one character of the signature changed) is refused
            sig = link[-1]
            forged = link[:-1] + ("A" if sig != "A" else "B")
            for url in (forged, f"{base}/a/{alert_id + 1}.{link.split('.')[-2]}.{link[-16:]}"):
                async with http.get(url) as resp:
                    assert resp.status == 403 and "não é válido" in await resp.text()
            # an expired one, signed with the collector's own secret, is refused as expired
            secret = data / "alerts" / "link_secret"
            assert stat.S_IMODE(secret.stat().st_mode) == 0o600
            signer = LinkSigner(secret.read_text().strip().encode(), base, 60)
            expired = f"{base}/a/{signer.token(alert_id, int(time.time()) - 5)}"
            async with http.get(expired) as resp:
                assert resp.status == 410 and "expirou" in await resp.text()
            async with http.post(expired, data={"csrf": csrf.group(1)}) as resp:
                assert resp.status == 410
    finally:
        client.loop_stop()
        client.disconnect()
        rc = await asyncio.to_thread(proc.stop)
    assert rc == 0, proc.log_path.read_text()[-2000:]
