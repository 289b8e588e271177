"""JsonDecoder.decode never raises, whatever the payload, and accounts for every reading."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.ingest import decoding
from collector.ingest.decoding import DecodeLimits, DecodeResult, JsonDecoder
from devices.catalogue import KINDS
from devices.stations import load_fleet
from devices.topics import Topic

NOW_MS = int(time.time() * 1000)
LIMITS = DecodeLimits(64 * 1024, 1000, 600_000, 1_577_836_800_000)
DECODER = JsonDecoder(LIMITS, load_fleet(None))
REASONS = {
    "unknown_kind", "oversized", "not_utf8", "malformed_json", "too_deep", "bad_structure",
    "too_many_readings", "bad_seq", "bad_timestamp", "ts_in_future", "ts_before_plausible",
    "unknown_field", "out_of_range", "not_finite", "no_fields", "wrong_type", "duplicate_field",
    "duplicate_timestamp",
}  # fmt: skip
FUZZ = settings(max_examples=200, deadline=None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
kind_names = st.sampled_from(sorted(KINDS))
field_names = st.sampled_from(sorted({f for k in KINDS.values() for f in k.field_names}))
timestamps = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False),
    st.floats(min_value=1.5e9, max_value=1.8e9),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.text(max_size=30),
    st.booleans(),
)
readings = st.fixed_dictionaries(
    {},
    optional={
        "ts": timestamps,
        "seq": st.one_of(st.integers(-5, 2**64), st.floats(), st.text(max_size=3)),
    },
).flatmap(
    lambda base: st.dictionaries(
        field_names | st.text(max_size=8),
        st.one_of(
            st.floats(),
            st.integers(-(2**65), 2**65),
            st.sampled_from(["float", "bulk", "fault", "nope"]),
            st.booleans(),
            st.none(),
        ),
        max_size=6,
    ).map(lambda f: {**f, **base})
)


def dumps(doc: Any) -> bytes:
    """JSON as a device might send it: big integers, NaN and Infinity tokens included."""
    return json.dumps(doc).encode()


def topic(kind: str = "solar") -> Topic:
    return Topic("solarwater", "PEMBA-01", kind, "mppt1", "telemetry")


def point_values(line: str) -> tuple[str, dict[str, float | int | str], str]:
    """Series key, field values and timestamp of a line whose fields are plain."""
    head, ts = line.rsplit(" ", 1)
    series, field_set = head.rsplit(" ", 1)
    values: dict[str, float | int | str] = {}
    for pair in field_set.split(","):
        key, text = pair.split("=", 1)
        if text.startswith('"'):
            values[key] = text[1:-1]
        elif text.endswith("i"):
            values[key] = int(text[:-1])
        else:
            values[key] = float(text)
    return series, values, ts


def same_point(a: str, b: str) -> bool:
    sa, va, ta = point_values(a)
    sb, vb, tb = point_values(b)
    same_types = all(type(va[k]) is type(vb[k]) for k in va.keys() & vb.keys())
    return (sa, va, ta) == (sb, vb, tb) and list(va) == list(vb) and same_types


def check(result: DecodeResult, items: int | None = None) -> None:
    assert all(r.reason in REASONS for r in result.rejects), result.rejects
    for reading in result.readings:
        line = reading.to_line()  # every accepted reading can be written
        # the decoder's line (orjson's floats) says what the general encoder's says
        assert same_point(line, dataclasses.replace(reading, line=None).to_line())
        assert line.count("\n") == 0
        assert LIMITS.min_ts_ms <= reading.ts_ms <= NOW_MS + LIMITS.max_future_ms
        assert all(not isinstance(v, float) or math.isfinite(v) for v in reading.fields.values())
    if items is not None and not any(r.index < 0 for r in result.rejects):
        # Every reading of the message is either accepted or rejected with its index.
        assert len(result.readings) + len(result.rejects) == items
        assert sorted(r.index for r in result.rejects) == sorted(
            set(r.index for r in result.rejects)
        )


@FUZZ
@given(payload=st.binary(max_size=2048), kind=st.text(max_size=10) | kind_names)
def test_arbitrary_bytes(payload: bytes, kind: str) -> None:
    check(DECODER.decode(topic(kind), payload, NOW_MS, NOW_MS))


@FUZZ
@given(doc=json_values)
def test_arbitrary_json(doc: Any) -> None:
    for payload in (dumps(doc), dumps({"readings": doc})):
        check(DECODER.decode(topic(), payload, NOW_MS, NOW_MS))


@FUZZ
@given(items=st.lists(readings, min_size=1, max_size=8), kind=kind_names, batch=st.booleans())
def test_arbitrary_readings(items: list[dict[str, Any]], kind: str, batch: bool) -> None:
    doc: Any = {"readings": items} if batch or len(items) > 1 else items[0]
    check(DECODER.decode(topic(kind), dumps(doc), NOW_MS, NOW_MS), len(items))


def test_huge_float_timestamp_is_a_reject_not_a_crash() -> None:
    for ts in (1e306, -1e306, 1.7976931348623157e308):
        result = DECODER.decode(topic(), orjson.dumps({"ts": ts, "pv_power_w": 1.0}), 0, NOW_MS)
        assert not result.readings
        assert [r.reason for r in result.rejects] in (["ts_in_future"], ["ts_before_plausible"])


# --- the cheap duplicate check against the careful parse --------------------------------
# JSON text written by hand, so keys can repeat and numbers can overflow a double.
keys = field_names | st.sampled_from(["ts", "seq", "a:b"]) | st.text(max_size=4)
scalar_texts = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(json.dumps),
    st.floats(min_value=1.5e9, max_value=1.8e9).map(json.dumps),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["1e400", "-1e400", "1e-400", "1" + "0" * 400, "true", "null", "0", "3"]),
    st.sampled_from(['"bulk"', '"2026-12-01T09:00:00Z"', '"2026-12-01T09:00:00+02:00"']),
    st.text(max_size=6).map(json.dumps),
)


def render(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


value_texts = st.recursive(
    scalar_texts,
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda vs: "[" + ", ".join(vs) + "]")
        | st.lists(st.tuples(keys, inner), max_size=3).map(render)
    ),
    max_leaves=8,
)
# ("readings" as a key of the message would make it a batch)
reading_pairs = st.lists(st.tuples(keys.filter(lambda k: k != "readings"), value_texts), max_size=6)


@settings(max_examples=400, deadline=None)
@given(items=st.lists(reading_pairs, min_size=1, max_size=5), kind=kind_names, batch=st.booleans())
def test_cheap_duplicate_check_agrees_with_the_careful_parse(
    items: list[list[tuple[str, str]]], kind: str, batch: bool
) -> None:
    texts = [render(pairs) for pairs in items]
    payload = ('{"readings": [' + ", ".join(texts) + "]}" if batch else texts[0]).encode()
    fast = DECODER.decode(topic(kind), payload, NOW_MS, NOW_MS)
    careful = DECODER.decode(topic(kind), payload, NOW_MS, NOW_MS, careful=True)
    assert fast == careful
    check(fast, len(items) if batch else 1)
    # a key given twice in a reading is refused, never last-one-wins
    for index, pairs in enumerate(items if batch else items[:1]):
        if len({k for k, _ in pairs}) < len(pairs):
            assert (index, "duplicate_field") in {(r.index, r.reason) for r in fast.rejects}


def test_common_messages_skip_the_careful_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def careful(payload: bytes) -> Any:
        raise AssertionError(f"careful parse taken for {payload!r}")

    monkeypatch.setattr(decoding, "_careful_parse", careful)
    epoch = {"ts": NOW_MS / 1000 - 60, "seq": 3, "pv_power_w": 1.5, "charge_state": "bulk"}
    rfc3339 = {"ts": "2026-01-01T09:00:00.250+02:00", "battery_soc_pct": 40}
    batch = {"readings": [{**epoch, "ts": NOW_MS / 1000 - i} for i in range(1, 50)] + [rfc3339]}
    for doc, n in ((epoch, 1), (rfc3339, 1), (batch, 50)):
        result = DECODER.decode(topic(), orjson.dumps(doc), NOW_MS, NOW_MS)
        assert len(result.readings) == n and not result.rejects
