"""encode_line round-trips arbitrary names, tags and values through the real InfluxDB."""

from __future__ import annotations

import itertools
import math
import re
import urllib.error
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.catalogue import KINDS
from devices.kind import bounds, string_choices
from devices.lineprotocol import encode_line
from devstack import Influxd

TS0 = 1_600_000_000_000
_ts = itertools.count()

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=10)
# Key prefixes keep tag keys and each field type apart: a field that is a float in one
# example and a string in the next would be a type conflict, not an encoding bug.
field_values: dict[str, Any] = {
    "f": st.floats(allow_nan=False, allow_infinity=False),
    "i": st.integers(-(2**63), 2**63 - 1),
    "s": text,
    "b": st.booleans(),
}
fields = st.one_of(*(st.tuples(st.just(p), text, v) for p, v in field_values.items())).map(
    lambda t: (t[0] + t[1], t[2])
)
point = st.tuples(
    text,
    st.dictionaries(text.map(lambda k: "t" + k), text, max_size=3),
    st.lists(fields, min_size=1, max_size=4).map(dict),
)


def unstorable(name: str) -> bool:
    """The encoder's documented refusals, written out independently."""
    return (
        name == ""
        or "\n" in name
        or "\r" in name
        or name.endswith("\\")
        or any(name[i] == "\\" and name[i + 1] in ',= "' for i in range(len(name) - 1))
    )


def measurement_regex(name: str) -> str:
    """An InfluxQL regex matching exactly `name` (quoted identifiers cannot hold e.g. NUL)."""
    body = "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in name)
    return f"/^{body}$/"


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(points=st.lists(point, min_size=1, max_size=5))
def test_encode_line_round_trips(
    influxd: Influxd, fresh_db: str, points: list[tuple[str, dict[str, str], dict[str, Any]]]
) -> None:
    lines: list[str] = []
    expected: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = {}
    for meas, tags, flds in points:
        ts = TS0 + next(_ts)
        bad = (
            unstorable(meas)
            or meas.startswith(("#", "\t", "\x00"))
            or any(unstorable(k) or unstorable(v) for k, v in tags.items() if v)
            or any(unstorable(k) for k in flds)
        )
        if bad:
            with pytest.raises(ValueError):
                encode_line(meas, tags, flds, ts)
            continue
        lines.append(encode_line(meas, tags, flds, ts))
        kept = {k: v for k, v in tags.items() if v}
        expected.setdefault(meas, []).append((ts, kept, flds))
    if not lines:
        return
    try:
        influxd.write(lines, fresh_db)
    except urllib.error.HTTPError as exc:
        pytest.fail(f"InfluxDB refused {lines!r}: {exc.read().decode()}")
    for meas, want in expected.items():
        lo, hi = min(t for t, _, _ in want), max(t for t, _, _ in want)
        where = f"time >= {lo}ms AND time <= {hi}ms"
        q = f"SELECT * FROM {measurement_regex(meas)} WHERE {where} GROUP BY *"
        answer = influxd.query_raw(q, db=fresh_db)["results"][0].get("series", [])
        got = []
        for series in answer:
            assert series["name"] == meas
            tags = {k: v for k, v in series.get("tags", {}).items() if v}
            for row in series["values"]:
                values = dict(zip(series["columns"], row, strict=True))
                ts = values.pop("time")
                got.append(
                    (ts, tags, {k: _float(k, v) for k, v in values.items() if v is not None})
                )
        assert sorted(got, key=lambda p: p[0]) == want


def _float(key: str, value: Any) -> Any:
    # InfluxDB's JSON writes an integral float without a point (and -0.0 as 0): same float.
    return float(value) if key.startswith("f") else value


@pytest.mark.parametrize(
    ("measurement", "tags", "field_set"),
    [
        ("", {}, {"v": 1.0}),
        ("#m", {}, {"v": 1.0}),
        ("\tm", {}, {"v": 1.0}),
        ("\x00m", {}, {"v": 1.0}),
        ("m\nx", {}, {"v": 1.0}),
        ("m\\", {}, {"v": 1.0}),
        ('a\\"b', {}, {"v": 1.0}),
        ("m", {}, {'v\\"': 1.0}),
        ("m", {"k": "a\\"}, {"v": 1.0}),
        ("m", {"k": "a\\,b"}, {"v": 1.0}),
        ("m", {"k": "a\rb"}, {"v": 1.0}),
        ("m", {"": "v"}, {"v": 1.0}),
        ("m", {"time": "v"}, {"v": 1.0}),
        ("m", {}, {"time": 1.0}),
        ("m", {}, {"": 1.0}),
        ("m", {}, {"v\\": 1.0}),
        ("m", {}, {"v": math.nan}),
        ("m", {}, {"v": math.inf}),
        ("m", {}, {"v": 2**63}),
        ("m", {}, {}),
    ],
)
def test_unstorable_points_are_refused(
    measurement: str, tags: dict[str, str], field_set: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"line protocol|field"):
        encode_line(measurement, tags, field_set, 1)


