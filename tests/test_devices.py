"""The device catalogue: models, topics, fleet registry, and line protocol through real InfluxDB."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from devices.catalogue import KINDS, get_kind
from devices.lineprotocol import encode_line
from devices.mqtturl import MqttUrlError, parse_mqtt_url
from devices.stations import FleetError, load_fleet
from devices.topics import TopicError, format_topic, parse_topic
from devstack import Influxd


def test_catalogue_has_solar_tank_and_lighting() -> None:
    assert set(KINDS) == {"solar", "tank", "lighting"}
    assert get_kind("wind") is None


def test_solar_fields_map_to_schema_types() -> None:
    kind = KINDS["solar"]
    model = kind.validate({"pv_power_w": 12, "charge_state": "float", "error_code": 3})
    fields = kind.to_fields(model)
    assert fields == {"pv_power_w": 12.0, "charge_state": "float", "error_code": 3}
    assert isinstance(fields["pv_power_w"], float)
    assert isinstance(fields["error_code"], int)


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("solar", {"battery_soc_pct": 101}),
        ("solar", {"battery_current_a": -501}),
        ("solar", {"pv_power_w": "12"}),
        ("solar", {"pv_power_w": True}),
        ("solar", {"pv_power_w": math.nan}),
        ("solar", {"pv_power_w": math.inf}),
        ("solar", {"charge_state": "sleeping"}),
        ("solar", {"error_code": 1.5}),
        ("solar", {"error_code": -1}),
        ("solar", {"pv_power_w": 1, "wind_speed": 3}),
        ("solar", {}),
        ("tank", {"level_pct": -0.1}),
        ("tank", {"rain_mm": 501}),
        ("tank", {"battery_soc_pct": 50}),
    ],
)
def test_models_refuse_bad_values(kind: str, values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        KINDS[kind].validate(values)


def test_topic_round_trip() -> None:
    topic = parse_topic("solarwater/PEMBA-01/solar/mppt1/telemetry")
    assert (topic.station, topic.kind, topic.device, topic.channel) == (
        "PEMBA-01",
        "solar",
        "mppt1",
        "telemetry",
    )
    assert str(topic) == "solarwater/PEMBA-01/solar/mppt1/telemetry"
    assert format_topic("p", "A_1", "tank", "t-1", "status") == "p/A_1/tank/t-1/status"


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("other/PEMBA-01/solar/mppt1/telemetry", "bad_topic"),
        ("solarwater/PEMBA-01/solar/telemetry", "bad_topic"),
        ("solarwater/PEMBA 01/solar/mppt1/telemetry", "bad_id"),
        ("solarwater/" + "A" * 65 + "/solar/mppt1/telemetry", "bad_id"),
        ("solarwater/PEMBA-01/solar/mppt.1/telemetry", "bad_id"),
        ("solarwater/PEMBA-01/solar/mppt1/data", "bad_topic"),
    ],
)
def test_topic_refusals(topic: str, reason: str) -> None:
    with pytest.raises(TopicError) as err:
        parse_topic(topic)
    assert err.value.reason == reason


def test_parsed_topics_are_remembered_under_their_prefix_only() -> None:
    name = "p/PEMBA-01/solar/mppt1/telemetry"
    assert parse_topic(name, "p") is parse_topic(name, "p")  # the second from the cache
    with pytest.raises(TopicError) as err:  # remembered, yet still refused under another prefix
        parse_topic(name)
    assert err.value.reason == "bad_topic"
    for _ in range(2):  # refusals are not remembered: the same reason every time
        with pytest.raises(TopicError) as err:
            parse_topic("solarwater/PEMBA 01/solar/mppt1/telemetry")
        assert err.value.reason == "bad_id"


def test_format_topic_refuses_bad_ids() -> None:
    with pytest.raises(TopicError):
        format_topic("solarwater", "bad/id", "solar", "mppt1", "telemetry")


def test_mqtt_urls() -> None:
    url = parse_mqtt_url("mqtts://user:s%40cret@broker.example:8884")
    assert (url.host, url.port, url.tls, url.username, url.password) == (
        "broker.example",
        8884,
        True,
        "user",
        "s@cret",
    )
    assert "s@cret" not in repr(url) and "s@cret" not in url.redacted()
    assert parse_mqtt_url("mqtt://localhost").port == 1883
    for bad in ("http://x", "mqtt://", "mqtt://h/path", "mqtt://h:99999"):
        with pytest.raises(MqttUrlError):
            parse_mqtt_url(bad)


def test_sample_fleet() -> None:
    fleet = load_fleet()
    assert len(fleet.stations) == 19
    assert sum(s.kind == "border_post" for s in fleet.stations) == 1
    for s in fleet.stations:
        assert -13.7 <= s.latitude <= -10.5 and 38.5 <= s.longitude <= 40.6
    assert fleet.district_of("MUEDA-01") == "Mueda"
    assert fleet.get("NOT-REGISTERED") is None


def test_fleet_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "fleet.yaml"
    bad.write_text("stations:\n  - id: A\n    name: a\n")
    with pytest.raises(FleetError) as err:
        load_fleet(bad)
    assert "\n" not in str(err.value) and "stations.0" in str(err.value)
    bad.write_text(
        "stations:\n"
        + "".join(
            "  - {id: A, name: a, district: d, latitude: 0, longitude: 0,"
            " devices: [{kind: tank, id: tank1, tank_litres: 1, roof_area_m2: 1}]}\n"
            for _ in range(2)
        )
    )
    with pytest.raises(FleetError, match="appears twice"):
        load_fleet(bad)


def test_line_protocol_escaping_round_trips(influxd: Influxd, fresh_db: str) -> None:
    nasty = 'quote " back\\slash, comma=equals space'
    lines = [
        encode_line(
            "solar",
            {"station": "S-1", "district": "Mocímboa da Praia, x=y", "device": None},
            {"pv_power_w": 1.5, "charge_state": nasty, "error_code": 7},
            1_700_000_000_000,
        ),
        encode_line("odd meas,ure", {"k ey": "v=a,l ue"}, {"f ie=ld": 2.0}, 1_700_000_000_001),
    ]
    influxd.write(lines, db=fresh_db)
    rows = influxd.query('SELECT * FROM "solar"', db=fresh_db)
    assert rows == [
        {
            "time": 1_700_000_000_000,
            "charge_state": nasty,
            "district": "Mocímboa da Praia, x=y",
            "error_code": 7,
            "pv_power_w": 1.5,
            "station": "S-1",
        }
    ]
    rows = influxd.query('SELECT * FROM "odd meas,ure"', db=fresh_db)
    assert rows == [{"time": 1_700_000_000_001, "f ie=ld": 2.0, "k ey": "v=a,l ue"}]


def test_line_needs_fields() -> None:
    with pytest.raises(ValueError):
        encode_line("m", {}, {}, 1)


def test_a_station_lists_its_devices_with_their_kinds_sizes() -> None:
    pemba = load_fleet().get("PEMBA-01")
    assert pemba is not None
    assert [(d.kind, d.id) for d in pemba.devices] == [
        ("solar", "mppt1"),
        ("tank", "tank1"),
        ("lighting", "lights1"),
    ]
    solar = pemba.devices_of("solar")[0]
    assert solar.size("pv_kwp") == 3.0 and solar.size("battery_chemistry") == "lifepo4"
    assert pemba.size("tank_litres") == 20000 and pemba.size("lamps") == 10
    assert pemba.size("lamp_colour") is None


def test_a_station_without_devices_gets_one_of_every_kind(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("stations:\n  - {id: A, name: a, district: d, latitude: 0, longitude: 0}\n")
    station = load_fleet(path).stations[0]
    assert [(d.kind, d.id) for d in station.devices] == [(k.name, k.device) for k in KINDS.values()]
    for dev in station.devices:
        assert dev.sizes == KINDS[dev.kind].sizes()  # the kind's defaults


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("{kind: wind, id: w1}", "'kind' must be one of solar"),
        ("{kind: solar, id: mppt1, pv_kwp: -1}", "solar device 'mppt1': pv_kwp: Input should be"),
        ("{kind: tank, id: tank1, litres: 5}", "tank device 'tank1': litres: Extra inputs"),
        ("{kind: tank, id: 'a/b'}", "devices.0.id"),
    ],
)
def test_bad_devices_are_refused_in_one_line(tmp_path: Path, device: str, message: str) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "stations:\n  - {id: A, name: a, district: d, latitude: 0, longitude: 0,"
        f" devices: [{device}]}}\n"
    )
    with pytest.raises(FleetError) as err:
        load_fleet(path)
    assert "\n" not in str(err.value) and message in str(err.value), str(err.value)


def test_device_ids_are_unique_within_a_station(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "stations:\n  - {id: A, name: a, district: d, latitude: 0, longitude: 0,"
        " devices: [{kind: tank, id: t}, {kind: solar, id: t}]}\n"
    )
    with pytest.raises(FleetError, match="device id 't' appears twice"):
        load_fleet(path)


def test_every_sample_station_has_one_device_of_each_kind() -> None:
    """What the simulator tests count on (DEV = len(KINDS) readings per station and tick)."""
    for s in load_fleet().stations:
        assert sorted(d.kind for d in s.devices) == sorted(KINDS), s.id
