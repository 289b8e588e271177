"""The simulator's SenML stations: packs with base name and base time that decode back exactly."""

from __future__ import annotations

import time

import orjson
import pytest

from collector.ingest.decoded import DecodeLimits
from collector.ingest.senml import SenmlDecoder
from devices.stations import load_fleet
from devices.topics import Topic
from simulator.cli import _config, build_parser, main
from simulator.scenarios import build_scenario
from simulator.senml_pack import BACKLOG_READINGS
from simulator.station_model import StationModel
from simulator.timefmt import format_rfc3339
from simulator.wire import WIRE_FORMATS

FLEET = load_fleet()
LIMITS = DecodeLimits(64 * 1024, 1000, 600_000, 1_577_836_800_000)


def test_a_backlog_pack_of_every_kind_decodes_to_the_readings_it_carries() -> None:
    station = FLEET.stations[0]
    t0 = float(int(time.time()) // 300 * 300 - 86400)
    model = StationModel(station, 1, build_scenario("none", [station.id]), interval_s=300, start=t0)
    steps = [(t0 + k * 300, model.step_devices(t0 + k * 300)) for k in range(BACKLOG_READINGS)]
    decoder = SenmlDecoder(LIMITS, FLEET)
    wire = WIRE_FORMATS["senml"]
    now_ms = int(time.time() * 1000)
    for device in station.devices:
        readings = [(ts, fields[device.id]) for ts, fields in steps]
        lines = [
            orjson.dumps({"ts": format_rfc3339(ts), "seq": i, **f})
            for i, (ts, f) in enumerate(readings)
        ]
        payload = wire.payload(station.id, device.kind, device.id, lines)
        assert len(payload) < LIMITS.max_payload_bytes  # a full backlog pack fits the limit
        pack = orjson.loads(payload)
        assert pack[0]["bn"] == f"urn:dev:solarwater:{station.id}:{device.id}:"
        assert pack[0]["bt"] == t0 and "t" not in pack[0]
        assert {r["t"] for r in pack[1:] if "t" in r} == {k * 300.0 for k in range(1, len(lines))}
        assert all("bn" not in r and "bt" not in r for r in pack[1:])
        topic = Topic("solarwater", station.id, device.kind, device.id, wire.channel)
        result = decoder.decode(topic, payload, now_ms, now_ms)
        assert result.rejects == []
        got = [(r.ts_ms, dict(r.fields)) for r in result.readings]
        assert got == [(round(ts * 1000), f) for ts, f in readings], device.kind


def test_senml_names_carry_their_unit_where_the_catalogue_unit_has_a_symbol() -> None:
    reading = {"battery_voltage_v": 25.2, "battery_soc_pct": 80.0, "charge_state": "float"}
    lines = [orjson.dumps({"ts": "2026-01-15T06:00:00Z", "seq": 0, **reading, "error_code": 0})]
    pack = orjson.loads(WIRE_FORMATS["senml"].payload("PEMBA-01", "solar", "mppt1", lines))
    assert [(r["n"], r.get("u")) for r in pack] == [
        ("battery_voltage", "V"),
        ("battery_soc", "/100"),
        ("charge_state", None),
        ("error_code", None),
    ]
    assert pack[2]["vs"] == "float" and pack[3]["v"] == 0


def test_dialect_flag_overrides_the_fleet_for_the_run() -> None:
    args = build_parser().parse_args(["--mqtt-url", "mqtt://localhost", "--dialect", "senml"])
    assert _config(args).dialect == "senml"
    assert _config(build_parser().parse_args(["--mqtt-url", "mqtt://x"])).dialect is None


def test_venus_for_a_station_without_a_portal_id_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--mqtt-url", "mqtt://127.0.0.1:1", "--dialect", "venus", "--duration", "1h"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "simulator: error: station PEMBA-01: dialect venus needs a victron_portal_id"
    ]
