"""Catalogue-wide: every kind's fields are described, drawn, labelled and stored as declared."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest
from pydantic import Field

from collector.alerts import AlertSettings
from collector.alerts.templates import EN, PT, label, to_gsm7
from collector.ingest.decoding import DecodeLimits, JsonDecoder
from dashboards import fleet, station
from dashboards import kind_panels as kp
from dashboards.render import render
from dashboards.templating import STATION_VALUES
from devices import kind_table, schema
from devices.catalogue import KINDS
from devices.fieldinfo import LANGS, Chart, FieldInfo, Text
from devices.kind import DeviceKind, KindFields, bounds, string_choices
from devices.stations import Device, Station, load_fleet
from devices.topics import Topic
from devstack import Influxd
from simulator.kinds import MissingModelError, load_model, model_for
from simulator.scenarios import SCENARIOS, build_scenario
from simulator.station_model import StationModel

Json = dict[str, Any]
GRAFANA = Path(__file__).resolve().parents[1] / ".." / "shared" / "schemas" / "grafana-v11.6"
FIELDS = [(k, n) for k, kind in KINDS.items() for n in kind.field_names]
IDS = [f"{k}.{n}" for k, n in FIELDS]


def _grafana_units() -> frozenset[str]:
    defs = json.loads((GRAFANA / "units.jsonschema.json").read_text())["definitions"]
    return frozenset(d["const"] for d in defs.values() if "const" in d)


@pytest.mark.parametrize(("kind", "name"), FIELDS, ids=IDS)
def test_every_field_is_described(kind: str, name: str) -> None:
    dk = KINDS[kind]
    info = dk.info[name]
    for lang in LANGS:
        assert info.label(lang).strip() and info.short(lang).strip(), lang
    assert info.grafana_unit in _grafana_units()
    lo, hi = bounds(dk.model, name)
    choices = string_choices(dk.model, name)
    if name in dk.str_fields:
        assert info.low is info.high is None
        assert choices is not None and set(info.colors) == set(choices)
    else:
        assert info.unit or info.grafana_unit == "none", "a measured number has a unit"
        assert info.low is not None and info.high is not None and info.low < info.high
        assert lo is None or lo <= info.low
        assert hi is None or info.high <= hi
        assert not info.colors


def test_types_come_from_the_annotations() -> None:
    class Mixed(KindFields):
        count: int | None = Field(None, ge=0)
        mode: Literal["a", "b"] | None = None
        note: str | None = None
        level: float | None = None

    kind = DeviceKind(name="mixed", model=Mixed)
    assert kind.int_fields == {"count"} and kind.str_fields == {"mode", "note"}
    fields = kind.fields({"count": 3, "mode": "a", "note": "x", "level": 2})
    assert fields == {"count": 3, "mode": "a", "note": "x", "level": 2.0}
    assert [type(v) for v in fields.values()] == [int, str, str, float]
    assert KINDS["solar"].int_fields == {"error_code"}
    assert KINDS["solar"].str_fields == {"charge_state"}


class _Two(KindFields):
    a: float | None = Field(None, ge=0, le=10)
    s: Literal["on", "off"] | None = None


def _num(**changes: Any) -> FieldInfo:
    base: Json = {"unit": "V", "grafana_unit": "volt", "low": 0, "high": 10}
    names: Json = {"label": Text("A", "A"), "short": Text("a", "a")}
    return FieldInfo(**{**names, **base, **changes})


def _text(**changes: Any) -> FieldInfo:
    base: Json = {"unit": "", "grafana_unit": "none", "colors": {"on": "green", "off": "red"}}
    return FieldInfo(label=Text("S", "S"), short=Text("s", "s"), **{**base, **changes})


@pytest.mark.parametrize(
    ("info", "needle"),
    [
        ({"a": _num()}, r"missing \['s'\]"),
        ({"a": _num(), "s": _text(), "b": _num()}, r"unknown \['b'\]"),
        ({"a": _num(high=11), "s": _text()}, "beyond the validation bounds"),
        ({"a": _num(low=None), "s": _text()}, "needs a display range"),
        ({"a": _num(), "s": _text(low=0, high=1)}, "a string field has no display range"),
        ({"a": _num(), "s": _text(colors={"on": "green"})}, "colours"),
        ({"a": _num(), "s": _text(colors={}, chart=Chart(style="state"))}, "a state chart"),
        ({"a": _num(steps=(("red", None), ("green", 5.0), ("blue", 2.0))), "s": _text()}, "ascend"),
        ({"a": _num(chart=Chart(with_field="x")), "s": _text()}, "drawn with"),
        ({"a": _num(chart=Chart(headline="gauge")), "s": _text()}, "percentage"),
    ],
)
def test_incoherent_field_info_is_refused_in_one_line(
    info: dict[str, FieldInfo], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle) as err:
        DeviceKind(name="two", model=_Two, info=info)
    assert "\n" not in str(err.value)
    DeviceKind(name="two", model=_Two, info={"a": _num(), "s": _text()})  # the coherent one


# --- the dashboards: each kind gets its panels, titled by the catalogue's labels ----------


def _panels(board: Json) -> list[Json]:
    return list(board["panels"])


def _reads(query: str, measurement: str) -> bool:
    """The query reads `measurement`, raw or at the range's resolution (`"$rp"."m"`)."""
    return f'FROM "{measurement}"' in query or f'FROM "$rp"."{measurement}"' in query


