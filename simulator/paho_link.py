"""One station's (re)connecting paho client, driven by the network loop: what every dialect shares.

A dialect's link (the native gateway, a Victron GX) adds what it sends and keeps: the hooks
`_session_up` (a CONNACK said yes), `_forget` (the connection is gone) and `pump`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from pydantic import SecretStr

from devices.topics import DEFAULT_PREFIX
from simulator.mqtt_url import BrokerSettings

KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 5.0
_RETRY_MIN_S, _RETRY_MAX_S = 0.2, 5.0
_OK = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)


def client_id(prefix: str, station: str) -> str:
    """The station id; `{station}@{prefix}` under another prefix, so fleets can share a broker."""
    return station if prefix == DEFAULT_PREFIX else f"{station}@{prefix}"


class PahoLink:
    """Connect, retry with backoff, cut and restore the link, serve the socket; no payloads."""

    def __init__(
        self,
        station: str,
        prefix: str,
        broker: BrokerSettings,
        tls: ssl.SSLContext | None,
        username: str | None,
        password: SecretStr | None,
    ) -> None:
        self.station = station
        self.broker = broker
        self.tls = tls
        self.username = username if username is not None else broker.username
        self.password = password if username is not None else broker.password
        self.client_id = client_id(prefix, station)
        self.state = "idle"  # idle | connecting | connected | down (link cut) | closing | closed
        self.client: mqtt.Client | None = None
        self.next_attempt = 0.0
        self.retry_s = _RETRY_MIN_S
        self.connect_deadline = 0.0
        self.last_error = ""
        self.refused = False  # the last CONNACK said no (bad login, not authorised)
        self.connects = 0

    # --- what a dialect adds ----------------------------------------------------------------
    def pump(self) -> None:
        """Send what waits (after each read)."""

    def _session_up(self, client: mqtt.Client) -> None:
        """The broker took the connection."""

    def _forget(self) -> None:
        """The connection is gone: what it had in flight will not be acknowledged."""

    # --- connection -------------------------------------------------------------------------
    def _new_client(self) -> mqtt.Client:
        """A fresh clean-session client with our login, TLS and callbacks (not connected)."""
        self._discard()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        c.connect_timeout = CONNECT_TIMEOUT_S
        if self.username is not None:
            pw = self.password.get_secret_value() if self.password else None
            c.username_pw_set(self.username, pw)
        if self.tls is not None:
            c.tls_set_context(self.tls)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        return c

    def _open(self, c: mqtt.Client) -> None:
        """Start connecting `c`; the CONNACK (or its absence) decides in `tick`."""
        self.client = c
        self.state = "connecting"
        self.connect_deadline = time.monotonic() + CONNECT_TIMEOUT_S
        try:
            c.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        except (OSError, ValueError) as exc:
            self._lost(_describe(exc))

    def cut_link(self) -> None:
        """The GSM link drops: the TCP connection dies without DISCONNECT (the Will fires)."""
        if self.state == "down":
            return
        self._discard(abrupt=True)
        self._forget()
        self.state = "down"

    def restore_link(self) -> None:
        """The GSM link is back: connect at once."""
        if self.state == "down":
            self.state = "idle"
            self.next_attempt = 0.0
            self.retry_s = _RETRY_MIN_S

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

    def connect(self) -> None:
        self._open(self._new_client())

    # --- the socket, for the network loop ----------------------------------------------------
    def fileno(self) -> int | None:
        sock = self.client.socket() if self.client is not None else None
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

    # --- paho callbacks (called from loop_read/loop_write in this thread) ---------------------
    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if client is not self.client:
            return
        self.refused = rc.is_failure
        if rc.is_failure:
            self.last_error = f"broker refused the connection: {rc}"
            self.state = "idle"
            self._retry_later()
            return
        self.state = "connected"
        self.connects += 1
        self.retry_s = _RETRY_MIN_S
        self.last_error = ""
        self._session_up(client)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if client is self.client and self.state in ("connecting", "connected", "closing"):
            self._lost(f"connection lost ({rc})")

    # --- internals ---------------------------------------------------------------------------
    def _lost(self, why: str) -> None:
        self.last_error = why
        self._discard()
        self._forget()
        if self.state != "down":
            self.state = "idle"
            self._retry_later()

    def _retry_later(self) -> None:
        self.next_attempt = time.monotonic() + self.retry_s
        self.retry_s = min(_RETRY_MAX_S, self.retry_s * 2)

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
