"""Victron GX stations end to end: simulator or a raw client → Mosquitto → collector → InfluxDB.

The mixed fleet is all three dialects (native, GX, SenML) in one simulator run through one
collector. Real Mosquitto and InfluxDB 1.6 from the session fixtures; the collector runs in
this event loop. GX topics are not under a test prefix, so every test takes a portal id of its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from devices import venus
from devices.catalogue import KINDS
from devices.stations import Fleet, load_fleet
from devstack import Influxd, Mosquitto
from simulator import SimulationConfig, Summary, run_simulation
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)

DEVICES = [{"kind": "solar", "id": "mppt1"}, {"kind": "tank", "id": "tank1"}]
KEEPALIVE_S = 0.3  # the collector's keep-alive period here (30 s in service)


def fleet_file(tmp_path: Path, portal: str, station_id: str = "GX-01") -> tuple[Path, Fleet]:
    """A native, a GX and a SenML station at the same site, each with a controller and a tank."""
    site = {"district": "Pemba", "latitude": -12.97, "longitude": 40.52, "devices": DEVICES}
    raw = {
        "stations": [
            {"id": "NAT-01", "name": "Posto nativo", **site},
            {"id": station_id, "name": "Posto com GX", "dialect": "venus",
             "victron_portal_id": portal, **site},
            {"id": "SML-01", "name": "Posto SenML", "dialect": "senml", **site},
        ]
    }  # fmt: skip
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, load_fleet(path)


def overrides(
    mosquitto: Mosquitto, influxd: Influxd, db: str, prefix: str, tmp_path: Path, fleet: Path,
    **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    return collector_overrides(
        mosquitto, influxd, db, prefix, tmp_path / "var",
        fleet=str(fleet),
        **{"ingest.gateways": [{"type": "venus", "keepalive_interval_s": KEEPALIVE_S}]},
        **extra,
    )  # fmt: skip


def points(influxd: Influxd, db: str, measurement: str, station: str) -> list[dict[str, Any]]:
    q = f'SELECT * FROM "{measurement}" WHERE "station"=\'{station}\''
    return influxd.query(q, db)


def fields_of(rows: list[dict[str, Any]]) -> set[str]:
    tags = {"time", "station", "device", "district"}
    return {k for r in rows for k, v in r.items() if v is not None and k not in tags}


# --- a mixed fleet ------------------------------------------------------------------------

DIALECT_OF = {"NAT-01": "native", "GX-01": "venus", "SML-01": "senml"}


def tag_keys(influxd: Influxd, db: str, station: str) -> set[str]:
    """The tag keys of every series of `station`."""
    rows = influxd.query(f"SHOW SERIES WHERE \"station\"='{station}'", db)
    return {pair.split("=")[0] for r in rows for pair in r["key"].split(",")[1:]}


def measurements(influxd: Influxd, db: str, station: str) -> set[str]:
    rows = influxd.query(f"SHOW MEASUREMENTS WHERE \"station\"='{station}'", db)
    return {r["name"] for r in rows}


async def test_a_fleet_of_three_dialects_lands_the_same_measurements_tags_and_fields(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    portal = uuid.uuid4().hex[:12]
    path, fleet = fleet_file(tmp_path, portal)
    over = overrides(
        mosquitto, influxd, fresh_db, prefix, tmp_path, path, **{"alerts.enabled": False}
    )
    async with running_collector(over) as collector:
        config = SimulationConfig(
            mqtt_url=mosquitto.url, prefix=prefix, fleet=fleet, duration_s=3 * 3600,
            interval_s=300, speed=7200, seed=3, scenario="none", quiet=True,
        )  # fmt: skip
        summary: Summary = await asyncio.to_thread(run_simulation, config)
        sent = {st: summary.by_dialect[d].by_station[st] for st, d in DIALECT_OF.items()}

        async def count(station: str, kind: str) -> int:
            return len(await asyncio.to_thread(points, influxd, fresh_db, kind, station))

        async def all_in() -> bool:
            return all([await count(st, k) == n for st in sent for k, n in sent[st].items()])

        deadline = time.monotonic() + 30
        while not await all_in():
            assert time.monotonic() < deadline, "not every reading landed"
            await asyncio.sleep(0.2)
        counts = dict(collector.ingest.gateways[0].counts())
        rejected = collector.metrics.rejected_by_reason()

    # one run, one collector: what each dialect handed the broker is what InfluxDB holds
    ticks = 3 * 3600 // 300
    assert set(summary.by_dialect) == set(DIALECT_OF.values())
    assert sum(t.total for t in summary.by_dialect.values()) == summary.readings.total
    assert sent["NAT-01"] == sent["SML-01"] == {"solar": ticks, "tank": ticks}
    # the simulated GX: per tick, one reading per Venus device (charger, battery, tank);
    # its one full publish on waking adds the tank's state
    assert sent["GX-01"] == {"solar": 2 * ticks, "tank": ticks + 1}
    assert summary.venus_full_publishes == 1 and counts["full_publish"] == 1
    assert not any(summary.dropped.values()), summary.dropped
    assert counts["unknown_portal"] == 0 and not rejected, rejected
    # the same telemetry measurements and tag keys for every dialect, and station_info (the
    # registry's) for all; a GX has no status topics of ours, a SenML logger's link has them
    got = {st: measurements(influxd, fresh_db, st) for st in DIALECT_OF}
    assert all(m & set(KINDS) == {"solar", "tank"} for m in got.values()), got
    assert got["SML-01"] == got["NAT-01"] == got["GX-01"] | {"station_status"}
    for st in DIALECT_OF:
        assert tag_keys(influxd, fresh_db, st) == {"station", "device", "district"}, st
    for kind in ("solar", "tank"):
        rows = {st: points(influxd, fresh_db, kind, st) for st in DIALECT_OF}
        assert {r["district"] for st in rows for r in rows[st]} == {"Pemba"}
        # SenML: every point has a field set a native point has, and together all of them
        shapes = {st: {frozenset(fields_of([r])) for r in rows[st]} for st in DIALECT_OF}
        assert shapes["SML-01"] == shapes["NAT-01"], kind
        # the GX: what the path table maps, within the native fields
        mapped = {p.field for p in venus.PATHS if venus.SERVICE_KIND[p.service] == kind}
        if kind == "tank":
            mapped.add(venus.TANK_STATUS_FIELD)  # the GX also says its sensor is sound
        assert fields_of(rows["GX-01"]) == mapped
        assert fields_of(rows["GX-01"]) <= fields_of(rows["NAT-01"])
    by_device: dict[str, set[str]] = {}
    for r in points(influxd, fresh_db, "solar", "GX-01"):
        by_device.setdefault(r["device"], set()).update(fields_of([r]))
    # one bank, one battery device: the charger's own view of it is superseded by the monitor
    battery = {p.field for p in venus.PATHS if p.service == venus.BATTERY_MONITOR}
    charger = {p.field for p in venus.PATHS if p.service == venus.CHARGER} - battery
    assert by_device == {"battery512": battery, "solarcharger279": charger}
    assert counts["superseded"] == 3 * ticks  # per charger reading: voltage, current, temperature
    assert counts["awaiting_monitor"] == 0  # the GX's full publish came first
    tank = points(influxd, fresh_db, "tank", "GX-01")
    assert {r["device"] for r in tank} == {"tank20"} and {r["sensor_status"] for r in tank} == {0}


# --- keep-alives --------------------------------------------------------------------------


class KeepaliveWatch:
    """A client on the GX side: records every keep-alive the collector sends a portal."""

    def __init__(self, broker: Mosquitto, portal: str) -> None:
        self.got: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(venus.keepalive_topic(portal), qos=0)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.got.append((time.monotonic(), bytes(msg.payload)))

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [p for _, p in self.got]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def test_keepalives_empty_first_and_after_each_reconnect_then_suppress(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    portal = uuid.uuid4().hex[:12]
    path, _ = fleet_file(tmp_path, portal)
    watch = KeepaliveWatch(mosquitto, portal)
    time.sleep(0.2)  # subscribed before the collector connects
    over = overrides(
        mosquitto, influxd, fresh_db, prefix, tmp_path, path, **{"alerts.enabled": False}
    )
    suppress = orjson.loads(venus.SUPPRESS_REPUBLISH)
    try:
        async with running_collector(over) as collector:
            await wait_until(lambda: len(watch.payloads()) >= 3, 10, 0.05)
            first = watch.payloads()
            # another client takes the collector's client id: it reconnects and asks afresh
            thief = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"collector-{prefix}")
            thief.connect(mosquitto.host, mosquitto.port)
            thief.loop_start()
            await asyncio.sleep(0.3)
            thief.loop_stop()
            thief.disconnect()
            assert collector.source is not None
            await wait_until(
                lambda: collector.source is not None and collector.source.connects >= 2, 15
            )
            n = len(watch.payloads())
            await wait_until(lambda: len(watch.payloads()) >= n + 2, 10, 0.05)
    finally:
        watch.close()
    assert first[0] == b"" and all(orjson.loads(p) == suppress for p in first[1:3])
    after = watch.payloads()[len(first) :]
    assert b"" in after, after  # the first after the reconnect asks for a full publish
    later = after[after.index(b"") + 1 :]
    assert later and all(orjson.loads(p) == suppress for p in later)
    gaps = [b - a for (a, _), (b, _) in zip(watch.got, watch.got[1:], strict=False)]
    assert min(gaps) > KEEPALIVE_S * 0.3 or b"" in after  # paced, not a flood


# --- bad input beside good ----------------------------------------------------------------


async def test_bad_venus_input_is_refused_counted_quarantined_and_good_neighbours_land(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    portal = uuid.uuid4().hex[:12]
    path, _ = fleet_file(tmp_path, portal)
    n = f"N/{portal}/"
    over = overrides(
        mosquitto, influxd, fresh_db, prefix, tmp_path, path,
        **{"alerts.evaluate_interval_s": 0.05},
    )  # fmt: skip
    good = [
        (f"{n}battery/512/Soc", b'{"value": 72.5}'),
        (f"{n}battery/512/Dc/0/Voltage", b'{"value": 25.6}'),
        (f"{n}tank/20/FluidType", b'{"value": 1}'),
        (f"{n}tank/20/Status", b'{"value": 1}'),  # disconnected: a sensor fault
        (f"{n}tank/20/Level", b'{"value": 0.0}'),
    ]
    bad = [
        (f"{n}battery/512/Dc/0/Current", b"{oops"),
        (f"{n}solarcharger/279/State", b'{"value": 9}'),
        (f"{n}solarcharger/279/Pv/V", b'{"value": "41"}'),
        (f"{n}battery/512/Dc/0/Temperature", b"[1]"),
    ]
    quiet = [
        (f"{n}battery/512/TimeToGo", b'{"value": 3600}'),  # ignored
        (f"{n}solarcharger/279/Yield/Power", b'{"value": null}'),
        (f"{n}solarcharger/279/Dc/0/Voltage", b""),
        # not subscribed: only the fleet's portals are (an unknown one is the unit tests')
        ("N/ffffffffffff/battery/512/Soc", b'{"value": 50}'),
    ]
    async with running_collector(over) as collector:
        client = publisher(mosquitto)
        try:
            publish_all(client, good[:2] + bad[:2] + quiet + good[2:] + bad[2:])
        finally:
            client.loop_stop()
            client.disconnect()

        def landed() -> bool:
            return bool(points(influxd, fresh_db, "solar", "GX-01")) and bool(
                points(influxd, fresh_db, "tank", "GX-01")
            )

        await wait_until(landed, 15)
        assert collector.alerts is not None
        await wait_until(
            lambda: bool(
                influxd.query(
                    'SELECT * FROM "events"."alert" WHERE "rule"=\'tank_sensor_fault\'', fresh_db
                )
            ),
            15,
        )
        entries = collector.quarantine.query(100, None)
        counts = dict(collector.ingest.gateways[0].counts())
        metrics = collector.metrics.prometheus().decode()
        faults = collector.ingest.faults()

    (battery,) = points(influxd, fresh_db, "solar", "GX-01")
    assert (battery["device"], battery["battery_soc_pct"], battery["battery_voltage_v"]) == (
        "battery512", 72.5, 25.6,
    )  # fmt: skip
    (tank,) = points(influxd, fresh_db, "tank", "GX-01")
    assert tank["sensor_status"] == 1 and tank.get("level_pct") is None  # the level is not written
    reasons = sorted(e["reason"] for e in entries)
    assert reasons == ["bad_venus", "malformed_json", "unknown_state", "wrong_type"]
    assert {e["topic"] for e in entries} == {t for t, _ in bad}
    assert counts["ignored"] == 1 and counts["null"] == 1 and counts["removed"] == 1
    assert counts["unknown_portal"] == 0 and counts["sensor_fault"] == 1
    assert 'solarwater_venus_values_total{outcome="ignored"} 1.0' in metrics
    assert "solarwater_device_faults 1.0" in metrics
    assert faults == [{"station": "GX-01", "device": "tank20", "fault": "tank_sensor", "status": 1}]


# --- a failing battery --------------------------------------------------------------------

BATTERY_RULES = ("battery_low", "battery_critical")
# as tests/test_alerts_e2e.py: a bank failing from +1 h meets the night
EVENING = datetime(2025, 7, 1, 20, 0, tzinfo=timezone(timedelta(hours=2)))


class SteppedClock:
    """The collector's receive and evaluation clock, moved on by the test one tick at a time."""

    def __init__(self, at_ms: int) -> None:
        self.now_s = at_ms / 1000

    def __call__(self) -> float:
        return self.now_s


