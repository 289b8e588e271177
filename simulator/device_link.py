"""One device's MQTT connection with store-and-forward: buffer first, trim only after PUBACK."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from devices.kind import FieldValue
from devices.topics import DEFAULT_PREFIX, format_topic
from simulator.buffer import DiskBuffer
from simulator.mqtt_url import BrokerSettings
from simulator.summary import RecordedReading, Summary
from simulator.timefmt import format_rfc3339

ONLINE = b'{"state":"online"}'
OFFLINE = b'{"state":"offline"}'
BACKLOG_BATCH = 100
KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 5.0
_RETRY_MIN_S, _RETRY_MAX_S = 0.2, 5.0
_OK = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)


@dataclass
class _InFlight:
    mid: int
    readings: int
    backlog: bool
    acked: bool = False


def client_id(prefix: str, station: str, device: str) -> str:
    """`sim-{station}-{device}`, plus the prefix when it is not the default one."""
    base = f"sim-{station}-{device}"
    return base if prefix == DEFAULT_PREFIX else f"{base}-{prefix}"


class DeviceLink:
    """A simulated device: its reading counter, disk buffer and (re)connecting MQTT client."""

    def __init__(
        self,
        station: str,
        kind: str,
        device: str,
        prefix: str,
        broker: BrokerSettings,
        buffer: DiskBuffer,
        summary: Summary,
        window: int,
        record: bool,
    ) -> None:
        self.station, self.kind, self.device = station, kind, device
        self.broker = broker
        self.buffer = buffer
        self.summary = summary
        self.window = window
        self.record = record
        self.client_id = client_id(prefix, station, device)
        self.telemetry_topic = format_topic(prefix, station, kind, device, "telemetry")
        self.status_topic = format_topic(prefix, station, kind, device, "status")
        self.seq = 0
        self.state = "idle"  # idle | connecting | connected | down (link cut) | closing | closed
        self.client: mqtt.Client | None = None
        self.inflight: deque[_InFlight] = deque()
        self.sent = 0  # buffered readings (from the oldest) that are in flight
        self.backlog_until = 0  # buffered readings (from the oldest) to send as a backlog
        self.status_mids: set[int] = set()
        self.offline_acked = False
        self.next_attempt = 0.0
        self.retry_s = _RETRY_MIN_S
        self.connect_deadline = 0.0
        self.last_error = ""
        self.connects = 0

    # --- readings -------------------------------------------------------------------------

    def enqueue(self, ts_s: float, fields: dict[str, FieldValue]) -> None:
        """Take one reading: numbered, written to the disk buffer, sent when the link allows."""
        line = orjson.dumps({"ts": format_rfc3339(ts_s), "seq": self.seq, **fields})
        self.seq += 1
        if self.buffer.append(line):
            self.summary.dropped["buffer_full"] += 1
            self._forget_oldest()
        self.pump()

    @property
    def unsent(self) -> int:
        return len(self.buffer) - self.sent

    @property
    def idle(self) -> bool:
        """Nothing buffered and nothing in flight."""
        return len(self.buffer) == 0 and not self.inflight

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

    def pump(self) -> None:
        """Publish buffered readings while the in-flight window has room."""
        client = self.client
        if self.state != "connected" or client is None:
            return
        while self.unsent > 0 and len(self.inflight) < self.window:
            if self.sent < self.backlog_until:
                lines = self.buffer.read(
                    self.sent, min(BACKLOG_BATCH, self.backlog_until - self.sent)
                )
                payload = b'{"readings":[' + b",".join(lines) + b"]}"
                backlog = True
            else:
                lines = self.buffer.read(self.sent, 1)
                payload = lines[0]
                backlog = False
            info = client.publish(self.telemetry_topic, payload, qos=1, retain=False)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost(f"publish failed: {mqtt.error_string(info.rc)}")
                return
            self.inflight.append(_InFlight(info.mid, len(lines), backlog))
            self.sent += len(lines)

    # --- connection -----------------------------------------------------------------------

    def connect(self) -> None:
        """Open a new session (a fresh client: unacknowledged readings come from the buffer)."""
        self._discard()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        c.max_inflight_messages_set(self.window + 4)
        c.connect_timeout = CONNECT_TIMEOUT_S
        if self.broker.username is not None:
            pw = self.broker.password.get_secret_value() if self.broker.password else None
            c.username_pw_set(self.broker.username, pw)
        if self.broker.tls:
            c.tls_set(ca_certs=str(self.broker.ca_file) if self.broker.ca_file else None)
        c.will_set(self.status_topic, OFFLINE, qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self.client = c
        self.state = "connecting"
        self.connect_deadline = time.monotonic() + CONNECT_TIMEOUT_S
        try:
            c.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        except (OSError, ValueError) as exc:
            self._lost(_describe(exc))

    def cut_link(self) -> None:
        """The GSM link drops: the TCP connection dies without DISCONNECT, so the Will fires."""
        if self.state == "down":
            return
        self._discard(abrupt=True)
        self._requeue()
        self.state = "down"

    def restore_link(self) -> None:
        """The GSM link is back: connect at once."""
        if self.state == "down":
            self.state = "idle"
            self.next_attempt = 0.0
            self.retry_s = _RETRY_MIN_S

    def begin_close(self) -> None:
        """Clean exit: a retained `offline`, then DISCONNECT once it is acknowledged."""
        client = self.client
        if self.state != "connected" or client is None:
            return
        info = client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.status_mids.add(info.mid)
            self.state = "closing"
        else:
            self._lost("could not publish offline status")

    def finish_close(self) -> None:
        client = self.client
        if client is not None and self.state in ("connected", "closing"):
            client.disconnect()
            self._service_write()
        self._discard()
        self.state = "closed"

    def tick(self, now: float) -> None:
        """Reconnect when due; give up on a CONNACK that does not come; keepalive."""
        if self.state == "idle" and now >= self.next_attempt:
            self.connect()
        elif self.state == "connecting" and now > self.connect_deadline:
            self._lost("no CONNACK from the broker")
        if self.client is not None and self.state in ("connecting", "connected", "closing"):
            self.client.loop_misc()

    def fileno(self) -> int | None:
        client = self.client
        sock = client.socket() if client is not None else None
        return sock.fileno() if sock is not None else None

    def wants_write(self) -> bool:
        return self.client is not None and self.client.want_write()

    def has_pending_read(self) -> bool:
        """TLS may hold decrypted bytes that poll() cannot see."""
        sock = self.client.socket() if self.client is not None else None
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

    def service_read(self) -> None:
        client = self.client
        if client is not None:
            rc = client.loop_read()
            if client is self.client and rc not in _OK:
                self._lost(mqtt.error_string(rc))
        self.pump()

    def _service_write(self) -> None:
        client = self.client
        if client is not None and client.want_write():
            rc = client.loop_write()
            if client is self.client and rc not in _OK:
                self._lost(mqtt.error_string(rc))

    def service_write(self) -> None:
        self._service_write()

    # --- paho callbacks (called from loop_read/loop_write in this thread) ------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if client is not self.client:
            return
        if rc.is_failure:
            self.last_error = f"broker refused the connection: {rc}"
            self.state = "idle"
            self.next_attempt = time.monotonic() + self.retry_s
            self.retry_s = min(_RETRY_MAX_S, self.retry_s * 2)
            return
        self.state = "connected"
        self.connects += 1
        self.retry_s = _RETRY_MIN_S
        self.last_error = ""
        info = client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        self.status_mids.add(info.mid)
        # whatever waited in the buffer across the outage goes out as a backlog first
        self.sent = 0
        self.backlog_until = len(self.buffer)
        self.pump()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if client is self.client and self.state in ("connecting", "connected", "closing"):
            self._lost(f"connection lost ({rc})")

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any
    ) -> None:
        if client is not self.client:
            return
        if mid in self.status_mids:
            self.status_mids.discard(mid)
            self.summary.status_messages += 1
            if self.state == "closing":
                self.offline_acked = True
            return
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

    def _count(self, done: _InFlight) -> None:
        s = self.summary
        s.readings.add(self.station, self.kind, done.readings)
        s.messages.add(self.station, self.kind)
        if done.backlog:
            s.backlog_messages += 1
        if self.record and done.readings:
            for line in self.buffer.read(0, done.readings):
                r = orjson.loads(line)
                ts_ms = int(datetime.fromisoformat(r.pop("ts")).timestamp() * 1000)
                r.pop("seq")
                s.records.append(RecordedReading(self.station, self.kind, self.device, ts_ms, r))

    # --- internals ------------------------------------------------------------------------

    def _lost(self, why: str) -> None:
        self.last_error = why
        self._discard()
        self._requeue()
        if self.state != "down":
            self.state = "idle"
            self.next_attempt = time.monotonic() + self.retry_s
            self.retry_s = min(_RETRY_MAX_S, self.retry_s * 2)

    def _requeue(self) -> None:
        # nothing in flight survives a lost session: the buffer still holds it all
        self.inflight.clear()
        self.status_mids.clear()
        self.sent = 0

    def _discard(self, abrupt: bool = False) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        sock = client.socket()
        if abrupt and isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        # closes the TCP socket and paho's wake-up pair without sending DISCONNECT
        client._reset_sockets()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    return str(exc) or type(exc).__name__