def test_what_influxdb_stores_as_is(influxd: Influxd, fresh_db: str) -> None:
    line = encode_line("m\tx", {"k": 'a\\b\t"', "e": ""}, {"s": 'x\ny\r"\\', "n": -0.0}, TS0)
    assert "\\n" not in line and "\\t" not in line
    influxd.write([line], fresh_db)
    rows = influxd.query('SELECT * FROM "m\tx"', db=fresh_db)
    assert rows == [{"time": TS0, "k": 'a\\b\t"', "s": 'x\ny\r"\\', "n": 0}]
    assert re.fullmatch(r"m\tx,k=a\\b\t\" s=\"x\ny\r\\\"\\\\\",n=-0.0 \d+", line)


def kind_fields(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """Any field set the kind's checker accepts, through the checker (bounds, types, order)."""
    dk = KINDS[kind]

    def value(name: str) -> st.SearchStrategy[Any]:
        if name in dk.int_fields:
            lo, hi = bounds(dk.model, name)
            return st.integers(int(lo or 0), int(hi if hi is not None else 2**31 - 1))
        if name in dk.str_fields:  # Literal[...] | None: the Literal's choices
            choices = string_choices(dk.model, name)
            assert choices is not None, f"{name}: free text is not in the catalogue yet"
            return st.sampled_from(choices)
        # ordinary and tiny values (within the field's bounds): where repr and orjson differ
        lo, hi = bounds(dk.model, name)
        lo, hi = (-1e6 if lo is None else lo), (1e6 if hi is None else hi)
        tiny = [v for v in (0.0, 1e-7, 2.5e-05, 5e-324) if lo <= v <= hi]
        return st.one_of(
            st.floats(lo, min(hi, lo + 60)),
            st.floats(max(lo, 0), min(hi, max(lo, 0) + 1e-4)),
            st.sampled_from(tiny or [lo]),
        )

    optional = {n: value(n) for n in dk.field_names}
    return (
        st.fixed_dictionaries({}, optional=optional)
        .filter(bool)
        .map(lambda f: {k: v for k, v in dk.fields(f).items()})
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(by_kind=st.fixed_dictionaries({k: st.lists(kind_fields(k), max_size=4) for k in KINDS}))
def test_kind_formatters_round_trip(
    influxd: Influxd, fresh_db: str, by_kind: dict[str, list[dict[str, Any]]]
) -> None:
    """Every kind's orjson formatter: what InfluxDB stores equals the validated fields exactly."""
    written: dict[int, tuple[str, dict[str, Any]]] = {}
    lines = []
    for kind, field_sets in by_kind.items():
        for fields in field_sets:
            ts = TS0 + next(_ts)
            lines.append(f"{kind},station=S1 {KINDS[kind].fields_text(fields)} {ts}")
            written[ts] = (kind, fields)
    if not lines:
        return
    influxd.write(lines, fresh_db)
    for kind in KINDS:
        want = {ts: f for ts, (k, f) in written.items() if k == kind}
        if not want:
            continue
        q = f'SELECT * FROM "{kind}" WHERE time >= {min(want)}ms AND time <= {max(want)}ms'
        series = influxd.query_raw(q, db=fresh_db)["results"][0]["series"][0]
        got = {}
        for row in series["values"]:
            values = dict(zip(series["columns"], row, strict=True))
            ts = values.pop("time")
            got[ts] = {
                k: (float(v) if k not in KINDS[kind].int_fields | KINDS[kind].str_fields else v)
                for k, v in values.items()
                if v is not None and k != "station"
            }
        assert got == want
        # and with the schema's types (InfluxDB's JSON shows 17i and 17.0 alike)
        dk = KINDS[kind]
        keys = influxd.query_raw(f'SHOW FIELD KEYS FROM "{kind}"', db=fresh_db)["results"][0]
        for name, field_type in keys["series"][0]["values"]:
            expect = "integer" if name in dk.int_fields else "float"
            assert field_type == ("string" if name in dk.str_fields else expect), name
