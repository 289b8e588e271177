"""InfluxDB 2.x/3.x and 1.8+ through influxdb-client's async v2 write API (`/api/v2/write`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import aiohttp
from pydantic import Field, PrivateAttr, SecretStr, model_validator

from collector.secrets import load_secret
from collector.store.sinks.base import Sink, SinkPlugin, SinkRejected, SinkSettings, SinkUnavailable

if TYPE_CHECKING:
    from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync


class InfluxV2Settings(SinkSettings):
    """`influx:` with `api: v2`: a bucket in an org, with a token."""

    api: Literal["v2"] = Field("v2", description="v2 (influxdb-client, InfluxDB 2.x/3.x/1.8+)")
    org: str = Field(min_length=1, description="Organisation (v2)")
    bucket: str = Field("solarwater", min_length=1, description="Bucket (v2)")
    events_bucket: str | None = Field(
        None,
        min_length=1,
        description="Bucket of the alert transitions (v2; unset: `bucket`), mapped for InfluxQL"
        " as rp `events`",
    )
    token: SecretStr | None = Field(None, description="API token (v2; secret: environment only)")
    token_file: Path | None = Field(None, description="File holding the v2 token")
    _token: SecretStr | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _read_token(self) -> InfluxV2Settings:
        self._token = load_secret(self.token, self.token_file, "influx.token")
        if self._token is None:
            raise ValueError("api v2 needs a token (SOLARWATER_INFLUX__TOKEN or influx.token_file)")
        return self

    def secret_token(self) -> str:
        """The token, from the environment or its file."""
        assert self._token is not None  # the validator refuses settings without one
        return self._token.get_secret_value()

    def influxql_access(self) -> tuple[str, dict[str, str]] | None:
        # the v1-compatible /query maps the bucket's name through its DBRP mapping
        return self.bucket, {"Authorization": f"Token {self.secret_token()}"}


SAMPLE = """\
influx:
  api: v2                  # InfluxDB 2.x/3.x or 1.8+ through /api/v2/write
  url: http://localhost:8086
  org: solarwater
  bucket: solarwater
  # the token: SOLARWATER_INFLUX__TOKEN, or token_file
  # token_file: /run/secrets/influx_token
  timeout_s: 10
  batch_size: 5000
  flush_interval_s: 0.5
"""


class InfluxV2Sink:
    """Writes to a bucket in an org with a token."""

    name = "influx-v2"

    def __init__(self, settings: InfluxV2Settings, bucket: str | None = None) -> None:
        self.settings = settings
        self.bucket = bucket or settings.bucket
        self._token = settings.secret_token()
        self._org: str = settings.org
        self._client: InfluxDBClientAsync | None = None

    async def start(self) -> None:
        # Imported on use: influxdb-client costs ~14 MB of memory a v1 collector never needs.
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        self._client = InfluxDBClientAsync(
            url=self.settings.url,
            token=self._token,
            org=self._org,
            timeout=int(self.settings.timeout_s * 1000),
            verify_ssl=self.settings.verify_tls,
        )

    async def prepare(self) -> None:
        """Nothing to create: the bucket belongs to the InfluxDB operator."""
        return None

    def events_sink(self) -> Sink:
        return InfluxV2Sink(self.settings, self.settings.events_bucket)

    async def write(self, lines: list[str]) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        if not lines:
            return
        assert self._client is not None, "start() first"
        try:
            await self._client.write_api().write(
                bucket=self.bucket,
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


def make(settings: InfluxV2Settings) -> Sink:
    """The v2 sink for these settings."""
    return InfluxV2Sink(settings)


PLUGIN = SinkPlugin("v2", InfluxV2Settings, make, SAMPLE)
