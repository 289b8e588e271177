"""The MQTT topic scheme `{prefix}/{station}/{kind}/{device}/{channel}`, in one place."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Literal

from devices.errors import SolarWaterError

Channel = Literal["telemetry", "senml", "status"]
CHANNELS: tuple[Channel, ...] = ("telemetry", "senml", "status")
# The channels that carry readings (a decoder each); `status` is the device's retained state.
READING_CHANNELS: tuple[Channel, ...] = ("telemetry", "senml")
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_PREFIX = "solarwater"


class TopicError(SolarWaterError, ValueError):
    """A topic that breaks the scheme; `reason` is a short metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed device topic."""

    prefix: str
    station: str
    kind: str
    device: str
    channel: Channel

    def __str__(self) -> str:
        return format_topic(self.prefix, self.station, self.kind, self.device, self.channel)


def is_valid_id(value: str) -> bool:
    """True when `value` obeys the station/device id rule."""
    return ID_RE.fullmatch(value) is not None


def format_topic(prefix: str, station: str, kind: str, device: str, channel: Channel) -> str:
    """The topic for one device channel; ids are checked so we never publish a bad one."""
    for label, value in (("station", station), ("device", device)):
        if not is_valid_id(value):
            raise TopicError("bad_id", f"{label} id {value!r} breaks [A-Za-z0-9_-]{{1,64}}")
    return f"{prefix}/{station}/{kind}/{device}/{channel}"


# Parsed topics by topic string: a fleet publishes on a stable set of topics, and parsing one
# costs ~1.7 us a message (two regex matches, a frozen dataclass). Only successes are kept, so
# a bad topic raises the same TopicError every time. Bounded in count and in topic length (the
# kind segment is free text until the decoder checks it): once full, new topics are parsed.
_PARSED: dict[str, Topic] = {}
_PARSED_MAX = 65_536
_PARSED_MAX_CHARS = 256


def parse_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> Topic:
    """Parse a device topic; raises TopicError with a reason label."""
    parsed = _PARSED.get(topic)
    # A topic parses under one prefix at most (the last four levels are fixed): check it.
    if parsed is not None and parsed.prefix == prefix:
        return parsed
    parsed = _parse_topic(topic, prefix)
    if len(_PARSED) < _PARSED_MAX and len(topic) <= _PARSED_MAX_CHARS:
        _PARSED[topic] = parsed
    return parsed


def forget_topic(topic: str) -> None:
    """Drop a topic from the cache: its device was refused, the room is for admitted ones."""
    _PARSED.pop(topic, None)


_CHANNEL: dict[str, Channel] = {c: c for c in CHANNELS}


def _parse_topic(topic: str, prefix: str) -> Topic:
    """parse_topic without the cache."""
    head = prefix + "/"
    if not topic.startswith(head):
        raise TopicError("bad_topic", f"topic {topic[:200]!r} is not under {prefix!r}")
    parts = topic[len(head) :].split("/")
    if len(parts) != 4:
        raise TopicError("bad_topic", f"topic {topic[:200]!r} does not have 5 levels")
    station, kind, device, channel = parts
    if not is_valid_id(station) or not is_valid_id(device):
        raise TopicError("bad_id", f"topic {topic[:200]!r} has an id breaking the id rule")
    if channel not in CHANNELS:
        raise TopicError("bad_topic", f"topic {topic[:200]!r} has unknown channel {channel[:64]!r}")
    ch = _CHANNEL[channel]
    # kind and device names repeat across a fleet: one string each, not one per cached topic
    return Topic(prefix, station, sys.intern(kind), sys.intern(device), ch)


def telemetry_filter(prefix: str = DEFAULT_PREFIX) -> str:
    """Subscription filter for every device's telemetry."""
    return f"{prefix}/+/+/+/telemetry"


def reading_filters(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Subscription filters for every channel that carries readings (telemetry, senml)."""
    return [f"{prefix}/+/+/+/{channel}" for channel in READING_CHANNELS]


def status_filter(prefix: str = DEFAULT_PREFIX) -> str:
    """Subscription filter for every device's retained status."""
    return f"{prefix}/+/+/+/status"


def alert_topic(prefix: str, station: str, rule: str) -> str:
    """Where alerts are published for MQTT subscribers (design §7)."""
    return f"{prefix}/alerts/{station}/{rule}"