def _drawn(board: Json, measurement: str) -> dict[str, Json]:
    """Field name -> the panel over time whose query selects it from `measurement`."""
    out: dict[str, Json] = {}
    for p in _panels(board):
        if p["type"] not in ("timeseries", "state-timeline"):
            continue
        for t in p["targets"]:
            if _reads(t["query"], measurement):
                for name in KINDS[measurement].field_names:
                    if f'("{name}")' in t["query"]:
                        out.setdefault(name, p)
    return out


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_gets_its_panels(kind: str, lang: Literal["pt", "en"]) -> None:
    board = render(station.build(lang))
    dk = KINDS[kind]
    drawn = _drawn(board, dk.measurement)
    charted = {n for n, i in dk.info.items() if i.chart.style != "none"}
    assert charted and charted <= set(drawn), sorted(charted - set(drawn))
    for name, info in dk.info.items():
        if name not in charted:
            continue
        p = drawn[name]
        partner = next((n for n, i in dk.info.items() if i.chart.with_field == name), None)
        owner = dk.info[partner] if partner else info
        assert p["title"].startswith(owner.label(lang)), (name, p["title"])
        if info.chart.style == "state":
            assert p["type"] == "state-timeline"
            (mapping,) = p["fieldConfig"]["defaults"]["mappings"]
            colors = {v: o["color"] for v, o in mapping["options"].items()}
            assert colors == dict(info.colors)
            continue
        if partner is None:
            defaults = p["fieldConfig"]["defaults"]
            assert defaults["unit"] == info.grafana_unit, name
            custom = defaults["custom"]
            assert (custom["axisSoftMin"], custom["axisSoftMax"]) == (info.low, info.high)
            if info.steps:
                got = [(s["color"], s["value"]) for s in defaults["thresholds"]["steps"]]
                assert got == list(info.steps), name
        else:  # on its partner's panel: its own unit, on the right axis, if it differs
            units = {
                prop["value"]
                for o in p["fieldConfig"]["overrides"]
                if name in o["matcher"]["options"]
                for prop in o["properties"]
                if prop["id"] == "unit"
            }
            assert units == (
                {info.grafana_unit} if info.grafana_unit != owner.grafana_unit else set()
            )
        if info.chart.headline:
            (head,) = [q for q in _panels(board) if q["title"] == info.label(lang)]
            assert head["type"] == info.chart.headline
            assert f'last("{name}")' in head["targets"][0]["query"]


@pytest.mark.parametrize("lang", LANGS)
def test_fleet_board_shows_every_fleet_field(lang: Literal["pt", "en"]) -> None:
    board = render(fleet.build(lang))
    (table,) = [
        p for p in _panels(board) if p["type"] == "table" and p["title"] in ("Stations", "Estações")
    ]
    assert not table.get("transformations")
    renames = {
        o["matcher"]["options"]: prop["value"]
        for o in table["fieldConfig"]["overrides"]
        for prop in o["properties"]
        if prop["id"] == "displayName"
    }
    shown = [(k, n, i) for k in KINDS.values() for n, i in k.info.items() if i.chart.fleet]
    assert shown
    for kind, name, info in shown:
        assert renames[name] == info.label(lang)
        assert any(f'last("{name}")' in t["query"] for t in table["targets"])
        series = [
            p
            for p in _panels(board)
            if p["type"] == "timeseries"
            and _reads(p["targets"][0]["query"], kind.measurement)
            and f'("{name}")' in p["targets"][0]["query"]
        ]
        assert len(series) == 1 and info.label(lang) in series[0]["title"]


