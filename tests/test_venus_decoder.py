"""The `venus` gateway decoder against a corpus built from Victron's published path lists.

Sources, quoted where a case comes from them:
- victronenergy/venus wiki, page "dbus" ("List of available services and their paths"):
  "SI units are used for all measurements, with these exceptions: Energy is in kWh and
  temperature is in degrees Celsius." Solar chargers (com.victronenergy.solarcharger):
  /Pv/V, /Yield/Power, /Dc/0/Voltage, /Dc/0/Current, /Dc/0/Temperature, /State
  (0=Off 2=Fault 3=Bulk 4=Absorption 5=Float 6=Storage 7=Equalize 245=Off ... 252=External
  control), /ErrorCode, /History/Daily/0/Yield (kWh). Batteries: /Soc, /Dc/0/Voltage,
  /Dc/0/Current, /Dc/0/Temperature, /ConsumedAmphours, /TimeToGo. Tank levels: /Level (0 to
  100 %), /Remaining (m3), /Capacity (m3), /FluidType (0=Fuel; 1=Fresh water; 2=Waste water;
  3=Live well; 4=Oil; 5=Black water (sewage) ...), /Status (0=Ok; 1=Disconnected; 2=Short
  circuited; 3=Reverse polarity; 4=Unknown; 5=Error).
- victronenergy/dbus-flashmq README: topics are `N/<portal ID>/<service_type>/<device
  instance>/<D-Bus path>`; "The payload of the D-Bus value is wrapped in a dictionary and
  converted to json", e.g. `N/<portal ID>/pvinverter/20/Ac/Power` `{"value": 936}`;
  "A D-Bus value may be invalid ... the payload of the MQTT message will be
  {"value": null}"; when a device disappears "The payload will be empty (zero bytes, so no
  valid JSON)"; settings carry more keys: `{"max":1,"min":0,"value":1}`; the last topic of a
  full publish is `N/<portal ID>/full_publish_completed` with a payload like
  `{"value":1702459522}`.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.ingest import venus as venus_decoder
from collector.ingest.venus import VenusDecoder, VenusDecoderSettings
from devices import venus
from devices.stations import Fleet, Station

PORTAL = "c0619ab1cafe"
GX = Station(
    id="GX-01",
    name="Posto com GX",
    district="Pemba",
    latitude=-12.97,
    longitude=40.52,
    dialect="venus",
    victron_portal_id=PORTAL,
)
FLEET = Fleet(stations=(GX,))
N = f"N/{PORTAL}/"

# (path under N/<portal>/, payload value, kind, field, value in the catalogue's unit)
MAPPED: list[tuple[str, object, str, str, object]] = [
    ("solarcharger/279/Pv/V", 41.27, "solar", "pv_voltage_v", 41.27),
    ("solarcharger/279/Yield/Power", 512, "solar", "pv_power_w", 512),
    ("solarcharger/279/Dc/0/Voltage", 26.4, "solar", "battery_voltage_v", 26.4),
    ("solarcharger/279/Dc/0/Current", 18.2, "solar", "battery_current_a", 18.2),
    ("solarcharger/279/Dc/0/Temperature", 31.5, "solar", "battery_temp_c", 31.5),
    ("solarcharger/279/State", 4, "solar", "charge_state", "absorption"),
    ("solarcharger/279/ErrorCode", 0, "solar", "error_code", 0),
    ("solarcharger/279/History/Daily/0/Yield", 2.345, "solar", "yield_today_wh", 2345.0),
    ("battery/512/Soc", 87.5, "solar", "battery_soc_pct", 87.5),
    ("battery/512/Dc/0/Voltage", 26.38, "solar", "battery_voltage_v", 26.38),
    ("battery/512/Dc/0/Current", -3.1, "solar", "battery_current_a", -3.1),
    ("battery/512/Dc/0/Temperature", 29.0, "solar", "battery_temp_c", 29.0),
    ("tank/20/Level", 64.5, "tank", "level_pct", 64.5),
    ("tank/20/Remaining", 3.225, "tank", "volume_l", 3225.0),
]
# The wiki's /State enum: every code the table maps, and how.
STATES = {0: "off", 245: "off", 2: "fault", 3: "bulk", 4: "absorption", 5: "float", 6: "float"}
STATES[7] = "equalize"
# Paths of the published lists the mapping does not take: ignored and counted, not refused.
UNMAPPED = [
    "solarcharger/279/Pv/I",
    "solarcharger/279/Load/State",
    "solarcharger/279/Yield/User",
    "solarcharger/279/Mode",
    "solarcharger/279/ProductName",
    "battery/512/ConsumedAmphours",
    "battery/512/TimeToGo",
    "battery/512/Dc/0/Power",
    "tank/20/Capacity",
    "tank/20/Standard",
    "system/0/Dc/Battery/Soc",
    "vebus/276/Ac/Out/L1/P",
    "pvinverter/20/Ac/Power",
    "settings/0/Settings/LEDs/Enable",
]


def decoder(**settings: object) -> VenusDecoder:
    return VenusDecoder(VenusDecoderSettings.model_validate(settings), 64 * 1024, FLEET)


def value(v: object) -> bytes:
    return orjson.dumps({"value": v})


def fresh_tank(d: VenusDecoder, at_ms: int = 0) -> None:
    for path, v in ((venus.FLUID_TYPE_PATH, venus.FRESH_WATER), (venus.TANK_STATUS_PATH, 0)):
        assert not d.decode(f"{N}tank/20/{path}", value(v), at_ms).reason


@pytest.mark.parametrize(("path", "raw", "kind", "field", "expected"), MAPPED)
def test_every_mapped_path_decodes_into_its_catalogue_field(
    path: str, raw: object, kind: str, field: str, expected: object
) -> None:
    d = decoder()
    # a full publish without a battery monitor: the charger's battery values are the bank's
    assert not d.decode(f"{N}full_publish_completed", value(1702459522), 0).readings
    if kind == "tank":
        fresh_tank(d, 10)  # a water tank with a sound sensor, heard in the same burst
    result = d.decode(N + path, value(raw), 10)
    assert result.reason == "" and result.station == "GX-01"
    (reading,) = d.flush(10_000)
    service, instance = path.split("/")[:2]
    assert (reading.kind, reading.device, reading.station) == (kind, service + instance, "GX-01")
    assert reading.fields[field] == expected
    assert reading.district == "Pemba" and reading.ts_ms == 10


@pytest.mark.parametrize(("code", "state"), sorted(STATES.items()))
def test_state_codes_map_as_the_table_says(code: int, state: str) -> None:
    d = decoder()
    assert not d.decode(f"{N}solarcharger/279/State", value(code), 0).reason
    assert [r.fields["charge_state"] for r in d.flush(5000)] == [state]


@pytest.mark.parametrize("code", [1, 8, 9, 11, 252, 255])
def test_other_state_codes_are_refused_with_a_reason(code: int) -> None:
    result = decoder().decode(f"{N}solarcharger/279/State", value(code), 0)
    assert (result.reason, f"code {code}" in result.detail) == ("unknown_state", True)


@pytest.mark.parametrize("path", UNMAPPED)
def test_other_paths_are_ignored_and_counted(path: str) -> None:
    d = decoder()
    result = d.decode(N + path, value(1), 0)
    assert result.reason == "" and result.readings == []
    assert d.counts()["ignored"] == 1 and d.flush(10**9) == []


def test_null_and_empty_payloads_are_counted_not_refused() -> None:
    d = decoder()
    assert not d.decode(f"{N}battery/512/Soc", value(None), 0).reason
    assert not d.decode(f"{N}battery/512/Soc", b"", 1).reason
    assert not d.decode(f"{N}battery/512/Dc/0/Voltage", value(25.9), 2).reason
    assert (d.counts()["null"], d.counts()["removed"]) == (1, 1)
    # the null field is left out of the device's reading, its neighbour lands
    assert [r.fields for r in d.flush(5000)] == [{"battery_voltage_v": 25.9}]


def test_values_arriving_together_form_one_reading_and_a_repeat_starts_the_next() -> None:
    d = decoder()
    d.decode(f"{N}battery/512/Soc", value(80.0), 1000)
    d.decode(f"{N}battery/512/Dc/0/Voltage", value(26.0), 1300)
    done = d.decode(f"{N}battery/512/Soc", value(79.5), 1400).readings  # the same path again
    assert [(r.ts_ms, dict(r.fields)) for r in done] == [
        (1000, {"battery_soc_pct": 80.0, "battery_voltage_v": 26.0})
    ]
    assert d.flush(2399) == []  # its window (1 s from its first value) is still open
    assert [(r.ts_ms, dict(r.fields)) for r in d.flush(2400)] == [(1400, {"battery_soc_pct": 79.5})]


def test_full_publish_completed_closes_every_reading_of_its_portal() -> None:
    d = decoder()
    d.decode(f"{N}battery/512/Soc", value(80.0), 0)
    done = d.decode(f"{N}full_publish_completed", value(1702459522), 5).readings
    assert [r.device for r in done] == ["battery512"] and d.counts()["full_publish"] == 1


def test_a_battery_monitor_is_the_battery_the_chargers_dc_values_are_not_taken() -> None:
    d = decoder()
    burst = [  # a full publish, the charger's values first
        ("solarcharger/279/Pv/V", 41.0),
        ("solarcharger/279/Dc/0/Voltage", 23.1),
        ("solarcharger/279/Dc/0/Current", 4.0),
        ("solarcharger/279/Dc/0/Temperature", 30.0),
        ("battery/512/Soc", 28.0),
        ("battery/512/Dc/0/Voltage", 23.3),
    ]
    for path, v in burst:
        assert not d.decode(N + path, value(v), 0).reason
    done = d.decode(f"{N}full_publish_completed", value(1702459522), 5).readings
    assert {r.device: dict(r.fields) for r in done} == {
        "solarcharger279": {"pv_voltage_v": 41.0},
        "battery512": {"battery_soc_pct": 28.0, "battery_voltage_v": 23.3},
    }
    assert d.counts()["superseded"] == 3
    # the monitor disappears (zero bytes): the charger's values are the battery's again
    d.decode(f"{N}battery/512/Soc", b"", 2000)
    d.decode(f"{N}solarcharger/279/Dc/0/Voltage", value(23.2), 2001)
    assert [dict(r.fields) for r in d.flush(5000)] == [{"battery_voltage_v": 23.2}]
    assert d.counts()["superseded"] == 3


def test_a_chargers_battery_values_wait_until_it_is_known_whether_a_monitor_exists() -> None:
    d = decoder()
    settle = venus_decoder.MONITOR_SETTLE_MS
    # no full publish yet (e.g. an old dbus-mqtt sends no marker): held back, then taken
    d.decode(f"{N}solarcharger/279/Pv/V", value(40.0), 0)
    d.decode(f"{N}solarcharger/279/Dc/0/Voltage", value(23.1), 0)
    assert [dict(r.fields) for r in d.flush(5000)] == [{"pv_voltage_v": 40.0}]
    assert d.counts()["awaiting_monitor"] == 1
    d.decode(f"{N}solarcharger/279/Dc/0/Voltage", value(23.0), settle)
    assert [dict(r.fields) for r in d.flush(settle + 5000)] == [{"battery_voltage_v": 23.0}]
    assert d.counts()["awaiting_monitor"] == 1 and d.counts()["superseded"] == 0


def test_tanks_of_other_fluids_are_ignored_and_counted() -> None:
    d = decoder()
    d.decode(f"{N}tank/21/FluidType", value(7), 0)  # diesel
    d.decode(f"{N}tank/21/Level", value(40.0), 1)
    d.decode(f"{N}tank/22/Level", value(40.0), 1)  # fluid never heard of
    assert d.flush(5000) == []
    assert (d.counts()["other_fluid"], d.counts()["fluid_unknown"]) == (1, 1)


def test_a_tank_sensor_fault_drops_the_level_and_is_reported() -> None:
    d = decoder()
    d.decode(f"{N}tank/20/FluidType", value(1), 0)
    d.decode(f"{N}tank/20/Status", value(2), 0)  # short circuited
    d.decode(f"{N}tank/20/Level", value(100.0), 1)
    d.decode(f"{N}tank/20/Remaining", value(5.0), 1)
    (reading,) = d.flush(5000)
    assert dict(reading.fields) == {"sensor_status": 2}
    assert d.counts()["sensor_fault"] == 2
    assert d.faults() == [{"station": "GX-01", "device": "tank20", "fault": "tank_sensor",
                           "status": 2}]  # fmt: skip
    d.decode(f"{N}tank/20/Status", value(0), 6000)
    d.decode(f"{N}tank/20/Level", value(55.0), 6001)
    assert [dict(r.fields) for r in d.flush(9000)] == [{"sensor_status": 0, "level_pct": 55.0}]
    assert d.faults() == []


@pytest.mark.parametrize(
    ("path", "payload", "reason"),
    [
        ("battery/512/Soc", b"{not json", "malformed_json"),
        ("battery/512/Soc", b"\xff\xfe", "not_utf8"),
        ("battery/512/Soc", b"[80]", "bad_venus"),
        ("battery/512/Soc", b'{"val": 80}', "bad_venus"),
        ("battery/512/Soc", value("80"), "wrong_type"),
        ("battery/512/Soc", value(True), "wrong_type"),
        ("battery/512/Soc", value(180.0), "out_of_range"),
        ("solarcharger/279/ErrorCode", value(1.5), "wrong_type"),
        ("solarcharger/279/State", value("bulk"), "wrong_type"),
        ("tank/20/FluidType", value("fresh"), "wrong_type"),
        ("battery/x1/Soc", value(80.0), "bad_topic"),
        ("battery/512/Soc", b'{"value": ' + b"1" * 70_000 + b"}", "oversized"),
    ],
)
def test_other_malformed_values_are_refused_with_a_reason(
    path: str, payload: bytes, reason: str
) -> None:
    d = decoder()
    result = d.decode(N + path, payload, 0)
    assert result.reason == reason and result.detail and result.station == "GX-01"
    assert d.flush(10**9) == []


def test_extra_keys_beside_the_value_are_taken() -> None:
    d = decoder()  # dbus-flashmq's settings carry "max" and "min" beside "value"
    assert not d.decode(f"{N}battery/512/Soc", b'{"max":100,"min":0,"value":55.0}', 0).reason
    assert [r.fields for r in d.flush(5000)] == [{"battery_soc_pct": 55.0}]


def test_an_unknown_portal_is_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    d = decoder()
    for _ in range(3):
        assert not d.decode("N/0000deadbeef/battery/512/Soc", value(50.0), 0).reason
    assert d.counts()["unknown_portal"] == 3
    assert sum("0000deadbeef" in r.getMessage() for r in caplog.records) == 1


def test_bridge_prefix_filters_and_keepalives() -> None:
    d = decoder(bridge_prefix="gx/")
    assert d.filters() == [f"gx/N/{PORTAL}/#"]
    assert d.owns(f"gx/N/{PORTAL}/battery/512/Soc") and not d.owns(f"N/{PORTAL}/x")
    assert d.keepalives(True) == [(f"gx/R/{PORTAL}/keepalive", b"")]
    ((_, later),) = d.keepalives(False)
    assert orjson.loads(later) == {"keepalive-options": ["suppress-republish"]}


def test_the_table_is_bounded() -> None:
    d = decoder(max_devices=1)
    assert not d.decode(f"{N}battery/512/Soc", value(50.0), 0).reason
    assert d.decode(f"{N}battery/513/Soc", value(50.0), 0).reason == "venus_table_full"


def test_a_quick_gx_never_overwrites_its_last_point() -> None:
    d = decoder()
    d.decode(f"{N}battery/512/Soc", value(50.0), 7)
    first = d.decode(f"{N}battery/512/Soc", value(51.0), 7).readings  # same millisecond
    assert [r.ts_ms for r in first] + [r.ts_ms for r in d.flush(5000)] == [7, 8]


@settings(max_examples=300, deadline=None)
@given(
    rest=st.text(alphabet=st.sampled_from(list("/SocLevlPVDc0_xtank2bry9")), max_size=40),
    payload=st.one_of(
        st.binary(max_size=64),
        st.builds(
            lambda v: orjson.dumps({"value": v}),
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(-(2**63), 2**64 - 1),  # what orjson can write
                st.floats(allow_nan=False),
                st.text(max_size=5),
            ),
        ),
    ),
)
def test_the_decoder_never_raises(rest: str, payload: bytes) -> None:
    d = decoder()
    fresh_tank(d)
    result = d.decode(N + rest, payload, 5)
    assert result.reason == "" or result.detail
    for r in [*result.readings, *d.flush(10**9)]:
        assert r.to_line().startswith(r.kind)
