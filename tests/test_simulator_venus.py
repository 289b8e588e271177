"""The simulator's GX against the real broker: kept alive, it publishes; asked, it republishes.

dbus-flashmq README: "Keep-alive timeout is 60 seconds"; on a keep-alive "It will send all
topics it has"; "the last topic will be N/<portal ID>/full_publish_completed"; with
`{ "keepalive-options" : ["suppress-republish"] }` it forgoes sending all topics.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices import venus
from devices.errors import ConfigError
from devices.stations import Fleet, FleetError, Station, load_fleet
from devstack import Mosquitto
from simulator import venus_gx
from simulator.cli import build_parser
from simulator.mqtt_url import parse_mqtt_url
from simulator.netloop import Network
from simulator.summary import Summary
from simulator.venus_gx import VenusLink

SOLAR = {"battery_soc_pct": 64.0, "battery_voltage_v": 25.1, "pv_power_w": 300.0,
         "charge_state": "float", "yield_today_wh": 1500.0}  # fmt: skip


def gx_station(portal: str) -> Station:
    return Station(
        id="GX-01", name="GX", district="Pemba", latitude=-12.9, longitude=40.5,
        dialect="venus", victron_portal_id=portal,
        devices=({"kind": "solar", "id": "mppt1"}, {"kind": "tank", "id": "tank1"}),
    )  # fmt: skip


class Watch:
    """Records what the GX publishes under its portal."""

    def __init__(self, broker: Mosquitto, portal: str) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.c.on_message = self._on
        self.c.connect(broker.host, broker.port)
        self.c.subscribe(f"N/{portal}/#", qos=0)
        self.c.loop_start()

    def _on(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.got.append((msg.topic, bytes(msg.payload)))

    def take(self) -> list[tuple[str, bytes]]:
        with self.lock:
            got, self.got = self.got, []
        return got

    def keepalive(self, portal: str, payload: bytes) -> None:
        self.c.publish(venus.keepalive_topic(portal), payload, qos=0).wait_for_publish(5)


def settle(net: Network, watch: Watch, quiet_s: float = 0.3) -> list[tuple[str, bytes]]:
    """Service the link until nothing more arrives for `quiet_s`."""
    got: list[tuple[str, bytes]] = []
    last = time.monotonic()
    while time.monotonic() - last < quiet_s:
        net.service(0.05)
        new = watch.take()
        if new:
            got += new
            last = time.monotonic()
    return got


def test_a_gx_publishes_while_kept_alive_and_republishes_on_an_empty_keepalive(
    mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(venus_gx, "KEEPALIVE_TIMEOUT_S", 0.6)  # 60 s on a GX
    portal = uuid.uuid4().hex[:12]
    summary = Summary()
    link = VenusLink(gx_station(portal), "sw", parse_mqtt_url(mosquitto.url), summary)
    watch = Watch(mosquitto, portal)
    net = Network([link])
    try:
        link.connect()
        assert net.wait_until(lambda: link.state == "connected", 5)
        settle(net, watch)
        n = f"N/{portal}/"
        # nobody keeps it alive: nothing goes out, the readings are counted as dropped
        link.offer(0, {"mppt1": SOLAR, "tank1": {"level_pct": 50.0}})
        assert settle(net, watch) == [] and summary.dropped["venus_not_kept_alive"] == 3
        # an empty keep-alive: every value it holds, then the completion marker last
        watch.keepalive(portal, b"")
        full = settle(net, watch)
        topics = [t for t, _ in full]
        assert topics[-1] == n + venus.FULL_PUBLISH_COMPLETED
        assert {n + "tank/20/FluidType", n + "tank/20/Status", n + "tank/20/Level",
                n + "battery/512/Soc", n + "solarcharger/279/State"} <= set(topics)  # fmt: skip
        values = {t: json.loads(p)["value"] for t, p in full}
        assert values[n + "solarcharger/279/State"] == 5  # float
        assert values[n + "solarcharger/279/History/Daily/0/Yield"] == 1.5  # kWh
        assert summary.venus_full_publishes == 1
        # kept alive: each reading goes out as it is taken
        link.offer(300, {"mppt1": SOLAR, "tank1": {"level_pct": 49.0}})
        live = settle(net, watch, 0.15)
        assert (n + "tank/20/Level", b'{"value":49.0}') in live
        assert n + venus.FULL_PUBLISH_COMPLETED not in [t for t, _ in live]
        # a suppressing keep-alive while awake republishes nothing
        watch.keepalive(portal, venus.SUPPRESS_REPUBLISH)
        assert settle(net, watch, 0.15) == []
        # past the timeout with no keep-alive it stops; the next one wakes it with a republish
        time.sleep(0.7)
        link.offer(600, {"mppt1": SOLAR, "tank1": {"level_pct": 48.0}})
        assert settle(net, watch, 0.15) == [] and summary.dropped["venus_not_kept_alive"] == 6
        watch.keepalive(portal, venus.SUPPRESS_REPUBLISH)
        woken = settle(net, watch)
        assert woken[-1][0] == n + venus.FULL_PUBLISH_COMPLETED
        assert summary.by_dialect["venus"].total == summary.readings.total > 0
    finally:
        link.finish_close()
        watch.c.loop_stop()
        watch.c.disconnect()


def test_a_venus_station_needs_its_portal_and_portals_are_unique(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="victron_portal_id"):
        Station(id="X", name="x", district="d", latitude=0, longitude=0, dialect="venus")
    path = tmp_path / "fleet.yaml"
    two = [{"id": i, "name": i, "district": "d", "latitude": 0, "longitude": 0,
            "victron_portal_id": "abc123"} for i in ("A", "B")]  # fmt: skip
    path.write_text(json.dumps({"stations": two}))
    with pytest.raises(FleetError, match="appears twice"):
        load_fleet(path)
    fleet = Fleet(stations=(gx_station("abc123"),))
    assert fleet.portals == ("abc123",) and fleet.by_portal("abc123") is not None


def test_dialect_is_a_choice_of_the_command_line() -> None:
    assert build_parser().parse_args(["--mqtt-url", "mqtt://x", "--dialect", "venus"]).dialect == (
        "venus"
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--mqtt-url", "mqtt://x", "--dialect", "cbor"])
    with pytest.raises(ConfigError, match="victron_portal_id"):
        st = gx_station("p1").model_copy(update={"victron_portal_id": None})
        VenusLink(st, "sw", parse_mqtt_url("mqtt://x"), Summary())
