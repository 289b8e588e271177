"""A station gateway's one MQTT connection, carrying all its devices' telemetry and status."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from pydantic import SecretStr

from devices.errors import ConfigError
from devices.kind import FieldValue
from devices.topics import DEFAULT_PREFIX
from simulator.device_queue import DeviceQueue
from simulator.mqtt_url import BrokerSettings
from simulator.summary import Summary

ONLINE = b'{"state":"online"}'
OFFLINE = b'{"state":"offline"}'
# The Last Will: one message for the whole station, on its first device's status topic.
STATION_OFFLINE = b'{"state":"offline","scope":"station"}'
KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 5.0
_RETRY_MIN_S, _RETRY_MAX_S = 0.2, 5.0
_OK = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)


def client_id(prefix: str, station: str) -> str:
    """The station id; `{station}@{prefix}` under another prefix, so fleets can share a broker."""
    return station if prefix == DEFAULT_PREFIX else f"{station}@{prefix}"


class GatewayLink:
    """A station's (re)connecting MQTT client: one session, one Will, every device's queue."""

    dialect = "native"

    def __init__(
        self,
        station: str,
        devices: Sequence[DeviceQueue],
        prefix: str,
        broker: BrokerSettings,
        summary: Summary,
        window: int,
        tls: ssl.SSLContext | None = None,
        username: str | None = None,
        password: SecretStr | None = None,
    ) -> None:
        if not devices:
            raise ConfigError(f"station {station} has no devices")
        self.station = station
        self.devices = tuple(devices)
        self.broker = broker
        self.summary = summary
        self.window = window
        self.tls = tls
        self.username = username if username is not None else broker.username
        self.password = password if username is not None else broker.password
        self.client_id = client_id(prefix, station)
        self.will_topic = self.devices[0].status_topic
        self.state = "idle"  # idle | connecting | connected | down (link cut) | closing | closed
        self.client: mqtt.Client | None = None
        self.by_mid: dict[int, DeviceQueue] = {}  # telemetry in flight, bounded by the window
        self.status_mids: set[int] = set()
        self.offline_acked = False
        self.next_attempt = 0.0
        self.retry_s = _RETRY_MIN_S
        self.connect_deadline = 0.0
        self.last_error = ""
        self.refused = False  # the last CONNACK said no (bad login, not authorised)
        self.connects = 0

    @property
    def idle(self) -> bool:
        """No device has anything buffered or in flight."""
        return all(d.idle for d in self.devices)

    def lagging(self) -> bool:
        """Connecting, or connected with more unsent than one window for a device."""
        if self.state == "connecting":
            return True
        return self.state == "connected" and any(d.unsent > self.window for d in self.devices)

    def ready(self) -> bool:
        """Connected (readings are buffered meanwhile, so a native station is always ready)."""
        return True

    def offer(self, ts: float, readings: dict[str, dict[str, FieldValue]]) -> None:
        """One tick's readings by device id: buffered, then published as the window allows."""
        for dev in self.devices:
            dev.enqueue(ts, readings.get(dev.device, {}))
        self.pump()

    def unsent(self) -> int:
        """Readings buffered and not yet acknowledged."""
        return sum(len(dev.buffer) for dev in self.devices)

    def close_buffers(self) -> None:
        for dev in self.devices:
            dev.buffer.close()

    def pump(self) -> None:
        """Publish buffered readings while each device's in-flight window has room."""
        client = self.client
        if self.state != "connected" or client is None:
            return
        for dev in self.devices:
            while dev.unsent > 0 and len(dev.inflight) < self.window:
                payload, readings, backlog = dev.next_payload()
                info = client.publish(dev.telemetry_topic, payload, qos=1, retain=False)
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    self._lost(f"publish failed: {mqtt.error_string(info.rc)}")
                    return
                dev.published(info.mid, readings, backlog)
                self.by_mid[info.mid] = dev

    # --- connection -----------------------------------------------------------------------

    def connect(self) -> None:
        """Open a new session (a fresh client: unacknowledged readings come from the buffers)."""
        self._discard()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        # every device's window plus its status message, so paho never holds one back
        c.max_inflight_messages_set((self.window + 1) * len(self.devices) + 4)
        c.connect_timeout = CONNECT_TIMEOUT_S
        if self.username is not None:
            pw = self.password.get_secret_value() if self.password else None
            c.username_pw_set(self.username, pw)
        if self.tls is not None:
            c.tls_set_context(self.tls)
        c.will_set(self.will_topic, STATION_OFFLINE, qos=1, retain=True)
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
        """Clean exit: a retained `offline` per device, then DISCONNECT once all are acked."""
        client = self.client
        if self.state != "connected" or client is None:
            return
        for dev in self.devices:
            info = client.publish(dev.status_topic, OFFLINE, qos=1, retain=True)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost("could not publish offline status")
                return
            self.status_mids.add(info.mid)
        self.state = "closing"

    def finish_close(self) -> None:
        client = self.client
        if client is not None and self.state in ("connected", "closing"):
            client.disconnect()
            self.service_write()
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

    def service_write(self) -> None:
        client = self.client
        if client is not None and client.want_write():
            rc = client.loop_write()
            if client is self.client and rc not in _OK:
                self._lost(mqtt.error_string(rc))

    # --- paho callbacks (called from loop_read/loop_write in this thread) ------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if client is not self.client:
            return
        self.refused = rc.is_failure
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
        # the Will's device first: a consumer that latched the station offline sees it cleared
        for dev in self.devices:
            info = client.publish(dev.status_topic, ONLINE, qos=1, retain=True)
            self.status_mids.add(info.mid)
            dev.session_started()
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
        dev = self.by_mid.pop(mid, None)
        if dev is not None:
            dev.acked(mid)
            return
        if mid in self.status_mids:
            self.status_mids.discard(mid)
            self.summary.status_messages += 1
            if self.state == "closing" and not self.status_mids:
                self.offline_acked = True

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
        self.by_mid.clear()
        self.status_mids.clear()
        for dev in self.devices:
            dev.requeue()

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
