"""The notifier protocol, the payload every JSON notifier sends, and the registry by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from collector.alerts.model import Notification
from devices.errors import SolarWaterError

MqttPublish = Callable[[str, bytes, int, bool], None]


class DeliveryError(SolarWaterError):
    """A failed delivery; a permanent one (e.g. HTTP 400, refused login) is not retried."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Notifier(Protocol):
    """Sends notifications of one configured channel."""

    name: str
    reminders: bool  # False: reminders are not sent through this channel

    async def send(self, n: Notification) -> None:
        """Deliver once; raise DeliveryError on failure (the dispatcher retries)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class NotifierContext:
    """What notifiers may use from the collector."""

    prefix: str
    mqtt_publish: MqttPublish | None


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="seconds")


def payload(n: Notification) -> dict[str, Any]:
    """The JSON body of webhook and MQTT notifications (documented in the README)."""
    body = asdict(n)
    body["since"] = iso(n.since_ms)
    body["at"] = iso(n.ts_ms)
    return body


NotifierFactory = Callable[[str, Any, NotifierContext], Notifier]
NOTIFIER_TYPES: dict[str, NotifierFactory] = {}


def register(type_name: str) -> Callable[[NotifierFactory], NotifierFactory]:
    """Add a notifier type to the registry under `type_name`."""

    def deco(factory: NotifierFactory) -> NotifierFactory:
        NOTIFIER_TYPES[type_name] = factory
        return factory

    return deco
