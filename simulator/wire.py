"""How a device's buffered readings go on the wire, by dialect: the topic channel and payload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import orjson

from devices.topics import Channel
from simulator import senml_pack

NATIVE_BACKLOG_READINGS = 100


class WireFormat(Protocol):
    """Turns buffered readings (native JSON lines, oldest first) into one message."""

    @property
    def channel(self) -> Channel: ...

    @property
    def backlog_readings(self) -> int:
        """Readings in one backlog message at most."""
        ...

    def payload(self, station: str, kind: str, device: str, lines: list[bytes]) -> bytes: ...


@dataclass(frozen=True)
class NativeJson:
    """Design §3: one reading object, a backlog as {"readings": [...]}."""

    channel: Channel = "telemetry"
    backlog_readings: int = NATIVE_BACKLOG_READINGS

    def payload(self, station: str, kind: str, device: str, lines: list[bytes]) -> bytes:
        if len(lines) == 1:
            return lines[0]
        return b'{"readings":[' + b",".join(lines) + b"]}"


@dataclass(frozen=True)
class SenmlPacks:
    """RFC 8428 packs on the senml channel; a logger has no seq, so none is sent."""

    channel: Channel = "senml"
    backlog_readings: int = senml_pack.BACKLOG_READINGS

    def payload(self, station: str, kind: str, device: str, lines: list[bytes]) -> bytes:
        readings = []
        for line in lines:
            r = orjson.loads(line)
            ts = datetime.fromisoformat(r.pop("ts")).timestamp()
            r.pop("seq", None)
            readings.append((ts, r))
        return senml_pack.encode(f"urn:dev:solarwater:{station}:{device}:", kind, readings)


# The dialects whose devices each publish their own readings; a GX (venus) publishes values
# of its own, not through device queues.
WIRE_FORMATS: dict[str, WireFormat] = {"native": NativeJson(), "senml": SenmlPacks()}
