"""The msgspec Structs take the messages they can vouch for, and change no decision."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

from collector.ingest import decoding
from collector.ingest.decoding import DecodeLimits, DecodeResult, JsonDecoder
from collector.ingest.wire_structs import wire_decoder
from devices.catalogue import KINDS
from devices.kind import DeviceKind, KindFields
from devices.stations import load_fleet
from devices.topics import Topic
from tests.test_kind_fastcheck import any_value, valid_value

NOW_MS = int(time.time() * 1000)
LIMITS = DecodeLimits(64 * 1024, 1000, 600_000, 1_577_836_800_000)
DECODER = JsonDecoder(LIMITS, load_fleet(None))
GENERAL = JsonDecoder(LIMITS, load_fleet(None), structs=False)  # the decoder without Structs
DEVICE = {"solar": "mppt1", "tank": "tank1", "lighting": "lighting1"}
good_ts = st.one_of(
    st.floats(NOW_MS / 1000 - 86_400 * 30, NOW_MS / 1000),
    st.integers(NOW_MS // 1000 - 86_400 * 30, NOW_MS // 1000),
    st.sampled_from(["2026-01-01T09:00:00.250+02:00", "2026-03-01T00:00:00Z"]),
)
any_ts = good_ts | st.sampled_from([None, True, "yesterday", 1e12, -5, 2**70, 1.5e9, "1e400"])


def topic(kind: str) -> Topic:
    return Topic("solarwater", "PEMBA-01", kind, DEVICE[kind], "telemetry")


@st.composite
def valid_reading(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A reading the Structs must accept: some of the kind's fields, valid values, ts and seq."""
    own = KINDS[kind].field_names
    names = draw(st.lists(st.sampled_from(own), unique=True, min_size=1))
    doc: dict[str, Any] = {n: draw(valid_value(kind, n)) for n in names}
    if draw(st.booleans()):
        doc["ts"] = draw(good_ts)
    if draw(st.booleans()):
        doc["seq"] = draw(st.integers(0, 2**63 - 1))
    return doc


