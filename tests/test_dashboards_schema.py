"""Generated dashboards against Grafana 11.6's JSON Schemas, and the rules we set ourselves."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dashboards.build import render_all
from devices.catalogue import KINDS
from tests.conftest import SHARED_SCHEMAS

Json = dict[str, Any]
GRAFANA = SHARED_SCHEMAS / "grafana-v11.6"
BOARDS = render_all()
PANELS = [(uid, p) for uid, b in BOARDS.items() for p in b["panels"]]
PANEL_IDS = [f"{uid}:{p['title']}" for uid, p in PANELS]
needs_schemas = pytest.mark.skipif(
    not GRAFANA.is_dir(), reason=f"Grafana schemas not found at {GRAFANA} (../shared/schemas)"
)


def _open(schema: Any) -> Any:
    """The schema with `additionalProperties: false` removed.

    Grafana's models are open (the schemas' README): Grafana accepts and keeps fields the schema
    does not list, so only required fields, types and enums are checked. Once open, the
    alternatives of a `oneOf` that differed only by their closed property sets overlap (table
    cell options carry no discriminator), so `oneOf` is read as `anyOf`.
    """
    if isinstance(schema, dict):
        return {
            ("anyOf" if k == "oneOf" else k): _open(v)
            for k, v in schema.items()
            if not (k == "additionalProperties" and v is False)
        }
    if isinstance(schema, list):
        return [_open(v) for v in schema]
    return schema


@cache
def _schema(name: str) -> Json:
    schema: Json = _open(json.loads((GRAFANA / name).read_text()))
    threshold = schema["definitions"].get("Threshold")
    if threshold:
        # the base step is -Infinity, which Grafana itself writes as null (see the field's doc)
        threshold["properties"]["value"] = {"type": ["number", "null"]}
    # `any` in Grafana's TypeScript model, rendered as `object` by the schema generator: a
    # byName/byRegexp matcher takes a string and a `unit` override a string, as Grafana saves them
    for name, prop in (("MatcherConfig", "options"), ("DynamicConfigValue", "value")):
        if name in schema["definitions"]:
            schema["definitions"][name]["properties"][prop] = {}
    return schema


def _validate(instance: Any, file: str, definition: str) -> None:
    schema = _schema(file)
    ref = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    jsonschema.Draft7Validator(ref).validate(instance)


def _schema_file(panel_type: str) -> Path:
    return GRAFANA / f"{panel_type.replace('-', '')}.jsonschema.json"


@needs_schemas
@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_dashboard_matches_grafana_schema(uid: str) -> None:
    _validate(BOARDS[uid], "dashboard.jsonschema.json", "Dashboard")


@needs_schemas
@pytest.mark.parametrize(("uid", "panel"), PANELS, ids=PANEL_IDS)
def test_panel_matches_grafana_schemas(uid: str, panel: Json) -> None:
    _validate(panel, "dashboard.jsonschema.json", "Panel")
    path = _schema_file(panel["type"])
    assert path.exists(), f"no schema for panel type {panel['type']}"
    definitions = _schema(path.name)["definitions"]
    _validate(panel["options"], path.name, "Options")
    custom = panel["fieldConfig"]["defaults"].get("custom")
    if "FieldConfig" in definitions:
        _validate(custom or {}, path.name, "FieldConfig")
    else:
        assert not custom, f"{panel['type']} has no field config of its own"


@cache
def _units() -> frozenset[str]:
    defs = json.loads((GRAFANA / "units.jsonschema.json").read_text())["definitions"]
    return frozenset(d["const"] for d in defs.values() if "const" in d)


def _units_of(panel: Json) -> list[str]:
    units = [panel["fieldConfig"]["defaults"].get("unit", "none")]
    for override in panel["fieldConfig"].get("overrides", []):
        units += [p["value"] for p in override["properties"] if p["id"] == "unit"]
    return units


@needs_schemas
@pytest.mark.parametrize(("uid", "panel"), PANELS, ids=PANEL_IDS)
def test_units_are_grafana_units(uid: str, panel: Json) -> None:
    assert set(_units_of(panel)) <= _units(), _units_of(panel)


BASE_UIDS = [
    "solarwater-alerts",
    "solarwater-collector",
    "solarwater-fleet",
    "solarwater-station",
    "solarwater-water",
]


def test_uids_are_stable() -> None:
    """Portuguese keeps the uids links already point at; English gets `-en`."""
    assert sorted(BOARDS) == sorted(BASE_UIDS + [f"{u}-en" for u in BASE_UIDS])
    assert all(b["uid"] == uid for uid, b in BOARDS.items())


def _queries(board: Json) -> list[tuple[str, str]]:
    out = [(p["type"], t["query"]) for p in board["panels"] for t in p["targets"]]
    out += [(v["name"], v["query"]) for v in board["templating"]["list"]]
    out += [("annotation", a["target"]["query"]) for a in board["annotations"]["list"][1:]]
    return out


def _texts(board: Json) -> set[str]:
    return {board["title"], *(p["title"] for p in board["panels"])}


@pytest.mark.parametrize("uid", BASE_UIDS)
def test_portuguese_and_english_boards_run_the_same_queries(uid: str) -> None:
    pt, en = BOARDS[uid], BOARDS[f"{uid}-en"]
    assert _queries(pt) == _queries(en)
    assert [p["gridPos"] for p in pt["panels"]] == [p["gridPos"] for p in en["panels"]]
    # every title is translated, except where the words are the same in both (MQTT)
    same = _texts(pt) & _texts(en)
    assert same <= {"MQTT"}, same
    assert "pt" in pt["tags"] and "en" in en["tags"]


# Panels drawing values over time leave a bucket without data empty (a gap), or 0 for
# per-interval totals drawn as bars; alert states hold between transitions (not samples).
GROUP_BY_TIME = re.compile(r"GROUP BY time\([^)]*\)[^)]*?(?:fill\((\w+)\)|(?=\)|$))")
DRAWN = {"timeseries", "state-timeline"}


@pytest.mark.parametrize(("uid", "panel"), PANELS, ids=PANEL_IDS)
def test_gaps_are_drawn_as_gaps(uid: str, panel: Json) -> None:
    for t in panel["targets"]:
        fills = [m.group(1) for m in GROUP_BY_TIME.finditer(t["query"])]
        assert all(fills), f"a GROUP BY time without an explicit fill(): {t['query']}"
        if panel["type"] in DRAWN:
            allowed = {"null", "0"} if panel["type"] == "timeseries" else {"null", "previous"}
            # what is drawn is the outer query's buckets; an inner one may skip empty buckets
            # (fill(none): a row per station and bucket otherwise, 8.5M rows over a year)
            assert fills[-1] in allowed, (panel["title"], fills)
            assert set(fills[:-1]) <= allowed | {"none"}, (panel["title"], fills)
            if "previous" in fills:
                assert 'FROM "events"."alert"' in t["query"], "only alert states hold between"
            if "0" in fills:
                assert panel["fieldConfig"]["defaults"]["custom"]["drawStyle"] == "bars"
    if panel["type"] == "timeseries":
        assert panel["fieldConfig"]["defaults"]["custom"]["spanNulls"] is False


# InfluxQL 1.x cannot join `tank` (captured, rain) with `station_info` (roof area) into one row;
# docs/dashboards.md lists this panel as the one untested transformation.
UNTESTED = {"Catchment efficiency by station", "Eficiência de captação por estação"}


@pytest.mark.parametrize(("uid", "panel"), PANELS, ids=PANEL_IDS)
def test_no_grafana_transformations_but_the_documented_one(uid: str, panel: Json) -> None:
    if panel["title"] in UNTESTED:
        assert [t["id"] for t in panel["transformations"]] == [
            "joinByField",
            "calculateField",
            "calculateField",
        ]
    else:
        assert not panel.get("transformations"), panel["title"]


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_grafanalib_gaps_are_filled(uid: str) -> None:
    board = BOARDS[uid]
    assert board["schemaVersion"] >= 39
    text = json.dumps(board)
    assert '"null"' not in text, "a threshold or value written as the string 'null'"
    assert "fieldOptions" not in text, "pre-7 gauge options"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for p in board["panels"]:
        points = p["maxDataPoints"]
        assert isinstance(points, int) and points > 0, p["title"]
        assert points != 100, f"{p['title']}: grafanalib's default maxDataPoints left in"
        assert p["datasource"] == {"type": "influxdb", "uid": "solarwater-influxdb"}
        for t in p["targets"]:
            assert t["rawQuery"] is True and t["datasource"] == p["datasource"]
        if p["type"] in {"gauge", "bargauge", "stat"}:
            assert p["options"]["reduceOptions"]["calcs"], p["title"]


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_thresholds_are_ascending_from_a_null_base(uid: str) -> None:
    for p in BOARDS[uid]["panels"]:
        configs = [p["fieldConfig"]["defaults"]["thresholds"]] + [
            prop["value"]
            for o in p["fieldConfig"]["overrides"]
            for prop in o["properties"]
            if prop["id"] == "thresholds"
        ]
        for config in configs:
            steps = config["steps"]
            assert steps[0]["value"] is None, p["title"]
            values = [s["value"] for s in steps[1:]]
            assert all(isinstance(v, int | float) for v in values), p["title"]
            assert values == sorted(values), p["title"]


def test_state_of_charge_is_red_below_30_and_yellow_below_50() -> None:
    soc_panels = [
        p
        for _, p in PANELS
        if "SoC" in p["title"] and p["fieldConfig"]["defaults"]["unit"] == "percent"
    ]
    assert len(soc_panels) >= 3
    for p in soc_panels:
        steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [(s["color"], s["value"]) for s in steps] == [
            ("red", None),
            ("yellow", 30),
            ("green", 50),
        ], p["title"]


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_panels_fit_the_grid_without_overlap(uid: str) -> None:
    taken: set[tuple[int, int]] = set()
    for p in BOARDS[uid]["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        cells = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & taken, f"{p['title']} overlaps another panel"
        taken |= cells


@pytest.mark.parametrize("uid", ["solarwater-fleet", "solarwater-fleet-en"])
def test_geomap_places_stations_by_coordinates(uid: str) -> None:
    (geo,) = [p for p in BOARDS[uid]["panels"] if p["type"] == "geomap"]
    layer = geo["options"]["layers"][0]
    assert layer["location"] == {"mode": "coords", "latitude": "latitude", "longitude": "longitude"}
    assert layer["config"]["style"]["color"]["field"] == "rank"
    assert [t["resultFormat"] for t in geo["targets"]] == ["table"]
    assert 'FROM "station_state"' in geo["targets"][0]["query"]


def test_station_variable_and_alert_annotations() -> None:
    board = BOARDS["solarwater-station"]
    (var,) = [v for v in board["templating"]["list"] if v["name"] == "station"]
    # every kind's measurement: a station that sent only tank readings is listed too
    kinds = ", ".join(f'"{k}"' for k in KINDS)
    assert var["query"] == f'SHOW TAG VALUES FROM {kinds} WITH KEY = "station"'
    assert kinds.startswith('"solar", "tank"')
    # one or several stations, no All: the board opens on the first station
    assert var["multi"] and not var["includeAll"]
    assert var["current"]["value"] == ""
    for p in board["panels"]:
        for t in p["targets"]:
            assert '"station" =~ /^$station$/' in t["query"], p["title"]
    anno = board["annotations"]["list"][1]
    assert anno["datasource"]["type"] == "influxdb"
    assert 'FROM "events"."alert"' in anno["target"]["query"]
    assert "$station" in anno["target"]["query"] and "$timeFilter" in anno["target"]["query"]
