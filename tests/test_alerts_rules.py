"""Rule config, the condition language, the engine's state machine and the alert texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from collector.alerts import AlertSettings
from collector.alerts.condition import ConditionError, parse_condition
from collector.alerts.durations import format_duration, parse_duration
from collector.alerts.engine import RuleEngine, kept_fields
from collector.alerts.messages import Messages
from collector.alerts.model import Alert
from collector.alerts.rules import fields_by_kind
from collector.alerts.templates import GSM7, SMS_MAX
from collector.ingest.readings import Reading
from devices.stations import load_fleet
from devices.sun import solar_elevation_deg

FLEET = load_fleet()
T0 = 1_750_000_020_000
MIN = 60_000


def solar(station: str, ts: int, **fields: Any) -> Reading:
    return Reading(station, FLEET.district_of(station), "solar", "mppt1", ts, None, fields)


def errors_of(cfg: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as exc:
        AlertSettings.model_validate(cfg)
    return str(exc.value)


def test_defaults_are_the_documented_rules() -> None:
    s = AlertSettings()
    assert list(s.rules) == [
        "battery_low", "battery_critical", "tank_low", "tank_empty", "controller_fault",
        "tank_sensor_fault", "security_lights_off", "battery_forecast_low", "water_forecast_low",
        "tank_leak_suspected", "catchment_blocked", "station_silent", "device_clock_skew",
    ]  # fmt: skip
    low = s.rules["battery_low"]
    assert (low.condition, low.clear, low.for_) == (
        "battery_soc_pct < 50", "battery_soc_pct > 60", 900.0
    )  # fmt: skip
    assert s.rules["battery_critical"].for_ == 300 and s.rules["tank_low"].for_ == 1800
    assert s.rules["station_silent"].for_ == 1800
    skew = s.rules["device_clock_skew"]
    assert (skew.type, skew.beyond, skew.for_) == ("clock_skew", 300, 1800)
    assert s.language == "pt"


def test_user_rules_merge_over_the_defaults() -> None:
    s = AlertSettings.model_validate(
        {"rules": {"battery_low": {"for": "10m"}, "pv_dead": {"kind": "solar",
                   "condition": "pv_power_w < 1", "for": "3h"}}}
    )  # fmt: skip
    assert s.rules["battery_low"].for_ == 600
    assert s.rules["battery_low"].condition == "battery_soc_pct < 50"  # kept
    assert s.rules["pv_dead"].for_ == 3 * 3600 and "tank_empty" in s.rules


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        ({"rules": {"x": {"kind": "solar", "condition": "battery_soc_pct <"}}}, "at the end"),
        ({"rules": {"x": {"kind": "solar", "condition": "level_pct < 3"}}}, "no field 'level_pct'"),
        ({"rules": {"x": {"kind": "tank"}}}, "needs a 'condition'"),
        ({"rules": {"x": {"kind": "wind", "condition": "a < 1"}}}, "'kind' must be one of"),
        ({"rules": {"battery_low": {"for": "soon"}}}, "bad duration 'soon'"),
        ({"rules": {"battery_low": {"stations": {"PEMBA-01": {"clear": "x > 1"}}}}},
         "stations.PEMBA-01.clear"),
        ({"rules": {"Bad Name": {}}}, "must match"),
        ({"rules": {"battery_low": {"beyond": "5m"}}}, "only a clock_skew rule takes 'beyond'"),
        ({"rules": {"skew": {"type": "clock_skew"}}}, "needs 'beyond' > 0"),
        ({"rules": {"device_clock_skew": {"kind": "solar"}}}, "takes no kind, condition"),
        ({"routes": [{"name": "r", "districts": ["Pemba"], "notifiers": ["sms"]}]},
         "unknown notifier 'sms'"),
        ({"notifiers": {"m": {"type": "email", "host": "h"}},
          "routes": [{"name": "r", "districts": ["Pemba"], "notifiers": ["m"]}]},
         "no emails are listed"),
        ({"notifiers": {"p": {"type": "pager"}}},
         "unknown type 'pager'; known: email, mqtt, sms_modem, webhook"),
        ({"notifiers": {"w": {"type": "webhook", "url": "ftp://x"}}}, "must be http"),
        ({"fallback": {"recipients": {"phones": ["12ab"]}}}, "not a phone number"),
        ({"language": "fr"}, "language must be one of pt, en"),
        ({"templates": {"firing": "{station} {nope}"}}, "unknown placeholder {nope}"),
        ({"api_token_file": "/nonexistent/token"}, "api_token_file /nonexistent/token"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_bad_config_is_refused_with_a_reason(cfg: dict[str, Any], expected: str) -> None:
    assert expected in errors_of(cfg)


def test_secret_from_file(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text("file-8e2c7a9d4b1f6e3a0c5d\n")
    s = AlertSettings.model_validate({"api_token_file": str(f)})
    assert s.api_token is not None
    assert s.api_token.get_secret_value() == "file-8e2c7a9d4b1f6e3a0c5d"
    assert "not both" in errors_of({"api_token": "a", "api_token_file": str(f)})


def test_condition_language() -> None:
    c = parse_condition("battery_soc_pct < 30 or battery_voltage_v < 23.4", "solar")
    assert c.test({"battery_soc_pct": 40.0, "battery_voltage_v": 25.0}) is False
    assert c.test({"battery_soc_pct": 40.0, "battery_voltage_v": 23.0}) is True
    assert c.test({"battery_soc_pct": 40.0}) is False  # absent fields are left out
    assert c.test({"pv_power_w": 10.0}) is None  # nothing to say
    assert c.witness({"battery_voltage_v": 23.0}).field == "battery_voltage_v"
    f = parse_condition('(charge_state == "fault" or error_code != 0) and pv_power_w >= 0', "solar")
    assert f.test({"charge_state": "fault", "pv_power_w": 5.0}) is True
    assert f.test({"charge_state": "float", "error_code": 0, "pv_power_w": 5.0}) is False
    for bad in [
        "", "battery_soc_pct", "battery_soc_pct < 'x'", "charge_state > \"fault\"",
        '__import__("os").system("x")', "battery_soc_pct < 1 and", "(battery_soc_pct < 1",
        "battery_soc_pct < 1 )", "battery_soc_pct = 1", "1 < battery_soc_pct",
    ]:  # fmt: skip
        with pytest.raises(ConditionError):
            parse_condition(bad, "solar")


_COMPARISONS = [
    "battery_soc_pct < 30", "battery_voltage_v >= 23.4", "error_code != 0",
    'charge_state == "fault"', "pv_power_w > 0", "load_power_w <= 100",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    picks=st.lists(st.sampled_from(_COMPARISONS), min_size=1, max_size=5),
    joins=st.lists(st.sampled_from([" and ", " or "]), min_size=4, max_size=4),
    values=st.fixed_dictionaries(
        {},
        optional={
            "battery_soc_pct": st.floats(0, 100),
            "battery_voltage_v": st.floats(20, 30),
            "error_code": st.integers(0, 3),
            "charge_state": st.sampled_from(["bulk", "fault", "float"]),
            "pv_power_w": st.floats(0, 10),
        },
    ),
)
def test_compiled_condition_answers_as_the_tree(
    picks: list[str], joins: list[str], values: dict[str, Any]
) -> None:
    text = picks[0] + "".join(j + p for j, p in zip(joins, picks[1:], strict=False))
    c = parse_condition(text, "solar")
    assert c.test(values) is c.root.test(values)


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400 and parse_duration(90) == 90
    assert parse_duration("0") == 0 and parse_duration("250ms") == 0.25
    for bad in ("-5", "5x", "m", True):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert format_duration(16 * 60 + 5) == "16 min"
    assert format_duration(2 * 3600 + 600) == "2 h 10 min"


def engine(cfg: dict[str, Any] | None = None) -> RuleEngine:
    return RuleEngine(AlertSettings.model_validate(cfg or {}).rules, FLEET, 3600)


def test_overrides_by_chemistry_district_and_station() -> None:
    cfg = {
        "rules": {
            "battery_low": {
                "chemistries": {"lifepo4": {"condition": "battery_soc_pct < 25",
                                            "clear": "battery_soc_pct > 40"}},
                "districts": {"Montepuez": {"for": "1h"}},
                "stations": {"IBO-01": {"enabled": False}},
            }
        }
    }  # fmt: skip
    e = engine(cfg)
    lifepo4 = next(s for s in FLEET.stations if s.size("battery_chemistry") == "lifepo4")
    lead = next(s for s in FLEET.stations if s.size("battery_chemistry") == "lead_acid")

    def low(station: str) -> Any:
        return next(r for r in e.rules_for(station, "solar") if r.name == "battery_low")

    assert str(low(lifepo4.id).condition) == "battery_soc_pct < 25"
    assert str(low(lead.id).condition) == "battery_soc_pct < 50"
    assert low("MONTEPUEZ-01").for_ms == 3600_000
    assert all(r.name != "battery_low" for r in e.rules_for("IBO-01", "solar"))


def test_fields_alerting_reads_include_overrides() -> None:
    rules = AlertSettings.model_validate(
        {"rules": {"battery_low": {"stations": {"PEMBA-02": {"condition": "battery_temp_c > 50"}}}}}
    ).rules
    need = fields_by_kind(rules)
    assert need["tank"] == {"level_pct", "sensor_status"}
    assert need["solar"] == {
        "battery_soc_pct", "battery_voltage_v", "charge_state", "error_code", "battery_temp_c"
    }  # fmt: skip


def test_engine_for_duration_and_hysteresis_in_device_time() -> None:
    e = engine()
    for m in range(15):
        e.observe(solar("PEMBA-02", T0 + m * MIN, battery_soc_pct=45.0))
    assert [t.rule.name for t in e.evaluate(0)] == []
    e.observe(solar("PEMBA-02", T0 + 15 * MIN, battery_soc_pct=45.0))
    (t,) = e.evaluate(0)
    assert (t.state, t.rule.name, t.ts_ms, t.since_ms) == (
        "firing",
        "battery_low",
        T0 + 15 * MIN,
        T0,
    )
    e.observe(solar("PEMBA-02", T0 + 16 * MIN, battery_soc_pct=58.0))  # in the band
    assert e.evaluate(0) == []
    e.observe(solar("PEMBA-02", T0 + 17 * MIN, battery_soc_pct=61.0))
    (t,) = e.evaluate(0)
    assert (t.state, t.ts_ms, t.value) == ("resolved", T0 + 17 * MIN, 61.0)


def test_out_of_order_and_duplicate_readings_never_rewind() -> None:
    e = engine()
    e.observe(solar("PEMBA-02", T0 + 60 * MIN, battery_soc_pct=80.0))
    for m in range(30):  # an old backlog all below the threshold, arriving after
        e.observe(solar("PEMBA-02", T0 + m * MIN, battery_soc_pct=10.0))
    e.observe(solar("PEMBA-02", T0 + 60 * MIN, battery_soc_pct=10.0))  # a duplicate
    assert e.evaluate(0) == [] and e.out_of_order == 31
    e.observe(solar("PEMBA-02", T0 + 61 * MIN, battery_soc_pct="oops"))
    assert e.observe_errors == 1  # counted, never raised


def test_stale_state_waits_for_the_rest_of_its_backlog() -> None:
    e = engine()
    e.observe(solar("PEMBA-01", T0 + 600 * MIN, battery_soc_pct=90.0))  # fleet time
    for m in range(30):  # first chunk of PEMBA-02's backlog ends low, 9 h behind
        e.observe(solar("PEMBA-02", T0 + m * MIN, battery_soc_pct=20.0))
    assert [t.rule.name for t in e.evaluate(0) if t.rule.name != "station_silent"] == []
    for m in range(30, 600):  # the second chunk shows it recovered
        e.observe(solar("PEMBA-02", T0 + m * MIN, battery_soc_pct=90.0))
    assert [t.rule.name for t in e.evaluate(0) if t.rule.name != "station_silent"] == []


def test_healthy_devices_keep_no_rule_state() -> None:
    e = engine()
    for i, station in enumerate(s.id for s in FLEET.stations):
        e.observe(solar(station, T0 + i, battery_soc_pct=80.0, battery_voltage_v=26.0,
                        charge_state="float", error_code=0))  # fmt: skip
    assert e.tracked == 0  # healthy devices cost a timestamp each, no state per rule
    e.observe(solar("PEMBA-02", T0 + MIN, battery_soc_pct=45.0))
    assert e.tracked == 1  # battery_low only: battery_critical's condition does not hold


def test_a_state_keeps_only_the_fields_its_rule_reads() -> None:
    e = engine()
    e.observe(solar("PEMBA-02", T0, battery_soc_pct=45.0, battery_voltage_v=24.1,
                    charge_state="bulk", error_code=0, pv_power_w=120.0))  # fmt: skip
    ((key, s),) = e._keys.items()
    assert key[2] == "battery_low" and "pv_power_w" not in s.rule.reads
    assert len(s.fields or ()) == len(s.rule.reads)
    assert kept_fields(s) == {"battery_soc_pct": 45.0}
    # and a restart's snapshot carries the same, by name
    (row,) = e.snapshot()["keys"]
    assert row[-1] == {"battery_soc_pct": 45.0}


def test_restored_alert_resolves_after_a_restart_with_or_without_its_snapshot() -> None:
    before = engine()
    for m in range(16):
        before.observe(solar("PEMBA-02", T0 + m * MIN, battery_soc_pct=45.0))
    (fired,) = before.evaluate(0)
    key = ("PEMBA-02", "mppt1", "battery_low")
    assert (fired.state, fired.station, fired.device, fired.rule.name) == ("firing", *key)
    snap = before.snapshot()
    for restored in (True, False):
        after = engine()
        if restored:
            after.restore(snap)
        after.restore_active(key)  # the open alert, from the store
        after.observe(solar("PEMBA-02", T0 + 20 * MIN, battery_soc_pct=55.0))  # in the band
        assert [t.state for t in after.evaluate(0)] == []
        after.observe(solar("PEMBA-02", T0 + 21 * MIN, battery_soc_pct=61.0))
        (t,) = after.evaluate(0)
        assert (t.state, t.rule.name, t.ts_ms) == ("resolved", "battery_low", T0 + 21 * MIN)


def messages(language: str) -> Messages:
    return Messages(AlertSettings.model_validate({"language": language}), FLEET)


@settings(max_examples=300, deadline=None)
@given(
    station=st.sampled_from([s.id for s in FLEET.stations] + ["X" * 64]),
    rule=st.sampled_from(list(AlertSettings().rules)),
    language=st.sampled_from(["pt", "en"]),
    event=st.sampled_from(["firing", "reminder", "resolved"]),
    value=st.floats(0, 100000, allow_nan=False),
    duration=st.floats(0, 400 * 86400),
    alert_id=st.integers(1, 10**9),
)
def test_sms_texts_fit_one_gsm7_message(
    station: str, rule: str, language: str, event: str, value: float, duration: float,
    alert_id: int,
) -> None:  # fmt: skip
    m = messages(language)
    a = Alert(
        id=alert_id, station=station, district=FLEET.district_of(station), device="mppt1",
        rule=rule, severity="critical", state="firing", since_ms=T0, fired_ms=T0, value=value,
        threshold="< 23,4", message="", detail=f"bateria {value:.1f} V (< 23,4 V)",
        resolved_detail="nível 35% (> 30%)",
    )  # fmt: skip
    text = m.text(event, a, duration, T0 + int(duration * 1000))
    sms = m.sms(text)
    assert len(sms) <= SMS_MAX and set(sms) <= GSM7
    assert station[:20] in sms


def test_texts_name_station_district_value_threshold_and_duration() -> None:
    m = messages("pt")
    a = Alert(
        id=7, station="MOCIMBOA-01", district="Mocímboa da Praia", device="mppt1",
        rule="battery_critical", severity="critical", state="firing", since_ms=T0,
        fired_ms=T0, value=23.1, threshold="< 23,4", message="",
        detail="bateria 23,1 V (< 23,4 V)",
    )  # fmt: skip
    text = m.text("firing", a, 47 * 60, T0 + 47 * MIN)
    assert text.startswith("CRÍTICO Bateria crítica: MOCIMBOA-01 (Mocímboa da Praia)")
    assert "23,1 V (< 23,4 V) há 47 min" in text and text.endswith("#7")
    assert m.sms(text).startswith("CRITICO Bateria critica: MOCIMBOA-01 (Mocimboa da Praia)")
    en = messages("en").text("resolved", a, 3 * 3600, T0)
    assert en.startswith("RESOLVED Battery critical: MOCIMBOA-01") and "lasted 3 h" in en


NIGHT_RULE = {
    "rules": {
        "dark_and_idle": {
            "kind": "solar",
            "condition": "is_night == 1 and load_power_w < 10",
            "for": "10m",
            "severity": "warning",
        }
    }
}


def _civil_dusk_ms(station: str, day_start_ms: int) -> int:
    """The minute the sun sinks below -6° at the station, found from its elevation."""
    reg = FLEET.get(station)
    assert reg is not None
    for m in range(12 * 60, 24 * 60):
        ts = day_start_ms + m * MIN
        if solar_elevation_deg(ts / 1000, reg.latitude, reg.longitude) < -6:
            return ts
    raise AssertionError("no dusk")


def test_night_variable_is_judged_on_the_stations_own_dusk() -> None:
    rules = AlertSettings.model_validate(NIGHT_RULE).rules
    assert rules["dark_and_idle"].context() == {"is_night"}
    assert fields_by_kind(rules)["solar"] >= {"load_power_w"}
    assert "is_night" not in fields_by_kind(rules)["solar"]  # not a field readings carry
    midnight = 1_750_024_800_000  # 2025-06-16T00:00+02:00, Maputo
    # Palma (east) gets dark before Negomano (west): over a degree of longitude apart
    east, west = "PALMA-01", "NEGOMANO-BP"
    assert FLEET.get(east) is not None and FLEET.get(west) is not None
    dusk_e, dusk_w = _civil_dusk_ms(east, midnight), _civil_dusk_ms(west, midnight)
    assert dusk_e < dusk_w
    for station, dusk in ((east, dusk_e), (west, dusk_w)):
        e = RuleEngine(rules, FLEET, 3600)
        # idle all afternoon and evening: nothing until 10 minutes after its own dusk
        for m in range(-120, 30):
            e.observe(solar(station, dusk + m * MIN, load_power_w=0.0))
            fired = [t for t in e.evaluate(0) if t.rule.name == "dark_and_idle"]
            if m < 10:
                assert fired == [], (station, m)
            elif fired:
                assert m == 10 and fired[0].since_ms == dusk, (station, m)
                assert fired[0].witness is not None and fired[0].witness.field == "load_power_w"
                break
        else:
            raise AssertionError(f"{station}: never fired after dusk")


def test_night_condition_gives_no_answer_without_coordinates() -> None:
    e = RuleEngine(AlertSettings.model_validate(NIGHT_RULE).rules, FLEET, 3600)
    midnight = 1_750_024_800_000
    for m in range(60):
        ts = midnight + m * MIN  # night at every station of the fleet
        e.observe(
            Reading("NOT-REGISTERED", None, "solar", "mppt1", ts, None, {"load_power_w": 0.0})
        )
        e.observe(solar("PEMBA-02", ts, load_power_w=0.0))
    fired = {(t.station, t.rule.name) for t in e.evaluate(0)}
    assert ("PEMBA-02", "dark_and_idle") in fired
    assert all(st != "NOT-REGISTERED" for st, _ in fired)


def test_night_variable_in_the_condition_language() -> None:
    cond = parse_condition('is_night == 1 and charge_state == "off"', "solar")
    assert cond.fields == {"charge_state"} and cond.context == {"is_night"}
    assert cond.test({"charge_state": "off"}) is None  # not placed in time: no answer
    assert cond.test({"charge_state": "off", "is_night": 1}) is True
    assert cond.test({"charge_state": "off", "is_night": 0}) is False
    assert cond.witness({"charge_state": "off", "is_night": 1}).field == "charge_state"
    with pytest.raises(ConditionError, match="is_night"):  # the error lists it as known
        parse_condition("is_dark == 1", "solar")


def test_group_rules_name_known_rules() -> None:
    assert AlertSettings().group_rules == ("station_silent", "alert_digest")
    assert "group_rules: unknown rule 'station_silnt'" in errors_of(
        {"group_rules": ["station_silnt"]}
    )
