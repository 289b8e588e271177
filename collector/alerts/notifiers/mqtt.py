"""MQTT notifier: `{prefix}/alerts/{station}/{rule}`, retained while the alert is active.

Firing publishes the payload retained; resolved publishes the resolved payload (not
retained) and then an empty retained message, which clears the topic: a client that
connects later sees exactly the active alerts. Reminders are not published (the
retained message already stands).
"""

from __future__ import annotations

from typing import Literal

import orjson

from collector.alerts.model import Notification
from collector.alerts.notifiers.base import (
    DeliveryError,
    MqttPublish,
    Notifier,
    NotifierContext,
    NotifierPlugin,
    NotifierSettings,
    payload,
)
from devices.topics import alert_topic


class MqttNotifierSettings(NotifierSettings):
    """Publishes to `{prefix}/alerts/{station}/{rule}` through the collector's MQTT link."""

    type: Literal["mqtt"]
    qos: Literal[0, 1, 2] = 1
    retain: bool = True


SAMPLE = """\
alerts:
  notifiers:
    board:
      type: mqtt
      qos: 1
      retain: true
"""


class MqttNotifier:
    """Hands messages to the collector's own MQTT connection (non-blocking)."""

    reminders = False

    def __init__(self, name: str, settings: MqttNotifierSettings, prefix: str, pub: MqttPublish):
        self.name = name
        self.s = settings
        self.prefix = prefix
        self.pub = pub

    async def send(self, n: Notification) -> None:
        topic = alert_topic(self.prefix, n.station, n.rule)
        body = orjson.dumps(payload(n))
        try:
            if n.event == "resolved":
                self.pub(topic, body, self.s.qos, False)
                if self.s.retain:
                    self.pub(topic, b"", self.s.qos, True)
            else:  # a budget notice or a digest is news, not a standing state: never retained
                retain = self.s.retain and n.event not in ("budget", "digest")
                self.pub(topic, body, self.s.qos, retain)
        except Exception as exc:  # the collector's publisher: any failure is a delivery failure
            raise DeliveryError(f"MQTT publish: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        return None


def make(name: str, settings: MqttNotifierSettings, ctx: NotifierContext) -> Notifier:
    """The MQTT notifier for one `notifiers:` entry, on the collector's own connection."""
    if ctx.mqtt_publish is None:
        raise ValueError(f"notifier {name!r} is mqtt but the collector gives no MQTT publisher")
    return MqttNotifier(name, settings, ctx.prefix, ctx.mqtt_publish)


PLUGIN = NotifierPlugin("mqtt", MqttNotifierSettings, make, SAMPLE)
