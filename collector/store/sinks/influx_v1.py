"""InfluxDB 1.x `/write` over aiohttp (what the Debian `influxdb` 1.6 package speaks)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import aiohttp
import orjson
from pydantic import Field, PrivateAttr, SecretStr, model_validator

from collector.secrets import load_secret
from collector.store.rollup.durations import Duration, FiniteDuration, duration_ms
from collector.store.rollup.plan import create_policy
from collector.store.sinks.base import Sink, SinkPlugin, SinkRejected, SinkSettings, SinkUnavailable
from devices import schema

log = logging.getLogger("collector.sink")
HOUR_MS = 3_600_000


class InfluxV1Settings(SinkSettings):
    """`influx:` with `api: v1`: a database on InfluxDB 1.x, optional basic auth."""

    api: Literal["v1"] = Field("v1", description="v1 (/write, InfluxDB 1.x)")
    db: str = Field("solarwater", min_length=1, description="Database (v1)")
    retention_policy: str | None = Field(None, description="Retention policy (v1)")
    username: str | None = Field(None, description="User (v1 auth)")
    password: SecretStr | None = Field(
        None, description="Password (v1 auth; secret: environment only)"
    )
    password_file: Path | None = Field(None, description="File holding the v1 password")
    raw_retention: Duration = Field(
        "90d", description="How long raw readings are kept (`rollup setup`; INF = for ever)"
    )
    rollup_retention: Duration = Field(
        "INF", description="How long the hourly rollup is kept (`rollup setup`)"
    )
    rollup_resample_for: FiniteDuration = Field(
        "24h", description="Hours each hourly CQ run recomputes: a backlog inside is caught up"
    )
    daily_retention: Duration = Field(
        "INF", description="How long the daily rollup is kept (`rollup setup`)"
    )
    raw_view_up_to: FiniteDuration = Field(
        "7d", description="Longest dashboard range read from raw data; longer ranges read hourly"
    )
    hourly_view_up_to: FiniteDuration = Field(
        "30d", description="Longest dashboard range read hourly; longer ranges read daily"
    )
    events_retention: Duration = Field(
        "INF",
        description=f"How long alert transitions are kept (policy `{schema.EVENTS_RP}`, made by"
        " the collector and `rollup setup`); at least raw_retention",
    )
    _password: SecretStr | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _events_policy(self) -> InfluxV1Settings:
        if self.retention_policy == schema.EVENTS_RP:
            raise ValueError(
                f"retention_policy {schema.EVENTS_RP!r} is the alert transitions' own policy"
            )
        keep, raw = duration_ms(self.events_retention), duration_ms(self.raw_retention)
        if keep is not None and (keep < HOUR_MS or raw is None or keep < raw):
            raise ValueError(
                f"events_retention {self.events_retention} must be INF or at least raw_retention"
                f" {self.raw_retention} (and 1h): alerts outlive the readings they were judged on"
            )
        return self

    @model_validator(mode="after")
    def _read_password(self) -> InfluxV1Settings:
        # read at load time, so a missing file is a config error, not a failure at start
        self._password = load_secret(self.password, self.password_file, "influx.password")
        return self

    def secret_password(self) -> str | None:
        """The password, from the environment or its file."""
        return self._password.get_secret_value() if self._password is not None else None

    def influxql_access(self) -> tuple[str, dict[str, str]] | None:
        if not self.username:
            return self.db, {}
        auth = aiohttp.BasicAuth(self.username, self.secret_password() or "")
        return self.db, {"Authorization": auth.encode()}


SAMPLE = """\
influx:
  api: v1                  # InfluxDB 1.x /write
  url: http://localhost:8086
  db: solarwater
  # retention_policy: autogen
  # username: collector    # password: SOLARWATER_INFLUX__PASSWORD or password_file
  # password_file: /run/secrets/influx_password
  timeout_s: 10
  batch_size: 5000
  flush_interval_s: 0.5
"""


class InfluxV1Sink:
    """POST /write?db=..&precision=ms (and &rp=..); `events`: into the alert transitions' policy,
    which this sink then creates when it is missing."""

    name = "influx-v1"

    def __init__(self, settings: InfluxV1Settings, *, events: bool = False) -> None:
        self.settings = settings
        self.events = events
        self._session: aiohttp.ClientSession | None = None
        params = {"db": settings.db, "precision": "ms"}
        rp = schema.EVENTS_RP if events else settings.retention_policy
        if rp:
            params["rp"] = rp
        self._params = params
        password = settings.secret_password()
        self._auth = (
            aiohttp.BasicAuth(settings.username, password or "") if settings.username else None
        )
        self._base = settings.url.rstrip("/")

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        connector = aiohttp.TCPConnector(limit=8, ssl=bool(self.settings.verify_tls))
        self._session = aiohttp.ClientSession(timeout=timeout, connector=connector, auth=self._auth)

    async def prepare(self) -> None:
        """Create the database, and the events policy for an events sink, if missing."""
        await self._create_db()
        if self.events:
            await self._create_events_rp()

    def events_sink(self) -> Sink:
        return InfluxV1Sink(self.settings, events=True)

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
            await self.prepare()
            raise SinkUnavailable(f"database {self.settings.db!r} was missing; created it")
        if self.events and "retention policy not found" in text:
            await self._create_events_rp()  # dropped while running: made again, then retried
            raise SinkUnavailable(f"retention policy {schema.EVENTS_RP!r} was missing; created it")
        raise SinkUnavailable(f"HTTP {resp.status}: {text}")

    async def _create_db(self) -> None:
        await self._statement(f'CREATE DATABASE "{self.settings.db}"')

    async def _create_events_rp(self) -> None:
        """CREATE RETENTION POLICY: a no-op when it exists alike; when it exists otherwise,
        InfluxDB refuses and it stays as it is (`rollup setup` alters it)."""
        s = self.settings
        error = await self._statement(create_policy(s.db, schema.EVENTS_RP, s.events_retention))
        if error and "already exists" not in error:
            log.warning(
                "influx: cannot create retention policy %s (%s): alert points wait in the spool;"
                " run `python -m collector.store.rollup setup` as an InfluxDB admin",
                schema.EVENTS_RP,
                error[:200],
            )

    async def _statement(self, q: str) -> str:
        """Run one InfluxQL statement; its error in words, "" when it went through.

        Unreachable is no error here: the write that follows spools and retries.
        """
        assert self._session is not None
        try:
            async with self._session.post(self._base + "/query", data={"q": q}) as resp:
                body = await resp.read()
        except (aiohttp.ClientError, TimeoutError):
            return ""
        if resp.status >= 300:
            return f"HTTP {resp.status}: {body[:200].decode(errors='replace')}"
        try:
            result = orjson.loads(body)["results"][0]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            return ""
        return str(result.get("error", "")) if isinstance(result, dict) else ""

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


def make(settings: InfluxV1Settings) -> Sink:
    """The v1 sink for these settings."""
    return InfluxV1Sink(settings)


PLUGIN = SinkPlugin("v1", InfluxV1Settings, make, SAMPLE)
