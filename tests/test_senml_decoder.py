"""SenML packs on the senml channel: catalogue names and units, readings by time, refusals."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.config import load_settings
from collector.ingest.pipeline import Ingest
from collector.ingest.quarantine import Quarantine
from collector.metrics import Metrics
from devices.stations import load_fleet

PREFIX = "solarwater"
SOLAR = f"{PREFIX}/PEMBA-01/solar/mppt1/senml"
TANK = f"{PREFIX}/PEMBA-01/tank/tank1/senml"
LIGHTS = f"{PREFIX}/PEMBA-01/lighting/lights1/senml"
BN = "urn:dev:mac:24a160fffe0a1b2c:"  # an ESP32's MAC as its device URN


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[Ingest]:
    quarantine = Quarantine(tmp_path, 1 << 20, 100, 2048)
    quarantine.start()
    settings = load_settings(None, {"mqtt.prefix": PREFIX})
    yield Ingest(settings, load_fleet(), Metrics(), quarantine)
    await quarantine.stop()


def _send(ingest: Ingest, topic: str, pack: Any, now: float) -> Any:
    ms = int(now * 1000)
    return ingest.handle(topic, orjson.dumps(pack), ms, ms)


def _rejected(ingest: Ingest) -> list[tuple[int, str]]:
    """(record index, reason) of every refused record of the last pack, from the quarantine."""
    entry = ingest.quarantine.recent[-1]
    return [(r["index"], r["reason"]) for r in entry["rejects"]]


def test_a_logger_pack_lands_as_one_reading_per_time_in_catalogue_units(ingest: Ingest) -> None:
    now = time.time()
    bt = round(now) - 600
    pack = [
        {"bn": BN, "bt": bt, "n": "battery_voltage", "u": "V", "v": 25.4},
        {"n": "battery_current", "u": "mA", "v": -1500},
        {"n": "pv_power", "u": "kW", "v": 0.25},
        {"n": "yield_today", "u": "kWh", "v": 1.5},
        {"n": "battery_soc", "u": "%EL", "v": 64},
        {"n": "battery_temp", "u": "Cel", "v": 31.5},
        {"n": "charge_state", "vs": "bulk"},
        {"n": "error_code", "v": 0},
        {"n": "battery_voltage_v", "t": 300, "v": 25.6},  # the catalogue's own name
        {"n": "battery_soc_pct", "u": "/100", "t": 300, "v": 65},
    ]
    out = _send(ingest, SOLAR, pack, now)
    assert not out.refused
    assert [(r.ts_ms, dict(r.fields)) for r in out.readings] == [
        (bt * 1000, {
            "battery_voltage_v": 25.4, "battery_current_a": -1.5, "pv_power_w": 250.0,
            "yield_today_wh": 1500.0, "battery_soc_pct": 64.0, "battery_temp_c": 31.5,
            "charge_state": "bulk", "error_code": 0,
        }),
        ((bt + 300) * 1000, {"battery_voltage_v": 25.6, "battery_soc_pct": 65.0}),
    ]  # fmt: skip
    assert out.lines[0].startswith("solar,device=mppt1,district=Pemba,station=PEMBA-01 ")
    assert out.lines[0].endswith(f" {bt * 1000}")
    assert "error_code=0i" in out.lines[0] and 'charge_state="bulk"' in out.lines[0]
    assert ingest.metrics.counters["readings_received"] == 2
    assert ingest.quarantine.total == 0


def test_tank_and_lighting_units_convert_where_exact(ingest: Ingest) -> None:
    now = time.time()
    bt = round(now) - 60
    tank = [
        {"bn": BN, "bt": bt, "n": "level", "u": "/", "v": 0.5},  # a ratio: 50 %
        {"n": "volume", "u": "m3", "v": 2.5},
        {"n": "inflow", "u": "l/s", "v": 0.25},
        {"n": "rain", "u": "m", "v": 0.004},
        {"n": "water_temp", "u": "Cel", "v": 24},
    ]
    out = _send(ingest, TANK, tank, now)
    assert [dict(r.fields) for r in out.readings] == [
        {"level_pct": 50.0, "volume_l": 2500.0, "inflow_lpm": 15.0, "rain_mm": 4.0,
         "water_temp_c": 24.0},
    ]  # fmt: skip
    lights = [
        {"bn": BN, "bt": bt, "n": "lights_on", "vb": True},
        {"n": "lamps_lit", "u": "count", "v": 6},
        {"n": "circuit_fault", "u": "/", "v": 0},
        {"n": "load_power", "u": "W", "v": 240},
    ]
    out = _send(ingest, LIGHTS, lights, now)
    assert [dict(r.fields) for r in out.readings] == [
        {"lights_on": 1, "lamps_lit": 6, "circuit_fault": 0, "load_power_w": 240.0}
    ]
    assert "lights_on=1i" in out.lines[0]


def test_bad_records_are_refused_with_reasons_and_their_neighbours_land(ingest: Ingest) -> None:
    now = time.time()
    bt = round(now) - 120
    pack = [
        {"bn": BN, "bt": bt, "n": "battery_voltage", "u": "V", "v": 25.0},  # good
        {"n": "battery_voltage_v", "u": "mV", "v": 25000},  # the full name takes V only
        {"n": "battery_temp", "u": "K", "v": 300},  # no exact conversion to °C
        {"n": "pv_power", "v": 120},  # a stem needs its unit
        {"n": "inverter_power", "u": "W", "v": 50},  # no such solar field
        {"n": "charge_state", "v": 3},  # a text field takes vs
        {"n": "pv_voltage", "u": "V", "vs": "high"},  # a number takes v
        {"n": "pv_current", "u": "A", "vd": "AQID"},  # binary: no field takes it
        {"n": "load_power", "u": "W"},  # neither value nor sum
        {"n": "battery_soc_pct", "v": 140},  # beyond 0-100: that field alone
        {"n": "battery_current", "u": "A", "v": 3.5},  # good
        {"n": "battery_current_a", "v": 3.6},  # the same field again at that time
        {"n": "yield_today", "u": "Wh", "s": 900},  # a sum alone is not stored
        {"n": "charge_state", "t": 60, "vs": "sleeping"},  # not one of its states
    ]
    out = _send(ingest, SOLAR, pack, now)
    assert not out.refused
    assert [dict(r.fields) for r in out.readings] == [
        {"battery_voltage_v": 25.0, "battery_current_a": 3.5}
    ]
    assert _rejected(ingest) == [
        (1, "wrong_unit"),
        (2, "wrong_unit"),
        (3, "wrong_unit"),
        (4, "unknown_field"),
        (5, "wrong_type"),
        (6, "wrong_type"),
        (7, "wrong_type"),
        (8, "no_value"),
        (9, "out_of_range"),
        (11, "duplicate_field"),
        (12, "sum_only"),
        (13, "wrong_type"),
    ]
    by_reason = ingest.metrics.rejected_by_reason()
    assert by_reason["wrong_unit"] == 3 and by_reason["wrong_type"] == 4
    assert by_reason["unknown_field"] == 1 and by_reason["no_value"] == 1
    assert ingest.quarantine.total == 12 and len(ingest.quarantine.recent) == 1
    assert ingest.quarantine.recent[-1]["topic"] == SOLAR


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'[{"bver":11,"n":"battery_voltage_v","v":25}]', "unsupported_version"),
        (b'[{"n":"battery_voltage_v","v":25},{"n":"pv_power_w","v":9,"ctr_":1}]',
         "must_understand"),
        (b'[{"n":"battery_voltage_v","v":25}', "bad_senml"),
        (b'{"n":"battery_voltage_v","v":25}', "bad_senml"),
        (b'[{"bn":5,"n":"battery_voltage_v","v":25}]', "bad_senml"),
        (b"\xff\xfe", "bad_senml"),
        # a label twice: which value was meant is not for the collector to guess
        (b'[{"n":"battery_voltage_v","v":25,"v":26}]', "bad_senml"),
        (b'[{"n":"battery_voltage_v","v":NaN}]', "bad_senml"),
    ],
)  # fmt: skip
def test_packs_refused_whole_are_counted_quarantined_and_write_nothing(
    ingest: Ingest, payload: bytes, reason: str
) -> None:
    now_ms = int(time.time() * 1000)
    out = ingest.handle(SOLAR, payload, now_ms, now_ms)
    assert out.refused and out.lines == [] and out.readings == []
    assert ingest.metrics.messages_rejected_by[reason] == 1
    assert ingest.quarantine.recent[-1]["reason"] == reason
    assert ingest.quarantine.recent[-1]["index"] == -1


def test_times_relative_to_now_use_the_receive_time_and_implausible_ones_are_refused(
    ingest: Ingest,
) -> None:
    now = time.time()
    received_ms = int(now * 1000)
    pack = [
        {"bn": BN, "n": "battery_voltage", "u": "V", "v": 25.0},  # "now"
        {"n": "battery_voltage", "u": "V", "t": -300, "v": 24.9},  # 5 minutes ago
        {"n": "battery_voltage", "u": "V", "t": now + 3600, "v": 24.8},  # an hour ahead
        {"n": "battery_voltage", "u": "V", "t": 1e9, "v": 24.7},  # 2001: before plausible
    ]
    out = _send(ingest, SOLAR, pack, now)
    assert sorted(r.ts_ms for r in out.readings) == [received_ms - 300_000, received_ms]
    assert sorted(_rejected(ingest)) == [(2, "ts_in_future"), (3, "ts_before_plausible")]


def test_a_senml_reading_writes_the_same_point_as_the_native_one(ingest: Ingest) -> None:
    now = time.time()
    ts = round(now) - 30
    native = {"ts": ts, "level_pct": 42.5, "volume_l": 2125.0, "rain_mm": 0.0}
    senml = [
        {"bn": BN, "bt": ts, "n": "level", "u": "/100", "v": 42.5},
        {"n": "volume_l", "v": 2125.0},
        {"n": "rain", "u": "mm", "v": 0},
    ]
    ms = int(now * 1000)
    line_native = ingest.handle(TANK.replace("/senml", "/telemetry"), orjson.dumps(native), ms, ms)
    first = list(line_native.lines)
    assert first == _send(ingest, TANK, senml, now).lines
