"""SenmlDecoder.decode never raises, whatever the pack, and accounts for every record."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.ingest.decoded import DecodeLimits, DecodeResult
from collector.ingest.senml import SenmlDecoder
from collector.ingest.senml_fields import names_of
from devices.catalogue import KINDS
from devices.senml_units import BY_UNIT
from devices.stations import load_fleet
from devices.topics import Topic

NOW_MS = int(time.time() * 1000)
LIMITS = DecodeLimits(64 * 1024, 1000, 600_000, 1_577_836_800_000)
DECODER = SenmlDecoder(LIMITS, load_fleet(None))
REASONS = {
    "unknown_kind", "oversized", "bad_senml", "unsupported_version", "must_understand",
    "no_value", "sum_only", "wrong_unit", "unknown_field", "wrong_type", "duplicate_field",
    "out_of_range", "not_finite", "ts_in_future", "ts_before_plausible", "too_many_readings",
}  # fmt: skip
FUZZ = settings(max_examples=200, deadline=None)

kind_names = st.sampled_from(sorted(KINDS))
names = st.sampled_from(sorted({n for k in KINDS for n in names_of(k)})) | st.text(max_size=8)
units = st.sampled_from(sorted({u for m in BY_UNIT.values() for u in m} | {"K", "%EL", "count"}))
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1000, max_value=1000),
)
times = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=NOW_MS / 1000 - 86400, max_value=NOW_MS / 1000),
    st.integers(-3600, 0),
)
anything = st.none() | st.booleans() | numbers | st.text(max_size=6)
record = st.fixed_dictionaries(
    {},
    optional={
        "bn": st.sampled_from(["", "urn:dev:mac:0a1b:", "x/"]) | anything,
        "bt": times | anything,
        "bu": units | anything,
        "bv": numbers | anything,
        "bs": numbers,
        "bver": st.integers(0, 12) | anything,
        "n": names | anything,
        "u": units | anything,
        "v": numbers | anything,
        "vs": st.sampled_from(["float", "bulk", "nope"]) | anything,
        "vb": st.booleans() | anything,
        "vd": st.text(max_size=4),
        "s": numbers,
        "t": times | anything,
        "ut": numbers,
        "x_": anything,
        "other": anything,
    },
)


def topic(kind: str = "solar") -> Topic:
    return Topic("solarwater", "PEMBA-01", kind, "mppt1", "senml")


def check(result: DecodeResult, records: int | None = None) -> None:
    assert all(r.reason in REASONS for r in result.rejects), result.rejects
    for reading in result.readings:
        line = reading.to_line()  # every accepted reading can be written
        assert line.count("\n") == 0
        assert LIMITS.min_ts_ms <= reading.ts_ms <= NOW_MS + LIMITS.max_future_ms
        assert all(not isinstance(v, float) or math.isfinite(v) for v in reading.fields.values())
    if records is not None and not any(r.index < 0 for r in result.rejects):
        # every record is one field of a reading, or refused with its index
        landed = sum(len(r.fields) for r in result.readings)
        assert landed + len(result.rejects) == records
        assert len({r.index for r in result.rejects}) == len(result.rejects)


@FUZZ
@given(payload=st.binary(max_size=1024), kind=st.text(max_size=10) | kind_names)
def test_arbitrary_bytes(payload: bytes, kind: str) -> None:
    check(DECODER.decode(topic(kind), payload, NOW_MS, NOW_MS))


@settings(max_examples=250, deadline=None)
@given(pack=st.lists(record, min_size=1, max_size=10), kind=kind_names)
def test_arbitrary_packs(pack: list[dict[str, Any]], kind: str) -> None:
    payload = json.dumps(pack).encode()
    check(DECODER.decode(topic(kind), payload, NOW_MS, NOW_MS), len(pack))
