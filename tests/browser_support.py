"""Headless Debian Chromium driven through the DevTools protocol (a WebSocket, aiohttp).

No Playwright or ChromeDriver download: the system's `chromium`, one browser per test, a
fresh --user-data-dir, each Page in its own browser context (its own cookies).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--remote-debugging-port=0",
]  # fmt: skip


def chromium_or_skip() -> str:
    """The browser's path; `make test` installs it (APT_PACKAGES), a bare pytest may lack it."""
    path = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if path is None:
        pytest.skip("chromium is not installed (make install adds it)")
    return path


class Browser:
    """One Chromium process and its DevTools connection."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, proc: subprocess.Popen[bytes]) -> None:
        self.ws = ws
        self.proc = proc
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, str | None, asyncio.Future[dict[str, Any]]]] = []
        self.listeners: dict[str | None, list[Any]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.json()
            if "id" in data:
                fut = self._pending.pop(data["id"], None)
                if fut is not None and not fut.done():
                    if "error" in data:
                        fut.set_exception(RuntimeError(str(data["error"])))
                    else:
                        fut.set_result(data.get("result", {}))
                continue
            method, sid = data.get("method"), data.get("sessionId")
            for cb in self.listeners.get(sid, []):
                cb(method, data.get("params", {}))
            for w in list(self._waiters):
                if w[0] == method and w[1] == sid and not w[2].done():
                    w[2].set_result(data.get("params", {}))
                    self._waiters.remove(w)

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session: str | None = None) -> dict[str, Any]:  # fmt: skip
        i = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[i] = fut
        msg: dict[str, Any] = {"id": i, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        await self.ws.send_json(msg)
        return await asyncio.wait_for(fut, 20)

    def expect(self, method: str, session: str | None) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((method, session, fut))
        return fut

    async def page(self, width: int = 360, height: int = 740) -> Page:
        ctx = await self.send("Target.createBrowserContext", {"disposeOnDetach": True})
        target = await self.send(
            "Target.createTarget",
            {"url": "about:blank", "browserContextId": ctx["browserContextId"]},
        )
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        p = Page(self, attached["sessionId"])
        await p.start(width, height)
        return p


class Page:
    """One tab: navigate, read the DOM, count the bytes each page load transferred."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.b = browser
        self.sid = session
        self.bytes = 0
        self.statuses: list[int] = []
        browser.listeners[session] = [self._on_event]

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.loadingFinished":
            self.bytes += int(params.get("encodedDataLength", 0))
        elif method == "Network.responseReceived" and params.get("type") == "Document":
            self.statuses.append(int(params["response"]["status"]))

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.b.send(method, params, self.sid)

    async def start(self, width: int, height: int) -> None:
        for domain in ("Page", "Network", "Runtime"):
            await self.send(f"{domain}.enable")
        await self.size(width, height)

    async def size(self, width: int, height: int) -> None:
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    async def _loading(self, action: Any) -> int:
        """Run `action`, wait for the page it loads; the bytes that load transferred."""
        self.bytes = 0
        loaded = self.b.expect("Page.loadEventFired", self.sid)
        await action()
        await asyncio.wait_for(loaded, 20)
        await asyncio.sleep(0.05)  # the last loadingFinished may follow the load event
        return self.bytes

    async def goto(self, url: str) -> int:
        return await self._loading(lambda: self.send("Page.navigate", {"url": url}))

    async def tap(self, selector: str) -> int:
        """Tap a link or a submit button; the bytes of the page it loads."""
        js = f"document.querySelector({selector!r}).click()"
        return await self._loading(lambda: self.eval(js))

    async def eval(self, js: str) -> Any:
        r = await self.send("Runtime.evaluate", {"expression": js, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(str(r["exceptionDetails"]))
        return r["result"].get("value")

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))


@contextlib.asynccontextmanager
async def chromium(workdir: Path) -> AsyncIterator[Browser]:
    """A headless Chromium with a new empty profile, stopped (its group) when the block ends."""
    exe = chromium_or_skip()
    profile = workdir / "chromium-profile"
    profile.mkdir(parents=True)
    proc = subprocess.Popen(
        [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    port_file = profile / "DevToolsActivePort"
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit {proc.poll()})")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0) as ws,
        ):
            browser = Browser(ws, proc)
            try:
                yield browser
            finally:
                browser._reader.cancel()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
