"""Status through a real collector and Mosquitto: a gateway's Will, oversized and unknown kinds."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from collector.config import IngestSettings, MqttSettings
from devices.stations import load_fleet
from devstack import Influxd, Mosquitto
from tests.collector_support import collector_overrides, publisher, running_collector, wait_until

ROOT = Path(__file__).resolve().parents[1]
# every device the registry lists for the two stations the simulator runs
_FLEET = load_fleet()
KIND_OF = {
    (s.id, d.id): d.kind for s in _FLEET.stations[:2] for d in s.devices
}  # fmt: skip
DEVICES = list(KIND_OF)


def _last_online(influxd: Influxd, db: str) -> dict[tuple[str, str], int]:
    rows = influxd.query('SELECT last("online") FROM station_status GROUP BY *', db)
    return {(r["station"], r["device"]): r["last"] for r in rows}


async def test_a_killed_gateway_marks_its_whole_station_offline(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    overrides = collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path / "c")
    cmd = [
        sys.executable, "-m", "simulator", "--mqtt-url", mosquitto.url, "--prefix", prefix,
        "--stations", "2", "--duration", "2h", "--speed", "1", "--quiet",
    ]  # fmt: skip
    async with running_collector(overrides) as collector:
        sim = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.DEVNULL)
        try:
            await wait_until(lambda: collector.status.state == dict.fromkeys(DEVICES, True), 15)
            # SIGKILL: the sockets close without DISCONNECT, and each station has one Will
            sim.send_signal(signal.SIGKILL)
            sim.wait(5)
        finally:
            if sim.poll() is None:
                sim.kill()
                sim.wait()
        await wait_until(lambda: collector.status.state == dict.fromkeys(DEVICES, False), 15)
        await wait_until(lambda: _last_online(influxd, fresh_db) == dict.fromkeys(DEVICES, 0))
        assert collector.metrics.messages_rejected_by == {}
    # resubscribing, the broker hands over each station's Will and its tank's older `online`:
    # the tank must stay offline
    async with running_collector(overrides) as collector:
        await wait_until(lambda: len(collector.status.state) == len(DEVICES), 15)
        assert collector.status.state == dict.fromkeys(DEVICES, False)
    _clear_retained(
        publisher(mosquitto), [f"{prefix}/{s}/{KIND_OF[s, d]}/{d}/status" for s, d in DEVICES]
    )


async def test_oversized_and_unknown_kind_status_are_refused_and_stay_refused(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    overrides = collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path / "c")
    big, pump = f"{prefix}/IBO-01/solar/mppt1/status", f"{prefix}/IBO-01/pump/p1/status"
    tank, huge = f"{prefix}/IBO-01/tank/tank1/status", f"{prefix}/IBO-01/solar/mppt2/status"
    retained = [
        (big, b'{"state":"online","pad":"' + b"x" * (10 << 10) + b'"}'),  # 10 KiB: over the cap
        # 10 MiB: over the collector's Maximum Packet Size, so the broker never delivers it
        (huge, b'{"state":"online","pad":"' + b"x" * (10 << 20) + b'"}'),
        (pump, b'{"state":"online"}'),
        (tank, b'{"state":"online"}'),
    ]
    client = publisher(mosquitto)
    try:
        # the second collector publishes nothing: its subscription brings the retained ones back
        for publish in (True, False):
            await _refuses(overrides, client, retained if publish else [])
        q = 'SELECT count("online") FROM station_status GROUP BY "device"'
        assert {r["device"] for r in influxd.query(q, fresh_db)} == {"tank1"}
    finally:
        _clear_retained(client, [t for t, _ in retained])


def test_status_cap_fits_inside_the_packet_limit() -> None:
    """A status the collector refuses by size must be one the broker still delivers to it."""
    assert IngestSettings().max_status_bytes < MqttSettings().max_packet_bytes


async def _refuses(
    overrides: dict[str, Any], client: mqtt.Client, publish: list[tuple[str, bytes]]
) -> None:
    async with running_collector(overrides) as collector:
        for info in [client.publish(t, p, qos=1, retain=True) for t, p in publish]:
            info.wait_for_publish(30)
        rejected = collector.metrics.messages_rejected_by
        await wait_until(lambda: ("IBO-01", "tank1") in collector.status.state, 30)
        await wait_until(lambda: rejected["status_too_large"] == 1, 15)
        await wait_until(lambda: rejected["unknown_kind"] == 1, 15)
        assert collector.status.state == {("IBO-01", "tank1"): True}
        by_reason = {e["reason"]: e for e in collector.quarantine.query()}
        assert by_reason["status_too_large"]["topic"].endswith("/IBO-01/solar/mppt1/status")
        assert by_reason["unknown_kind"]["topic"].endswith("/IBO-01/pump/p1/status")


def _clear_retained(client: mqtt.Client, topics: list[str]) -> None:
    for info in [client.publish(t, b"", qos=1, retain=True) for t in topics]:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
