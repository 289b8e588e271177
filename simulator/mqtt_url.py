"""Broker settings from `mqtt://[user:pass@]host[:port]` and `mqtts://` URLs."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr


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
    """Parse a broker URL; ValueError with a one-line message when it is not usable."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"bad MQTT URL {url!r}: use mqtt://host[:port] or mqtts://host[:port]")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad MQTT URL {url!r}: port is not a number 1-65535") from None
    if not parts.hostname:
        raise ValueError(f"bad MQTT URL {url!r}: no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"bad MQTT URL {url!r}: no path or query expected")
    tls = parts.scheme == "mqtts"
    if ca_file is not None and not tls:
        raise ValueError("--ca-file needs an mqtts:// URL")
    if ca_file is not None and not ca_file.is_file():
        raise ValueError(f"CA file {ca_file} does not exist")
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    return BrokerSettings(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=user,
        password=SecretStr(password) if password is not None else None,
        ca_file=ca_file,
    )
