"""Broker sources by name (`mqtt.client`): the asyncio-native client, or paho's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from collector.config import MqttSettings
from collector.intake import Inbound, Intake, LoopIntake
from devices.mqtturl import MqttUrl, parse_mqtt_url


class Source(Protocol):
    """What the collector needs from a broker connection."""

    url: MqttUrl
    connected: bool
    connects: int
    generation: int
    last_message_at: float
    connected_since: float
    last_error: str

    @property
    def filters(self) -> list[str]: ...

    def start(self) -> None: ...

    async def close(self) -> None: ...

    def ack(self, item: Inbound) -> bool: ...

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None: ...


class Feed(Protocol):
    """Where the consumer takes messages from, in arrival order."""

    full_events: int

    def __len__(self) -> int: ...

    async def get_many(self, limit: int, timeout: float | None = None) -> list[Inbound]:
        """At least one item, at most `limit`; none when `timeout` passes first."""
        ...


class LinkState:
    """The broker link's state that both sources keep and report (the Source fields)."""

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.url = parse_mqtt_url(settings.url)
        self.connected = False
        self.connects = 0
        self.generation = 0
        self.last_message_at = 0.0
        self.connected_since = 0.0
        self.last_error = ""
        self.stopping = False


SourceFactory = Callable[[MqttSettings, asyncio.AbstractEventLoop, int], tuple[Source, Feed]]


def _native(
    settings: MqttSettings, loop: asyncio.AbstractEventLoop, max_items: int
) -> tuple[Source, Feed]:
    from collector.mqtt.client import NativeMqttSource

    intake = LoopIntake(loop, max_items)
    return NativeMqttSource(settings, intake), intake


def _paho(
    settings: MqttSettings, loop: asyncio.AbstractEventLoop, max_items: int
) -> tuple[Source, Feed]:
    from collector.mqtt_source import MqttSource

    intake = Intake(loop, max_items)
    return MqttSource(settings, intake), intake


SOURCES: dict[str, SourceFactory] = {"native": _native, "paho": _paho}


def make_source(
    settings: MqttSettings, loop: asyncio.AbstractEventLoop, max_items: int
) -> tuple[Source, Feed]:
    """The source named by `settings.client` and the feed its messages arrive on."""
    return SOURCES[settings.client](settings, loop, max_items)
