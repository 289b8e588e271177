"""Real receivers for alert notifications: webhook (aiohttp), SMTP (aiosmtpd), MQTT watcher."""

from __future__ import annotations

import asyncio
import email
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from paho.mqtt.enums import CallbackAPIVersion

from collector.alerts.technicians import TechnicianSettings, new_token, token_hash, write_file
from devstack import Mosquitto
from devstack.ports import free_port

SMTP_PASSWORD = "mailpass"


class Hook:
    """A real aiohttp webhook receiver; `fail` answers that many requests with `status` first.

    `delay_s` makes each request take that long, as a slow SMS gateway does.
    """

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.arrived: list[float] = []  # wall time each accepted post came in
        self.auth: list[str | None] = []
        self.fail = 0
        self.status = 503
        self.delay_s = 0.0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization"))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail > 0:
            self.fail -= 1
            return web.Response(status=self.status)
        self.posts.append(await request.json())
        self.arrived.append(time.time())
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def events(self, **match: Any) -> list[dict[str, Any]]:
        return [p for p in self.posts if all(p.get(k) == v for k, v in match.items())]


class Mailbox:
    """aiosmtpd handler keeping what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(make_header(decode_header(m["Subject"]))) for _, m in self.messages]


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd, LOGIN/PLAIN with `SMTP_PASSWORD`) on a free port."""
    box = Mailbox()

    def auth(server: Any, session: Any, envelope: Any, mech: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok)

    port = free_port()
    ctl = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=auth, auth_require_tls=False
    )
    ctl.start()
    try:
        yield box, port
    finally:
        ctl.stop()


class AlertTopicWatch:
    """Records every message on `{prefix}/alerts/#`, as a technician's MQTT client would."""

    def __init__(self, broker: Mosquitto, prefix: str) -> None:
        self.got: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.broker = broker
        self.prefix = prefix
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"{prefix}/alerts/#", qos=1)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.got.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def messages(self) -> list[tuple[str, bytes, bool]]:
        with self.lock:
            return list(self.got)

    def retained_now(self, wait_s: float = 0.5) -> list[str]:
        """Topics under `{prefix}/alerts/#` a newly connecting client is handed (non-empty)."""
        got: list[str] = []
        c = mqtt.Client(CallbackAPIVersion.VERSION2)
        c.on_message = lambda cl, u, m: got.append(m.topic) if m.payload else None
        c.connect(self.broker.host, self.broker.port)
        c.subscribe(f"{self.prefix}/alerts/#", qos=1)
        c.loop_start()
        time.sleep(wait_s)
        c.loop_stop()
        c.disconnect()
        return got

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def two_district_technicians(path: Path) -> tuple[str, str]:
    """A technicians file of Ana (Pemba) and Bento (Montepuez); their sign-in tokens."""
    ana, bento = new_token(), new_token()
    write_file(path, [
        TechnicianSettings(name="Ana Pemba", districts=("Pemba",), token_sha256=token_hash(ana)),
        TechnicianSettings(name="Bento Montepuez", districts=("Montepuez",),
                           token_sha256=token_hash(bento)),
    ])  # fmt: skip
    return ana, bento


def mail_and_sms(smtp_port: int, password: Path, hook: Hook) -> dict[str, Any]:
    """The `mail` notifier on the test's aiosmtpd and the `sms` one on its webhook receiver."""
    return {
        "mail": {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "username": "alerts",
            "password_file": str(password),
            "from": "alertas@solarwater.example",
            "backoff_s": 0.05,
        },
        "sms": {"type": "webhook", "url": hook.url, "backoff_s": 0.05, "timeout_s": 5},
    }
