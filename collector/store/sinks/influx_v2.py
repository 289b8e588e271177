"""InfluxDB 2.x/3.x and 1.8+ through influxdb-client's async v2 write API (`/api/v2/write`)."""

from __future__ import annotations

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from collector.config import ConfigError, InfluxSettings, read_secret
from collector.store.sinks.base import SinkRejected, SinkUnavailable


class InfluxV2Sink:
    """Writes to a bucket in an org with a token."""

    name = "influx-v2"

    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        token = read_secret(settings.token, settings.token_file, "influx.token")
        if not token or not settings.org:
            raise ConfigError(
                "config error: influx.api v2 needs influx.org and a token "
                "(SOLARWATER_INFLUX__TOKEN or influx.token_file)"
            )
        self._token = token
        self._org: str = settings.org
        self._client: InfluxDBClientAsync | None = None

    async def start(self) -> None:
        self._client = InfluxDBClientAsync(
            url=self.settings.url,
            token=self._token,
            org=self._org,
            timeout=int(self.settings.timeout_s * 1000),
            verify_ssl=self.settings.verify_tls,
        )

    async def write(self, lines: list[str]) -> None:
        if not lines:
            return
        assert self._client is not None, "start() first"
        try:
            await self._client.write_api().write(
                bucket=self.settings.bucket,
                org=self._org,
                record="\n".join(lines),
                write_precision=WritePrecision.MS,  # type: ignore[arg-type]
            )
        except ApiException as exc:
            detail = f"HTTP {exc.status}: {(exc.body or exc.reason or '')!s:.300}"
            if exc.status in (400, 422):
                raise SinkRejected(detail) from None
            raise SinkUnavailable(detail) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SinkUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from None

    async def ping(self) -> bool:
        assert self._client is not None
        try:
            return bool(await self._client.ping())
        except Exception:  # ping must answer yes/no whatever the transport raises
            return False

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()  # type: ignore[no-untyped-call]
            self._client = None