def gx_values(portal: str, kind: str, fields: dict[str, Any]) -> list[tuple[str, bytes]]:
    """What a GX publishes for one reading of a registry device: each service's paths."""
    out: list[tuple[str, bytes]] = []
    for service in venus.service_of_kind(kind):
        instance = {"solarcharger": 279, "battery": 512, "tank": 20}[service]
        for p in venus.PATHS:
            v = fields.get(p.field)
            if p.service != service or v is None:
                continue
            if p.codes is not None:
                v = venus.STATE_OF[str(v)]
            elif p.scale != 1.0:
                v = round(float(v) / p.scale, 9)
            topic = venus.value_topic(portal, service, instance, p.path)
            out.append((topic, orjson.dumps({"value": v})))
    return out


def montepuez(tmp_path: Path, dialect: str, portal: str) -> tuple[Path, Fleet]:
    """MONTEPUEZ-01 (its controller and tank) speaking `dialect`."""
    sample = load_fleet().get("MONTEPUEZ-01")
    assert sample is not None
    raw = sample.model_dump(mode="json", exclude={"devices"})
    raw["devices"] = [{"kind": d.kind, "id": d.id, **d.sizes.model_dump(mode="json")}
                      for d in sample.devices if d.kind in ("solar", "tank")]  # fmt: skip
    raw.update(dialect=dialect, victron_portal_id=portal)
    path = tmp_path / f"fleet-{dialect}.yaml"
    path.write_text(yaml.safe_dump({"stations": [raw]}))
    return path, load_fleet(path)


