"""MQTT broker URLs (`mqtt://[user:pass@]host[:port]`, `mqtts://` for TLS), parsed in one place."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from devices.errors import ConfigError


class MqttUrlError(ConfigError):
    """A broker URL that does not follow the scheme; the message is one line."""


@dataclass(frozen=True, slots=True)
class MqttUrl:
    """A parsed broker URL. `password` is kept out of repr so it never reaches a log."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        return f"MqttUrl({self.redacted()!r})"

    def redacted(self) -> str:
        """The URL for logs and health output, with any password replaced."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = (
            f"{self.username}:***@"
            if self.password
            else (f"{self.username}@" if self.username else "")
        )
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttUrl:
    """Parse `mqtt://` or `mqtts://`; default ports 1883 and 8883."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise MqttUrlError(f"bad MQTT URL: {exc}") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise MqttUrlError("MQTT URL must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise MqttUrlError("MQTT URL has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise MqttUrlError("MQTT URL takes no path or query: mqtt://[user:pass@]host[:port]")
    tls = parts.scheme == "mqtts"
    username = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return MqttUrl(parts.hostname, port or (8883 if tls else 1883), tls, username, password)
