"""A station gateway's one MQTT connection, carrying all its devices' telemetry and status."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from pydantic import SecretStr

from devices.errors import ConfigError
from devices.kind import FieldValue
from simulator.device_queue import DeviceQueue
from simulator.mqtt_url import BrokerSettings
from simulator.paho_link import CONNECT_TIMEOUT_S, PahoLink
from simulator.summary import Summary

__all__ = ["CONNECT_TIMEOUT_S", "GatewayLink"]

ONLINE = b'{"state":"online"}'
OFFLINE = b'{"state":"offline"}'
# The Last Will: one message for the whole station, on its first device's status topic.
STATION_OFFLINE = b'{"state":"offline","scope":"station"}'
# At --speed 0 the clock waits while a connected device holds more readings than this
# unacknowledged: stations then stay within a few ticks of each other, as live ones are
# within seconds. A window's worth (32 ticks, hours) let one station's readings reach the
# collector hours of device time after another's, and the fleet time they set paged the
# late one silent.
LAG_READINGS = 2


class GatewayLink(PahoLink):
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
        super().__init__(station, prefix, broker, tls, username, password)
        self.devices = tuple(devices)
        self.summary = summary
        self.window = window
        self.will_topic = self.devices[0].status_topic
        self.by_mid: dict[int, DeviceQueue] = {}  # telemetry in flight, bounded by the window
        self.status_mids: set[int] = set()
        self.offline_acked = False

    @property
    def idle(self) -> bool:
        """No device has anything buffered or in flight."""
        return all(d.idle for d in self.devices)

    def lagging(self) -> bool:
        """Connecting, or connected with a device that has more than LAG_READINGS unacknowledged."""
        if self.state == "connecting":
            return True
        return self.state == "connected" and any(len(d.buffer) > LAG_READINGS for d in self.devices)

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
        c = self._new_client()
        # every device's window plus its status message, so paho never holds one back
        c.max_inflight_messages_set((self.window + 1) * len(self.devices) + 4)
        c.will_set(self.will_topic, STATION_OFFLINE, qos=1, retain=True)
        c.on_publish = self._on_publish
        self._open(c)

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

    # --- what the link adds to the shared one --------------------------------------------

    def _session_up(self, client: mqtt.Client) -> None:
        # the Will's device first: a consumer that latched the station offline sees it cleared
        for dev in self.devices:
            info = client.publish(dev.status_topic, ONLINE, qos=1, retain=True)
            self.status_mids.add(info.mid)
            dev.session_started()
        self.pump()

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

    def _forget(self) -> None:
        self.by_mid.clear()
        self.status_mids.clear()
        for dev in self.devices:
            dev.requeue()
