"""The records the alert parts pass around: transitions, alerts, notifications."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from collector.alerts.condition import Comparison
from collector.alerts.rules import EffectiveRule

State = Literal["firing", "resolved"]
# budget: pages are being dropped; digest: what came and went while a station was silent,
# or the weekly completeness digest (collector/insight)
Event = Literal["firing", "reminder", "resolved", "budget", "digest"]
SILENCE_DEVICE = ""  # the device part of a station-wide (silence) alert key

AlertKey = tuple[str, str, str]  # station, device, rule


@dataclass(frozen=True, slots=True)
class Transition:
    """The engine's decision that an alert starts or ends, at a device time."""

    state: State
    station: str
    device: str
    rule: EffectiveRule
    ts_ms: int
    since_ms: int
    value: float
    witness: Comparison | None
    observed: float | int | str | None  # the witness field's value, as the device sent it
    lasted_ms: int
    cause: str | None = None  # a silence's likely cause (collector/insight/silence_cause.py)

    @property
    def key(self) -> AlertKey:
        return (self.station, self.device, self.rule.name)


@dataclass(slots=True)
class Alert:
    """One alert, from firing to resolved, with its notification bookkeeping."""

    id: int
    station: str
    district: str | None
    device: str
    rule: str
    severity: str
    state: State
    since_ms: int
    fired_ms: int
    value: float
    threshold: str
    message: str
    resolved_ms: int | None = None
    resolved_value: float | None = None
    resolved_message: str | None = None
    acked_ms: int | None = None
    acked_by: str | None = None
    notified_firing: bool = False
    notified_resolved: bool = False
    last_notified_ms: int | None = None
    reminders: int = 0
    repeat_s: float | None = None
    detail: str = ""
    resolved_detail: str = ""
    cause: str | None = None  # a silence's likely cause: power, network, district_network

    @property
    def key(self) -> AlertKey:
        return (self.station, self.device, self.rule)


@dataclass(frozen=True, slots=True)
class Recipients:
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Notification:
    """What a notifier sends: the SMS-sized text and the facts behind it."""

    event: Event
    alert_id: int
    station: str
    station_name: str | None
    district: str | None
    device: str
    rule: str
    severity: str
    value: float
    threshold: str
    since_ms: int
    ts_ms: int
    duration_s: float
    text: str  # full text (accents kept): email, MQTT, InfluxDB
    sms: str  # GSM-7, at most 160 characters
    route: str
    emails: tuple[str, ...] = field(default=())
    phones: tuple[str, ...] = field(default=())
    link: str = ""  # the signed link to the alert's page (empty without alerts.public_url)
    # a grouped notification: the stations and alerts it stands for (station is then "")
    stations: tuple[str, ...] = field(default=())
    alert_ids: tuple[int, ...] = field(default=())


def notification_from_json(raw: dict[str, Any]) -> Notification:
    """A Notification from its JSON form (lists back to tuples)."""
    return Notification(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}  # type: ignore[arg-type]
    )


@dataclass(frozen=True, slots=True)
class Episode:
    """A condition that held past its `for` and cleared before any evaluation saw it fire."""

    station: str
    device: str
    rule: str
    severity: str
    since_ms: int
    cleared_ms: int
