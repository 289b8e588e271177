"""InfluxDB 1.x `/write` over aiohttp (what the Debian `influxdb` 1.6 package speaks)."""

from __future__ import annotations

import aiohttp

from collector.config import InfluxSettings, read_secret
from collector.store.sinks.base import SinkRejected, SinkUnavailable


class InfluxV1Sink:
    """POST /write?db=..&precision=ms."""

    name = "influx-v1"

    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        params = {"db": settings.db, "precision": "ms"}
        if settings.retention_policy:
            params["rp"] = settings.retention_policy
        self._params = params
        password = read_secret(settings.password, settings.password_file, "influx.password")
        self._auth = (
            aiohttp.BasicAuth(settings.username, password or "") if settings.username else None
        )
        self._base = settings.url.rstrip("/")

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        connector = aiohttp.TCPConnector(limit=8, ssl=bool(self.settings.verify_tls))
        self._session = aiohttp.ClientSession(timeout=timeout, connector=connector, auth=self._auth)

    async def write(self, lines: list[str]) -> None:
        if not lines:
            return
        assert self._session is not None, "start() first"
        body = "\n".join(lines).encode()
        try:
            async with self._session.post(
                self._base + "/write", params=self._params, data=body
            ) as resp:
                if resp.status == 204:
                    return
                text = (await resp.text())[:300]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SinkUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from None
        if resp.status == 400:
            raise SinkRejected(text)
        if resp.status == 404 and "database not found" in text:
            await self._create_db()
            raise SinkUnavailable(f"database {self.settings.db!r} was missing; created it")
        raise SinkUnavailable(f"HTTP {resp.status}: {text}")

    async def _create_db(self) -> None:
        assert self._session is not None
        q = f'CREATE DATABASE "{self.settings.db}"'
        try:
            async with self._session.post(self._base + "/query", data={"q": q}) as resp:
                await resp.read()
        except (aiohttp.ClientError, TimeoutError):
            pass

    async def ensure_database(self) -> None:
        """Create the database if it is missing (InfluxDB 1.x only; harmless when present)."""
        await self._create_db()

    async def ping(self) -> bool:
        assert self._session is not None
        try:
            async with self._session.get(self._base + "/ping") as resp:
                return resp.status == 204
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
