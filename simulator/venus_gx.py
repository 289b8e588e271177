"""A station whose gear is a Victron GX: dbus-flashmq's `N/<portal>/...` values at QoS 0.

Like a GX it publishes only while keep-alives come (60 s after the last one it stops), and
on an empty keep-alive (or one that wakes it) republishes every value it holds, then
`N/<portal>/full_publish_completed`. A GX keeps no backlog for MQTT: what a reading
would have said while the link is down or nobody keeps it alive is counted as dropped.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from pydantic import SecretStr

from devices import venus
from devices.errors import ConfigError
from devices.kind import FieldValue
from devices.stations import Station
from simulator.mqtt_url import BrokerSettings
from simulator.paho_link import PahoLink
from simulator.summary import Summary

KEEPALIVE_TIMEOUT_S = 60.0  # dbus-flashmq: "Keep-alive timeout is 60 seconds"
# Device instances as a GX numbers them: per service, from these bases in registry order.
INSTANCE_BASE = {"solarcharger": 279, "battery": 512, "tank": 20}
DIALECT = "venus"


class _GxDevice:
    """One Venus service instance behind one registry device: its topics and last values."""

    def __init__(self, portal: str, service: str, instance: int, kind: str) -> None:
        self.service, self.instance, self.kind = service, instance, kind
        self.paths = [p for p in venus.PATHS if p.service == service]
        self.prefix = venus.value_topic(portal, service, instance, "")
        self.latest: dict[str, bytes] = {}
        if service == "tank":  # a fresh-water tank with a sound sensor
            self.latest[venus.FLUID_TYPE_PATH] = _value(venus.FRESH_WATER)
            self.latest[venus.TANK_STATUS_PATH] = _value(venus.TANK_STATUS_OK)

    def values(self, fields: dict[str, FieldValue]) -> list[tuple[str, bytes]]:
        """(path, payload) of one reading's fields, as this service publishes them."""
        out: list[tuple[str, bytes]] = []
        for p in self.paths:
            v = fields.get(p.field)
            if v is None:
                continue
            if p.codes is not None:
                v = venus.STATE_OF[str(v)]
            elif p.scale != 1.0 and isinstance(v, int | float):
                v = round(float(v) / p.scale, 9)
            out.append((p.path, _value(v)))
        return out

    def reading_paths(self) -> bool:
        """Whether a republish of its values makes a reading (a field, or the tank's status)."""
        return any(path != venus.FLUID_TYPE_PATH for path in self.latest)


def _value(v: Any) -> bytes:
    return orjson.dumps({"value": v})


class VenusLink(PahoLink):
    """A GX on the station's GSM link: one QoS 0 MQTT client, no buffer, no status topics."""

    dialect = DIALECT

    def __init__(
        self,
        station: Station,
        prefix: str,
        broker: BrokerSettings,
        summary: Summary,
        tls: ssl.SSLContext | None = None,
        username: str | None = None,
        password: SecretStr | None = None,
    ) -> None:
        portal = station.victron_portal_id
        if portal is None:
            raise ConfigError(f"station {station.id}: dialect venus needs a victron_portal_id")
        super().__init__(station.id, prefix, broker, tls, username, password)
        self.portal = portal
        self.summary = summary
        self.keepalive_topic = venus.keepalive_topic(portal)
        # registry device id -> the GX services that carry it (a solar device: charger, battery)
        self.gx: dict[str, list[_GxDevice]] = {}
        counters: dict[str, int] = {}
        for d in station.devices:
            services = venus.service_of_kind(d.kind)
            for service in services:
                n = counters.get(service, 0)
                counters[service] = n + 1
                gx = _GxDevice(portal, service, INSTANCE_BASE.get(service, 0) + n, d.kind)
                self.gx.setdefault(d.id, []).append(gx)
        self.devices = list(station.devices)
        self.alive_until = 0.0
        self.full_publishes = 0
        self.offline_acked = True  # no status to retract: a GX's bridge has its own Will

    # --- what the runner asks of every station link ---------------------------------------
    @property
    def idle(self) -> bool:
        """Nothing buffered: a GX keeps none; only paho's socket buffer may still hold some."""
        return self.client is None or not self.client.want_write()

    def lagging(self) -> bool:
        return self.state == "connecting"

    def ready(self) -> bool:
        """Publishing: connected and kept alive."""
        return self.state == "connected" and time.monotonic() < self.alive_until

    def offer(self, ts: float, readings: dict[str, dict[str, FieldValue]]) -> None:
        """One tick's readings by registry device: published now, or counted as dropped."""
        client = self.client
        publishing = self.ready() and client is not None
        for device in self.devices:
            fields = readings.get(device.id, {})
            gx_devices = self.gx.get(device.id)
            if not gx_devices:
                self.summary.drop("venus_unmapped")
                continue
            for gx in gx_devices:
                values = gx.values(fields)
                if not values:
                    continue
                gx.latest.update(values)
                if not publishing:
                    why = "venus_link_down" if self.state == "down" else "venus_not_kept_alive"
                    self.summary.drop(why)
                    continue
                assert client is not None
                self._publish_reading(client, gx, values)

    def pump(self) -> None:
        """Nothing waits: values go out as they are read."""

    def unsent(self) -> int:
        return 0

    def close_buffers(self) -> None:
        """A GX holds no buffer files."""

    # --- connection -------------------------------------------------------------------------
    def connect(self) -> None:
        c = self._new_client()
        c.on_message = self._on_message
        self._open(c)

    def begin_close(self) -> None:
        if self.state == "connected":
            self.state = "closing"

    def _session_up(self, client: mqtt.Client) -> None:
        client.subscribe(self.keepalive_topic, qos=0)

    def _forget(self) -> None:
        self.alive_until = 0.0  # asleep until a keep-alive wakes it

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if client is not self.client or msg.topic != self.keepalive_topic:
            return
        now = time.monotonic()
        woken = now >= self.alive_until
        self.alive_until = now + KEEPALIVE_TIMEOUT_S
        suppress = False
        with contextlib.suppress(orjson.JSONDecodeError, TypeError, AttributeError):
            options = orjson.loads(msg.payload).get("keepalive-options", [])
            suppress = "suppress-republish" in options
        if woken or not suppress:
            self._full_publish(client)

    # --- publishing -------------------------------------------------------------------------
    def _publish_reading(
        self, client: mqtt.Client, gx: _GxDevice, values: list[tuple[str, bytes]]
    ) -> None:
        for path, payload in values:
            client.publish(gx.prefix + path, payload, qos=0)
            self.summary.messages.add(self.station, gx.kind)
        self.summary.readings.add(self.station, gx.kind)
        self.summary.dialect(DIALECT).add(self.station, gx.kind)

    def _full_publish(self, client: mqtt.Client) -> None:
        """Every value held, each device's as one burst, then the completion marker."""
        for gx_devices in self.gx.values():
            for gx in gx_devices:
                if gx.latest and gx.reading_paths():
                    self._publish_reading(client, gx, list(gx.latest.items()))
        marker = venus.portal_topic(self.portal, venus.FULL_PUBLISH_COMPLETED)
        client.publish(marker, _value(int(time.time())), qos=0)
        self.full_publishes += 1
        self.summary.venus_full_publishes += 1
