"""One device's store-and-forward queue: numbered readings in a disk buffer, trimmed on PUBACK."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

import orjson

from devices.kind import FieldValue
from devices.topics import format_topic
from simulator.buffer import DiskBuffer
from simulator.summary import RecordedReading, Summary
from simulator.timefmt import format_rfc3339
from simulator.wire import WIRE_FORMATS


@dataclass(slots=True)
class InFlight:
    """One published telemetry message waiting for its PUBACK."""

    mid: int
    readings: int
    backlog: bool
    acked: bool = False


class DeviceQueue:
    """A device behind a station gateway: its reading counter, buffer and in-flight messages."""

    def __init__(
        self,
        station: str,
        kind: str,
        device: str,
        prefix: str,
        buffer: DiskBuffer,
        summary: Summary,
        record: bool,
        dialect: str = "native",
    ) -> None:
        self.station, self.kind, self.device = station, kind, device
        self.dialect = dialect
        self.wire = WIRE_FORMATS[dialect]
        self.buffer = buffer
        self.summary = summary
        self.record = record
        self.telemetry_topic = format_topic(prefix, station, kind, device, self.wire.channel)
        self.status_topic = format_topic(prefix, station, kind, device, "status")
        self.seq = 0
        self.inflight: deque[InFlight] = deque()
        self.sent = 0  # buffered readings (from the oldest) that are in flight
        self.backlog_until = 0  # buffered readings (from the oldest) to send as a backlog

    def enqueue(self, ts_s: float, fields: dict[str, FieldValue]) -> None:
        """Take one reading: numbered and written to the disk buffer."""
        line = orjson.dumps({"ts": format_rfc3339(ts_s), "seq": self.seq, **fields})
        self.seq += 1
        if self.buffer.append(line):
            self.summary.dropped["buffer_full"] += 1
            self._forget_oldest()

    @property
    def unsent(self) -> int:
        return len(self.buffer) - self.sent

    @property
    def idle(self) -> bool:
        """Nothing buffered and nothing in flight."""
        return len(self.buffer) == 0 and not self.inflight

    def next_payload(self) -> tuple[bytes, int, bool]:
        """The next message to publish: (payload, readings in it, is a backlog batch)."""
        if self.sent < self.backlog_until:
            batch = min(self.wire.backlog_readings, self.backlog_until - self.sent)
            lines = self.buffer.read(self.sent, batch)
            backlog = True
        else:
            lines = self.buffer.read(self.sent, 1)
            backlog = False
        payload = self.wire.payload(self.station, self.kind, self.device, lines)
        return payload, len(lines), backlog

    def published(self, mid: int, readings: int, backlog: bool) -> None:
        """The message went to the client under `mid`."""
        self.inflight.append(InFlight(mid, readings, backlog))
        self.sent += readings

    def acked(self, mid: int) -> None:
        """A PUBACK for one of this device's messages."""
        for f in self.inflight:
            if f.mid == mid:
                f.acked = True
                break
        # PUBACKs come in order (MQTT 3.1.1 §4.6), but trim only a contiguous acknowledged head
        while self.inflight and self.inflight[0].acked:
            done = self.inflight.popleft()
            self._count(done)
            self.buffer.pop(done.readings)
            self.sent -= done.readings
            self.backlog_until = max(0, self.backlog_until - done.readings)

    def session_started(self) -> None:
        """A new session: whatever waited in the buffer goes out as a backlog first."""
        self.sent = 0
        self.backlog_until = len(self.buffer)

    def requeue(self) -> None:
        """The session is gone: nothing in flight survives it, the buffer still holds it all."""
        self.inflight.clear()
        self.sent = 0

    def _forget_oldest(self) -> None:
        # the dropped reading may be in flight: its message then acknowledges one reading fewer
        if self.backlog_until:
            self.backlog_until -= 1
        if self.sent:
            self.sent -= 1
            for f in self.inflight:
                if f.readings:
                    f.readings -= 1
                    break

    def _count(self, done: InFlight) -> None:
        s = self.summary
        s.readings.add(self.station, self.kind, done.readings)
        s.dialect(self.dialect).add(self.station, self.kind, done.readings)
        s.messages.add(self.station, self.kind)
        if done.backlog:
            s.backlog_messages += 1
        if self.record and done.readings:
            for line in self.buffer.read(0, done.readings):
                r = orjson.loads(line)
                ts_ms = int(datetime.fromisoformat(r.pop("ts")).timestamp() * 1000)
                r.pop("seq")
                s.records.append(RecordedReading(self.station, self.kind, self.device, ts_ms, r))
