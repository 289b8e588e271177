"""What every source does the same way: the filters it subscribes to and its credentials."""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from collector.config import MqttSettings, read_secret
from devices.mqtturl import MqttUrl
from devices.topics import reading_filters, status_filter


def subscription_filters(settings: MqttSettings, direct: Sequence[str] = ()) -> list[str]:
    """Reading channels (shared when a group is set) and, unless told otherwise, status, `direct`.

    `direct` (a gateway's own topics) goes with status: a gateway's values of one device
    must reach one process, which assembles them into a reading."""
    prefix = settings.prefix
    readings = reading_filters(prefix)
    if settings.shared_group:
        readings = [f"$share/{settings.shared_group}/{f}" for f in readings]
    # Retained status is never sent to shared subscriptions (MQTT 5 §4.8.2): one
    # process subscribes to it directly.
    if not settings.subscribe_status:
        return readings
    return [*readings, status_filter(prefix), *direct]


def credentials(settings: MqttSettings, url: MqttUrl) -> tuple[str | None, str | None]:
    """(username, password): the settings win over the URL's."""
    username = settings.username or url.username
    password = read_secret(settings.password, settings.password_file, "mqtt.password")
    return username, password or url.password


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """Server certificate checked against `ca_file` (or the system CAs); optional client cert."""
    ctx = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if settings.cert_file is not None:
        ctx.load_cert_chain(
            str(settings.cert_file), str(settings.key_file) if settings.key_file else None
        )
    return ctx
