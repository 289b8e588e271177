"""The broker link's state and what the collector needs from a source and its feed."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Protocol

from collector.broker.intake import Inbound
from collector.broker.session_marker import SessionMarker
from collector.config import MqttSettings
from collector.logtext import safe
from devices.mqtturl import MqttUrl, parse_mqtt_url

log = logging.getLogger("collector.mqtt")
SESSION_FILE = "mqtt-session.json"


class Source(Protocol):
    """What the collector needs from a broker connection."""

    url: MqttUrl
    connected: bool
    connects: int
    subscriptions: int
    generation: int
    last_message_at: float
    connected_since: float
    last_error: str
    packets_too_large: int
    sessions_lost: int
    sessions_taken_over: int
    session_lost_at: float

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
    """The broker link's state the source keeps and reports (the Source fields)."""

    def __init__(self, settings: MqttSettings, state_dir: Path | None = None) -> None:
        self.settings = settings
        self.url = parse_mqtt_url(settings.url)
        self.connected = False
        self.connects = 0
        self.subscriptions = 0  # SUBACKs received: the subscription is live
        self.generation = 0
        self.last_message_at = 0.0
        self.connected_since = 0.0
        self.last_error = ""
        self.stopping = False
        self.packets_too_large = 0
        self.sessions_lost = 0
        self.sessions_taken_over = 0
        self.session_lost_at = 0.0
        self.marker = (
            SessionMarker(state_dir / SESSION_FILE, settings.client_id, self.url.redacted())
            if state_dir is not None
            else None
        )
        self.session_expected = False  # set from the marker before the first CONNECT
        self.session_recorded = False

    def check_session(self, present: bool) -> bool:
        """After an accepted CONNACK: count a session we expected and the broker lacks.

        True when the marker file still has to be written (the caller does it off the loop).
        """
        if self.session_expected and not present:
            self.sessions_lost += 1
            self.session_lost_at = time.time()
            log.warning(
                "MQTT session lost: broker %s has no session for client id %s; "
                "what it queued for us while we were away is gone",
                self.url.redacted(),
                safe(self.settings.client_id),
            )
        held = self.settings.session_expiry_s > 0  # expiry 0: the broker keeps nothing
        self.session_expected = held
        return held and self.marker is not None and not self.session_recorded

    def record_session(self) -> None:
        """Write the marker (blocking: call it in a thread); a failure costs only the check."""
        if self.marker is None:
            return
        try:
            self.marker.record()
            self.session_recorded = True
        except OSError as exc:
            log.warning("cannot record the MQTT session in %s: %s", self.marker.path, exc)

    def load_session_marker(self) -> None:
        """Whether an earlier run held a session (blocking: call it in a thread)."""
        if self.marker is not None and self.marker.expected():
            self.session_expected = self.settings.session_expiry_s > 0
            self.session_recorded = True
