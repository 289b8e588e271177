"""The paho source (`mqtt.client: paho`): persistent QoS 1 session, manual acks, own thread."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from collector.broker.intake import Inbound, Intake
from collector.broker.sources import LinkState
from collector.broker.subscription import credentials, subscription_filters
from collector.config import MqttSettings

log = logging.getLogger("collector.mqtt")


class MqttSource(LinkState):
    """Wraps paho's client and its network thread; everything here is safe to call from the loop."""

    def __init__(
        self, settings: MqttSettings, intake: Intake, state_dir: Path | None = None
    ) -> None:
        super().__init__(settings, state_dir)
        self.intake = intake
        self._lock = threading.Lock()
        self._marker_loaded = False
        self._client = self._make_client()

    @property
    def filters(self) -> list[str]:
        return subscription_filters(self.settings)

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        username, password = credentials(s, self.url)
        if username:
            client.username_pw_set(username, password)
        if self.url.tls:
            client.tls_set(
                ca_certs=str(s.ca_file) if s.ca_file else None,
                certfile=str(s.cert_file) if s.cert_file else None,
                keyfile=str(s.key_file) if s.key_file else None,
            )
        client.reconnect_delay_set(max(1, int(s.reconnect_min_s)), max(1, int(s.reconnect_max_s)))
        client.max_queued_messages_set(10_000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        """Connect in the background; paho retries with capped backoff until it succeeds."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        props.ReceiveMaximum = self.settings.receive_maximum
        props.MaximumPacketSize = self.settings.max_packet_bytes
        self._client.connect_async(
            self.url.host,
            self.url.port,
            keepalive=self.settings.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly (acks already queued go out first) and stop the network thread."""
        self.stopping = True
        self.intake.close()
        self._client.disconnect()
        self._client.loop_stop()

    async def close(self) -> None:
        """`stop()` off the loop: paho's disconnect waits for its thread."""
        await asyncio.to_thread(self.stop)

    # --- callbacks on paho's thread -------------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if reason.is_failure:
            self.last_error = f"connect refused: {reason}"
            log.warning("broker %s refused the connection: %s", self.url.redacted(), reason)
            return
        with self._lock:
            self.generation += 1
            self.connected = True
            self.connects += 1
            self.connected_since = time.time()
        if not self._marker_loaded:  # paho's thread: the file reads and writes block nothing
            self._marker_loaded = True
            self.load_session_marker()
        if self.check_session(bool(flags.session_present)):
            self.record_session()
        # A persistent session keeps subscriptions, but a broker that lost its state
        # (no persistence, expiry) would not: subscribe every time.
        client.subscribe([(f, 1) for f in self.filters])
        log.info(
            "connected to %s (session present: %s), subscribed to %s",
            self.url.redacted(),
            flags.session_present,
            ", ".join(self.filters),
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        with self._lock:
            was = self.connected
            self.connected = False
        if reason.value == 0x8E:  # another client connected with our client id
            self.sessions_taken_over += 1
        if was and not self.stopping:
            self.last_error = f"disconnected: {reason}"
            log.warning("lost the broker %s: %s; reconnecting", self.url.redacted(), reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        self.last_message_at = now
        self.intake.put(
            Inbound(
                msg.topic, bytes(msg.payload), msg.mid, msg.qos, int(now * 1000), self.generation
            )
        )

    # --- called from the loop -------------------------------------------------------
    def ack(self, item: Inbound) -> bool:
        """Send the PUBACK, unless the message came on an older connection (it will come again)."""
        if item.qos == 0 or item.generation != self.generation or not self.connected:
            return False
        self._client.ack(item.mid, item.qos)
        return True

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Queue a publish on our connection (paho queues it while disconnected)."""
        self._client.publish(topic, payload, qos=qos, retain=retain)
