"""Broker settings from `mqtt://[user:pass@]host[:port]` and `mqtts://` URLs."""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

from devices.errors import ConfigError
from devices.mqtturl import MqttUrlError
from devices.mqtturl import parse_mqtt_url as parse_url


class BrokerSettings(BaseModel):
    """Where and how the devices connect."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None

    @property
    def display(self) -> str:
        """The URL without credentials, for messages."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt_url(url: str, ca_file: Path | None = None) -> BrokerSettings:
    """Parse a broker URL (the one parser in devices.mqtturl) and check the CA file."""
    try:
        parsed = parse_url(url)
    except MqttUrlError as exc:
        raise ConfigError(f"{exc} (got {url.split('@')[-1]!r})") from None
    if ca_file is not None and not parsed.tls:
        raise ConfigError("--ca-file needs an mqtts:// URL")
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(f"CA file {ca_file} does not exist")
    return BrokerSettings(
        host=parsed.host,
        port=parsed.port,
        tls=parsed.tls,
        username=parsed.username,
        password=SecretStr(parsed.password) if parsed.password is not None else None,
        ca_file=ca_file,
    )


def tls_context(broker: BrokerSettings) -> ssl.SSLContext:
    """A client context that verifies the server's certificate and name (never optional)."""
    try:
        ctx = ssl.create_default_context(
            cafile=str(broker.ca_file) if broker.ca_file is not None else None
        )
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"CA file {broker.ca_file} is not a usable certificate ({exc})") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
