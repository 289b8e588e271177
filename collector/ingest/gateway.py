"""Decoders of a gateway's own topic scheme (a Victron GX's `N/...`), beside our telemetry.

A gateway decoder owns topics outside `{prefix}/...`, says what to subscribe to and what
to publish to keep its devices talking, and may hold values until they form a reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from collector.ingest.readings import Reading


@dataclass(slots=True)
class GatewayResult:
    """What one gateway message gave: readings it completed, or why it is refused whole."""

    readings: list[Reading] = field(default_factory=list)
    reason: str = ""  # set: the message is refused (counted, quarantined)
    detail: str = ""
    station: str = ""


class GatewayDecoder(Protocol):
    """A decoder for a gateway's own topic scheme."""

    name: str
    keepalive_interval_s: float

    def filters(self) -> list[str]:
        """The subscription filters it needs (QoS 0 or 1: what the gateway sends)."""
        ...

    def owns(self, topic: str) -> bool:
        """Whether a topic is this gateway's."""
        ...

    def decode(self, topic: str, payload: bytes, received_ms: int) -> GatewayResult:
        """Take one message; never raises for bad input."""
        ...

    def flush(self, now_ms: int) -> list[Reading]:
        """The readings whose values are complete by `now_ms`."""
        ...

    def keepalives(self, fresh: bool) -> list[tuple[str, bytes]]:
        """(topic, payload) to publish now; `fresh` after each new subscription."""
        ...

    def counts(self) -> Mapping[str, int]:
        """Values by outcome, for the `{name}_values` metric."""
        ...

    def faults(self) -> list[dict[str, Any]]:
        """Devices reporting a fault of their own now (for /devices)."""
        ...
