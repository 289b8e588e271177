"""The demo's own mail catcher (aiosmtpd) and SMS webhook receiver (aiohttp), counting pages.

Every page received is appended to `pages.log`, one line each, so a reader can follow what
the technicians would have got without any mail server or SMS gateway.
"""

from __future__ import annotations

import asyncio
import email
import json
import threading
import time
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from devstack.ports import free_port

MAX_WEBHOOK_BYTES = 64 * 1024  # a page is a few hundred bytes


class PageCatcher:
    """An SMTP server and an HTTP receiver on 127.0.0.1, each in a thread of its own."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.mails = 0
        self.sms = 0
        self.smtp_port = free_port()
        self.http_port = free_port()
        self._lock = threading.Lock()
        self._smtp: Controller | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None

    @property
    def sms_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/sms"

    def _record(self, channel: str, to: str, text: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {channel:<4} to {to}: {text}\n"
        with self._lock:
            if channel == "mail":
                self.mails += 1
            else:
                self.sms += 1
            with self.log_path.open("a", encoding="utf-8") as f:
                f.write(line)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook: one e-mail page."""
        msg = email.message_from_bytes(envelope.content)
        subject = str(make_header(decode_header(msg.get("Subject", ""))))
        self._record("mail", ", ".join(envelope.rcpt_tos), subject)
        return "250 OK"

    async def _on_post(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": "not JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "not a JSON object"}, status=400)
        phones = body.get("phones") or []
        self._record("sms", ", ".join(str(p) for p in phones) or "-", str(body.get("sms", "")))
        return web.json_response({"ok": True})

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application(client_max_size=MAX_WEBHOOK_BYTES)
        app.router.add_post("/sms", self._on_post)
        self._runner = web.AppRunner(app)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.http_port)
        loop.run_until_complete(site.start())
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def start(self) -> None:
        self._smtp = Controller(self, hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()
        self._thread = threading.Thread(target=self._serve, name="page-catcher", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the demo's webhook receiver did not start")

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.mails, self.sms
