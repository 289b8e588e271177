"""The records the alert parts pass around: transitions, alerts, notifications."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from collector.alerts.condition import Comparison
from collector.alerts.rules import EffectiveRule

State = Literal["firing", "resolved"]
# budget: pages are being dropped; digest: the weekly completeness digest (collector/insight)
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