def battery_overrides(
    mosquitto: Mosquitto, influxd: Influxd, db: str, tmp_path: Path, dialect: str, fleet: Path
) -> dict[str, Any]:
    """The shipped rules, `for` included; evaluations often, pages unpaced."""
    return collector_overrides(
        mosquitto, influxd, db, "sw" + uuid.uuid4().hex[:10], tmp_path / f"var-{dialect}",
        fleet=str(fleet),
        **{"ingest.gateways": [{"type": "venus", "keepalive_interval_s": KEEPALIVE_S}],
           "alerts.evaluate_interval_s": 0.02, "alerts.min_page_interval": 0},
    )  # fmt: skip


def battery_alerts(influxd: Influxd, db: str) -> list[tuple[int, str, str]]:
    rows = influxd.query('SELECT * FROM "events"."alert"', db)
    got = [(r["time"], r["rule"], r["state"]) for r in sorted(rows, key=lambda r: r["time"])]
    return [g for g in got if g[1] in BATTERY_RULES]


async def _native_run(
    mosquitto: Mosquitto, influxd: Influxd, db: str, tmp_path: Path
) -> tuple[list[tuple[int, str, str]], Summary]:
    """MONTEPUEZ-01's failing bank from the simulator, native: its alerts and its readings."""
    path, fleet = montepuez(tmp_path, "native", uuid.uuid4().hex[:12])
    over = battery_overrides(mosquitto, influxd, db, tmp_path, "native", path)
    async with running_collector(over):
        config = SimulationConfig(
            mqtt_url=mosquitto.url, prefix=over["mqtt.prefix"], fleet=fleet, start=EVENING,
            duration_s=14 * 3600, interval_s=300, speed=14400, seed=1,
            scenario="battery-failure", quiet=True,
        )  # fmt: skip
        summary = await asyncio.to_thread(run_simulation, config, record=True)

        def landed() -> bool:
            return sum(len(points(influxd, db, k, "MONTEPUEZ-01")) for k in ("solar", "tank")) >= (
                summary.readings.total
            )

        await wait_until(landed, 30)
        await asyncio.sleep(0.3)  # a few evaluations after the last reading
    return battery_alerts(influxd, db), summary