@st.composite
def spoiled(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A valid reading with one thing the general path must judge: a null, a bad value..."""
    doc = draw(valid_reading(kind))
    what = draw(st.sampled_from(["null", "value", "ts", "seq", "extra", "empty"]))
    name = draw(st.sampled_from(KINDS[kind].field_names))
    if what == "null":
        doc[name] = None
    elif what == "value":
        doc[name] = draw(any_value(kind, name))
    elif what == "ts":
        doc["ts"] = draw(any_ts)
    elif what == "seq":
        doc["seq"] = draw(st.sampled_from([-1, 2**63, 2**64, 1.0, "1", None, True]))
    elif what == "extra":
        doc[draw(st.text(max_size=6))] = 1
    else:
        doc = {k: v for k, v in doc.items() if k in ("ts", "seq")}
    return doc


def message(items: list[dict[str, Any]], batch: bool) -> bytes:
    return json.dumps({"readings": items} if batch else items[0]).encode()


def lines(result: DecodeResult) -> list[str | None]:
    return [r.line for r in result.readings]


def agree(kind: str, payload: bytes) -> DecodeResult:
    """The decoder's result is the general path's alone, lines included."""
    fast = DECODER.decode(topic(kind), payload, NOW_MS, NOW_MS)
    general = GENERAL.decode(topic(kind), payload, NOW_MS, NOW_MS)
    assert fast == general
    assert lines(fast) == lines(general)
    return fast


def test_every_catalogue_kind_has_structs() -> None:
    assert all(wire_decoder(kind) is not None for kind in KINDS.values())


@settings(max_examples=300, deadline=None)
@given(data=st.data(), kind=st.sampled_from(sorted(KINDS)), batch=st.booleans())
def test_valid_messages_take_the_structs_and_agree(
    data: st.DataObject, kind: str, batch: bool
) -> None:
    items = data.draw(st.lists(valid_reading(kind), min_size=1, max_size=1 + 5 * batch))
    payload = message(items, batch)
    wire = wire_decoder(KINDS[kind])
    assert wire is not None and wire.decode(payload) is not None
    result = agree(kind, payload)
    assert len(result.readings) + len(result.rejects) == len(items)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), kind=st.sampled_from(sorted(KINDS)), batch=st.booleans())
def test_spoiled_messages_get_the_general_paths_refusals(
    data: st.DataObject, kind: str, batch: bool
) -> None:
    items = data.draw(st.lists(valid_reading(kind), max_size=3))
    items.insert(data.draw(st.integers(0, len(items))), data.draw(spoiled(kind)))
    agree(kind, message(items, batch or len(items) > 1))


@pytest.mark.parametrize(
    "payload",
    [
        b'{"pv_power_w": 1.5, "pv_power_w": 2.5}',  # a key twice: refused, not last-one-wins
        b'{"readings": [{"pv_power_w": 1}], "readings": [{"pv_power_w": 2}]}',
        b'{"readings": [{"pv_power_w": 1, "ts": 1767254400}, {"pv_power_w": 2, "ts": 1767254400}]}',
        b'{"pv_power_w": 1e400}',
        b'{"pv_power_w": NaN}',
        b'{"pv_power_w": 1, "ts": "2026-01-01T09:00:00"}',
        b'{"charge_state": "bu\\u006ck"}',
        b'{"charge_state": "\\ud800"}',
        b'{"readings": []}',
        b'{"readings": {}}',
        b"[]",
    ],
)
def test_edge_messages_agree(payload: bytes) -> None:
    agree("solar", payload)


def test_common_messages_skip_orjson_and_the_checker(monkeypatch: pytest.MonkeyPatch) -> None:
    def general(*args: Any) -> Any:
        raise AssertionError("the general path was taken")

    monkeypatch.setattr(decoding.orjson, "loads", general)
    monkeypatch.setattr(decoding, "_careful_parse", general)
    one = {"ts": NOW_MS / 1000 - 60, "seq": 3, "pv_power_w": 1.5, "charge_state": "bulk"}
    rfc = {"ts": "2026-01-01T09:00:00.250+02:00", "seq": 4, "error_code": 7}
    batch = {"readings": [{**one, "ts": NOW_MS / 1000 - i} for i in range(1, 50)] + [rfc]}
    for doc, n in ((one, 1), (rfc, 1), (batch, 50)):
        result = DECODER.decode(topic("solar"), json.dumps(doc).encode(), NOW_MS, NOW_MS)
        assert len(result.readings) == n and not result.rejects
    assert result.readings[-1].line is not None and "error_code=7i" in result.readings[-1].line


def test_a_model_beyond_the_structs_stays_on_the_general_path() -> None:
    class Odd(KindFields):
        a: float | None = Field(None, gt=0)  # gt is not expressed

    class Named(KindFields):
        seq: float | None = None  # would shadow the wire's own key

    assert wire_decoder(DeviceKind(name="odd", model=Odd)) is None
    assert wire_decoder(DeviceKind(name="named", model=Named)) is None


def test_a_decoder_told_not_to_format_points_leaves_them_to_to_line() -> None:
    quiet = JsonDecoder(dataclasses.replace(LIMITS, lines=False), load_fleet(None))
    payload = b'{"ts": 1767254400.5, "seq": 9, "pv_power_w": 1.5, "error_code": 2}'
    for decoder in (quiet, JsonDecoder(quiet.limits, load_fleet(None), structs=False)):
        got = decoder.decode(topic("solar"), payload, NOW_MS, NOW_MS)
        want = DECODER.decode(topic("solar"), payload, NOW_MS, NOW_MS)
        assert got == want and [r.line for r in got.readings] == [None]
        assert [r.to_line() for r in got.readings] == lines(want)
