"""The notifier protocol, the settings every notifier shares, a plugin, the JSON payload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from collector.alerts.model import Notification
from devices.errors import SolarWaterError

MqttPublish = Callable[[str, bytes, int, bool], None]
# (sender's number, text) of an SMS received -> what became of it ("acked", "bad_text", ...)
SmsReply = Callable[[str, str], Awaitable[str]]
Addresses = Literal["emails", "phones", "none"]  # which of a route's recipients a notifier uses


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


@runtime_checkable
class Background(Protocol):
    """A notifier with work of its own besides sending (reading replies, budget summaries)."""

    async def run(self) -> None:
        """Run until cancelled; errors inside are counted, never raised."""
        ...

    def stats(self) -> dict[str, float]:
        """Its counters, summed over notifiers of one kind in the alert stats."""
        ...


@dataclass(frozen=True)
class NotifierContext:
    """What notifiers may use from the collector."""

    prefix: str
    mqtt_publish: MqttPublish | None
    reply: SmsReply | None = None  # where SMS replies go (the alert service's `OK <id>` handler)
    language: str = "pt"


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="seconds")


def payload(n: Notification) -> dict[str, Any]:
    """The JSON body of webhook and MQTT notifications (documented in the README)."""
    body = asdict(n)
    body["since"] = iso(n.since_ms)
    body["at"] = iso(n.ts_ms)
    return body


class Retry(BaseModel):
    """How a notifier retries a failed delivery."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(10.0, gt=0, le=300)
    retries: int = Field(3, ge=0, le=20)
    backoff_s: float = Field(1.0, ge=0, le=600, description="first wait; doubles each retry")
    max_backoff_s: float = Field(60.0, ge=0, le=3600)


class NotifierSettings(Retry):
    """What every `alerts.notifiers` entry has; each plugin's model adds its own fields."""

    type: str
    # True: a route using this notifier must list email addresses
    needs_emails: ClassVar[bool] = False
    # which of a route's recipients it reaches; the routing matrix shows those
    addresses: ClassVar[Addresses] = "phones"

    def needs_phones(self) -> bool:
        """True: a route using this notifier must list phone numbers (SMS)."""
        return False


NotifierFactory = Callable[[str, Any, NotifierContext], Notifier]


@dataclass(frozen=True)
class NotifierPlugin:
    """One notifier type: its settings model, its factory and a sample config block."""

    name: str  # the `type` value that picks it
    settings: type[NotifierSettings]
    factory: NotifierFactory
    sample: str