def test_station_variable_covers_every_kind() -> None:
    for m in schema.READING_MEASUREMENTS:
        assert f'"{m}"' in STATION_VALUES
    assert set(schema.READING_MEASUREMENTS) == {k.measurement for k in KINDS.values()}


# --- alert texts: the catalogue's short labels, GSM-7 safe ---------------------------------


@pytest.mark.parametrize(("kind", "name"), FIELDS, ids=IDS)
def test_alert_labels_come_from_the_catalogue(kind: str, name: str) -> None:
    info = KINDS[kind].info[name]
    for lang in (PT, EN):
        text, unit = label(lang, name, kind)
        assert text == info.short(lang.code)
        assert unit == info.sms_unit()
        # without the kind, the label of the first kind that has the field
        first = next(k for k in KINDS.values() if name in k.field_names)
        assert label(lang, name) == label(lang, name, first.name)
        assert "?" not in to_gsm7(unit), "an SMS cannot carry the unit"


# --- a reading with every field: decoder -> real InfluxDB -> the same values and types ----


def _full_reading(kind: DeviceKind) -> dict[str, Any]:
    """A value for every field of the kind: inside the display range, of the declared type."""
    out: dict[str, Any] = {}
    for i, (name, info) in enumerate(kind.info.items()):
        choices = string_choices(kind.model, name)
        if choices is not None:
            out[name] = choices[-1]
        elif name in kind.int_fields:
            assert info.high is not None
            out[name] = int(info.high) - 1
        elif name in kind.str_fields:
            out[name] = "text " + name
        else:
            assert info.low is not None and info.high is not None
            # a fraction that float formatting could get wrong, and one integral value
            out[name] = 7 if i == 0 else info.low + (info.high - info.low) / 3
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_field_round_trips_through_influxdb(
    influxd: Influxd, fresh_db: str, kind: str
) -> None:
    dk = KINDS[kind]
    now_ms = int(time.time() * 1000)
    decoder = JsonDecoder(
        DecodeLimits(64 * 1024, 1000, 600_000, 1_577_836_800_000), load_fleet(None)
    )
    values = _full_reading(dk)
    payload = orjson.dumps({"ts": now_ms / 1000, **values})
    topic = Topic("solarwater", "PEMBA-01", kind, "dev1", "telemetry")
    result = decoder.decode(topic, payload, now_ms, now_ms)
    assert not result.rejects
    (reading,) = result.readings
    influxd.write([reading.to_line()], fresh_db)
    (row,) = influxd.query(f'SELECT * FROM "{dk.measurement}"', db=fresh_db)
    assert row.pop("time") == now_ms
    assert {k: row.pop(k) for k in (schema.STATION, schema.DEVICE, schema.DISTRICT)} == {
        schema.STATION: "PEMBA-01", schema.DEVICE: "dev1", schema.DISTRICT: "Pemba",
    }  # fmt: skip
    assert row == values and set(row) == set(dk.field_names)
    keys = influxd.query_raw(f'SHOW FIELD KEYS FROM "{dk.measurement}"', db=fresh_db)
    types = dict(keys["results"][0]["series"][0]["values"])
    for name in dk.field_names:
        want = (
            "string" if name in dk.str_fields else "integer" if name in dk.int_fields else "float"
        )
        assert types[name] == want, name


def test_the_contract_lists_every_field_with_its_type() -> None:
    readme = (Path(__file__).resolve().parents[1] / "docs" / "contract.md").read_text()
    for kind, name in FIELDS:
        dk = KINDS[kind]
        kind_type = (
            "string" if name in dk.str_fields else "integer" if name in dk.int_fields else "float"
        )
        rows = [r for r in readme.splitlines() if r.startswith(f"| {kind} | `{name}` |")]
        assert len(rows) == 1 and rows[0].endswith(f"| {kind_type} |"), (kind, name, rows)