async def _venus_run(
    mosquitto: Mosquitto, influxd: Influxd, db: str, tmp_path: Path, summary: Summary
) -> tuple[list[tuple[int, str, str]], dict[str, int]]:
    """The same readings as a GX sends them (untimed values, stamped at receive time).

    The collector's clock is stepped to each tick's time before its values go out, and the
    next step waits until the collector took them all: receive time is the simulated time,
    so the rules' `for` is judged over the same minutes as the native run's.
    """
    portal = uuid.uuid4().hex[:12]
    path, _ = montepuez(tmp_path, "venus", portal)
    over = battery_overrides(mosquitto, influxd, db, tmp_path, "venus", path)
    ticks: dict[int, list[tuple[str, bytes]]] = {}
    for r in sorted(summary.records, key=lambda r: r.ts_ms):
        ticks.setdefault(r.ts_ms, []).extend(gx_values(portal, r.kind, dict(r.fields)))
    first = min(ticks)
    clock = SteppedClock(first - 60_000)
    # a GX waking: its tank's fluid and sensor state, then the end of its full publish
    woke = [
        (venus.value_topic(portal, "tank", 20, venus.FLUID_TYPE_PATH), b'{"value": 1}'),
        (venus.value_topic(portal, "tank", 20, venus.TANK_STATUS_PATH), b'{"value": 0}'),
        (venus.portal_topic(portal, venus.FULL_PUBLISH_COMPLETED), b'{"value": 0}'),
    ]
    client = publisher(mosquitto)
    try:
        async with running_collector(over, clock) as collector:
            sent = collector.metrics.counters["messages_received"]
            for ts, values in [(first - 60_000, woke), *sorted(ticks.items())]:
                clock.now_s = ts / 1000
                await asyncio.to_thread(publish_all, client, values)
                sent += len(values)

                def taken(n: int = sent) -> bool:
                    return collector.metrics.counters["messages_received"] >= n

                await wait_until(taken, 10, 0.002)
            clock.now_s += 300  # the last reading's window ends

            def landed() -> bool:
                n = sum(len(points(influxd, db, k, "MONTEPUEZ-01")) for k in ("solar", "tank"))
                return n >= len(summary.records)

            await wait_until(landed, 30)
            await asyncio.sleep(0.3)  # a few evaluations after the last reading
            counts = dict(collector.ingest.gateways[0].counts())
    finally:
        client.loop_stop()
        client.disconnect()
    return battery_alerts(influxd, db), counts


@pytest.mark.slow
async def test_a_venus_station_with_a_failing_battery_alerts_as_a_native_one(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, tmp_path: Path
) -> None:
    native, summary = await _native_run(mosquitto, influxd, fresh_db, tmp_path)
    other_db = "t_" + uuid.uuid4().hex[:12]
    influxd.create_db(other_db)
    try:
        gx, counts = await _venus_run(mosquitto, influxd, other_db, tmp_path, summary)
    finally:
        influxd.drop_db(other_db)
    assert [(rule, state) for _, rule, state in native] == [
        ("battery_low", "firing"),
        ("battery_critical", "firing"),
        ("battery_critical", "resolved"),
        ("battery_low", "resolved"),
    ]
    # the shipped `for` was judged: the first bad reading came that long before the page
    records = [r for r in summary.records if r.kind == "solar"]
    first_low = min(r.ts_ms for r in records if float(r.fields["battery_soc_pct"]) < 50)
    assert native[0][0] - first_low >= 15 * 60_000
    # one bank, one page at the same minute: the charger's own view of the bank is not taken
    # beside the monitor's
    assert gx == native, gx
    assert counts["superseded"] > 0 and counts["awaiting_monitor"] == 0