class _Lamps(KindFields):
    lights_on: Literal["on", "off"] | None = None
    load_power_w: float | None = Field(None, ge=0, le=2000)
    lamps_failed: int | None = Field(None, ge=0, le=100)


LAMPS = DeviceKind(
    name="lamps",
    model=_Lamps,
    info={
        "lights_on": _text(chart=Chart(style="state", agg="last")),
        "load_power_w": _num(
            unit="W", grafana_unit="watt", high=500, label=Text("Consumo", "Lamp load")
        ),
        "lamps_failed": _num(
            unit="",
            grafana_unit="none",
            label=Text("Lâmpadas avariadas", "Lamps failed"),
            chart=Chart(agg="max", headline="stat", fleet="max"),
        ),
    },
)


def test_a_new_kind_needs_no_dashboard_code() -> None:
    """A kind the dashboards have never seen gets its panels from its field info alone."""
    placed = list(kp.kind_series(LAMPS, "en", "x = 1"))
    assert [p.panel.title for p in placed] == ["S", "Lamp load", "Lamps failed"]
    queries = [p.panel.targets[0].query for p in placed]
    assert all('FROM "lamps" WHERE x = 1' in q for q in queries)
    assert ['last("lights_on")' in queries[0], 'mean("load_power_w")' in queries[1]] == [True] * 2
    head = kp.headline(LAMPS, "lamps_failed", "pt")
    assert (
        head.panel.title == "Lâmpadas avariadas"
        and 'last("lamps_failed")' in head.panel.targets[0].query
    )
    worst = kp.worst(LAMPS, "lamps_failed", "en")
    assert (
        worst.panel.title == "Highest lamps failed"
        and 'max("lamps_failed")' in worst.panel.targets[0].query
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_has_a_simulator_model(kind: str) -> None:
    """Its module simulator/kinds/<kind>.py, whose readings carry every field, valid."""
    dk = KINDS[kind]
    assert model_for(kind).kind == kind
    station = Station(
        id="SIM-01", name="sim", district="Pemba", latitude=-12.97, longitude=40.52,
        devices=(Device(kind=kind, id=dk.device, sizes=dk.sizes()),),
    )  # fmt: skip
    model = StationModel(station, 3, interval_s=600, start=1_750_000_200)
    seen: set[str] = set()
    for k in range(6 * 24 * 2):  # two days, so a day's and a night's values both show
        (fields,) = model.step_devices(1_750_000_200 + k * 600).values()
        dk.validate(fields)
        seen |= {n for n, v in fields.items() if v is not None}
    assert seen == set(dk.field_names)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kinds_rules_and_scenarios_are_shipped(kind: str) -> None:
    dk = KINDS[kind]
    defaults = AlertSettings().rules
    for name, rule in dk.rules.items():
        assert defaults[name].kind == kind and defaults[name].condition == rule["condition"]
        for lang in LANGS:  # each title fits an SMS with room for the rest
            assert 0 < len(defaults[name].title[lang]) <= 40, (name, lang)
    for name in model_for(kind).scenarios:
        assert name in SCENARIOS
        build_scenario(name, ["SIM-01", "SIM-02"])


def test_a_kind_without_a_simulator_module_is_refused() -> None:
    with pytest.raises(MissingModelError, match="kind 'lamps' has no simulator module"):
        load_model("lamps")


def test_the_kind_table_is_written_from_the_catalogue() -> None:
    """`python -m devices.kind_table` prints the rows the README test looks for."""
    rows = kind_table.rows()
    assert len(rows) == len(FIELDS)
    for row, (kind, name) in zip(rows, FIELDS, strict=True):
        dk = KINDS[kind]
        kind_type = (
            "string" if name in dk.str_fields else "integer" if name in dk.int_fields else "float"
        )
        assert row.startswith(f"| {kind} | `{name}` |") and row.endswith(f"| {kind_type} |")
    assert "| solar | `battery_current_a` | −500–500 | float |" in rows
    assert (
        "| solar | `charge_state` | `off`, `bulk`, `absorption`, `float`, `equalize`, `fault`"
        " | string |" in rows
    )
