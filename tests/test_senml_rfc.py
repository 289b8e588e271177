"""The example packs of RFC 8428 §5.1 resolve as the RFC resolves them (§4.6, §5.1.4).

Each pack is quoted from the RFC's text (JSON representation, section 5.1); the expected
resolved records follow the rules the RFC states and, for §5.1.3, the RFC's own resolved
form in §5.1.4.
"""

from __future__ import annotations

from typing import Any

import pytest

from collector.ingest.senml_resolve import PackError, resolve

# A receive time well after 2**28, so "now" (a time below 2**28) is told apart.
NOW = 1_790_000_000.0
DEV = "urn:dev:ow:10e2073a01080063"


def resolved(pack: list[dict[str, Any]], now: float = NOW) -> list[dict[str, Any]]:
    return [r.to_json() for r in resolve(pack, now)]


def test_5_1_1_single_data_point_taken_now() -> None:
    # "The following shows a temperature reading taken approximately "now" by a 1-wire
    # sensor device that was assigned the unique 1-wire address of 10e2073a01080063:"
    pack = [{"n": "urn:dev:ow:10e2073a01080063", "u": "Cel", "v": 23.1}]
    assert resolved(pack) == [{"n": DEV, "u": "Cel", "t": NOW, "v": 23.1}]


def test_5_1_2_multiple_data_points_base_name_concatenated() -> None:
    # "The following example shows voltage and current "now", i.e., at an unspecified time."
    pack = [
        {"bn": "urn:dev:ow:10e2073a01080063:", "n": "voltage", "u": "V", "v": 120.1},
        {"n": "current", "u": "A", "v": 1.2},
    ]
    assert resolved(pack) == [
        {"n": DEV + ":voltage", "u": "V", "t": NOW, "v": 120.1},
        {"n": DEV + ":current", "u": "A", "t": NOW, "v": 1.2},
    ]


def test_5_1_2_base_time_base_unit_and_relative_times() -> None:
    # "...it shows current at Tue Jun 8 18:01:16.001 UTC 2010 and at each second for the
    # previous 5 seconds." (bver 5 is below ours, 10: the pack is used.)
    pack = [
        {"bn": "urn:dev:ow:10e2073a0108006:", "bt": 1.276020076001e09,
         "bu": "A", "bver": 5, "n": "voltage", "u": "V", "v": 120.1},
        {"n": "current", "t": -5, "v": 1.2},
        {"n": "current", "t": -4, "v": 1.3},
        {"n": "current", "t": -3, "v": 1.4},
        {"n": "current", "t": -2, "v": 1.5},
        {"n": "current", "t": -1, "v": 1.6},
        {"n": "current", "v": 1.7},
    ]  # fmt: skip
    got = resolved(pack)
    name = "urn:dev:ow:10e2073a0108006:"
    # chronological (§4.6): the five earlier currents first, then voltage and current at bt
    assert [(r["n"], r["u"], r["v"]) for r in got] == [
        (name + "current", "A", 1.2),
        (name + "current", "A", 1.3),
        (name + "current", "A", 1.4),
        (name + "current", "A", 1.5),
        (name + "current", "A", 1.6),
        (name + "voltage", "V", 120.1),
        (name + "current", "A", 1.7),
    ]
    bt = 1276020076.001
    assert [r["t"] for r in got] == pytest.approx([bt - 5, bt - 4, bt - 3, bt - 2, bt - 1, bt, bt])


# §5.1.3 "Multiple Measurements", quoted.
MULTIPLE_MEASUREMENTS = [
    {"bn": "urn:dev:ow:10e2073a01080063", "bt": 1.320067464e09, "bu": "%RH", "v": 20},
    {"u": "lon", "v": 24.30621},
    {"u": "lat", "v": 60.07965},
    {"t": 60, "v": 20.3},
    {"u": "lon", "t": 60, "v": 24.30622},
    {"u": "lat", "t": 60, "v": 60.07965},
    {"t": 120, "v": 20.7},
    {"u": "lon", "t": 120, "v": 24.30623},
    {"u": "lat", "t": 120, "v": 60.07966},
    {"u": "%EL", "t": 150, "v": 98},
    {"t": 180, "v": 21.2},
    {"u": "lon", "t": 180, "v": 24.30628},
    {"u": "lat", "t": 180, "v": 60.07967},
]
# §5.1.4 "Resolved Data": "the example from the previous section in resolved format", quoted.
RESOLVED_DATA = [
    {"n": DEV, "u": "%RH", "t": 1.320067464e09, "v": 20},
    {"n": DEV, "u": "lon", "t": 1.320067464e09, "v": 24.30621},
    {"n": DEV, "u": "lat", "t": 1.320067464e09, "v": 60.07965},
    {"n": DEV, "u": "%RH", "t": 1.320067524e09, "v": 20.3},
    {"n": DEV, "u": "lon", "t": 1.320067524e09, "v": 24.30622},
    {"n": DEV, "u": "lat", "t": 1.320067524e09, "v": 60.07965},
    {"n": DEV, "u": "%RH", "t": 1.320067584e09, "v": 20.7},
    {"n": DEV, "u": "lon", "t": 1.320067584e09, "v": 24.30623},
    {"n": DEV, "u": "lat", "t": 1.320067584e09, "v": 60.07966},
    {"n": DEV, "u": "%EL", "t": 1.320067614e09, "v": 98},
    {"n": DEV, "u": "%RH", "t": 1.320067644e09, "v": 21.2},
    {"n": DEV, "u": "lon", "t": 1.320067644e09, "v": 24.30628},
    {"n": DEV, "u": "lat", "t": 1.320067644e09, "v": 60.07967},
]


def test_5_1_3_resolves_to_exactly_the_resolved_data_of_5_1_4() -> None:
    assert resolved(MULTIPLE_MEASUREMENTS) == RESOLVED_DATA


def test_5_1_5_multiple_data_types_keep_their_value_fields() -> None:
    # "The following example shows a sensor that returns different data types."
    pack = [
        {"bn": "urn:dev:ow:10e2073a01080063:", "n": "temp", "u": "Cel", "v": 23.1},
        {"n": "label", "vs": "Machine Room"},
        {"n": "open", "vb": False},
        {"n": "nfv-reader", "vd": "aGkgCg"},
    ]
    assert resolved(pack) == [
        {"n": DEV + ":temp", "u": "Cel", "t": NOW, "v": 23.1},
        {"n": DEV + ":label", "t": NOW, "vs": "Machine Room"},
        {"n": DEV + ":open", "t": NOW, "vb": False},
        {"n": DEV + ":nfv-reader", "t": NOW, "vd": "aGkgCg"},
    ]


def test_5_1_6_a_later_base_name_applies_with_the_first_base_time() -> None:
    # "Note that the last record would use the Base Name from the 3rd record but the Base
    # Time from the first record."
    pack = [
        {"bn": "2001:db8::2/", "bt": 1.320078429e09, "n": "temperature", "u": "Cel", "v": 25.2},
        {"n": "humidity", "u": "%RH", "v": 30},
        {"bn": "2001:db8::1/", "n": "temperature", "u": "Cel", "v": 12.3},
        {"n": "humidity", "u": "%RH", "v": 67},
    ]
    t = 1.320078429e09
    assert resolved(pack) == [
        {"n": "2001:db8::2/temperature", "u": "Cel", "t": t, "v": 25.2},
        {"n": "2001:db8::2/humidity", "u": "%RH", "t": t, "v": 30},
        {"n": "2001:db8::1/temperature", "u": "Cel", "t": t, "v": 12.3},
        {"n": "2001:db8::1/humidity", "u": "%RH", "t": t, "v": 67},
    ]


def test_5_1_7_base_unit_and_a_time_a_tenth_of_a_second_later() -> None:
    # "...Then 100 ms in the future, both lights will go off at the same time."
    pack = [
        {"bt": 1.320078429e09, "bu": "/", "n": "2001:db8::3", "v": 0.5},
        {"n": "2001:db8::4", "v": 0.5},
        {"n": "2001:db8::3", "t": 0.1, "v": 0},
        {"n": "2001:db8::4", "t": 0.1, "v": 0},
    ]
    t = 1.320078429e09
    assert resolved(pack) == [
        {"n": "2001:db8::3", "u": "/", "t": t, "v": 0.5},
        {"n": "2001:db8::4", "u": "/", "t": t, "v": 0.5},
        {"n": "2001:db8::3", "u": "/", "t": t + 0.1, "v": 0},
        {"n": "2001:db8::4", "u": "/", "t": t + 0.1, "v": 0},
    ]


def test_base_value_and_base_sum_are_added_as_4_5_4_says() -> None:
    # "The Base Value and Value are added together to get the value of the measurement."
    # "If only one Base Sum or Sum value is present, the missing field is considered to
    # have a value of zero."
    pack = [{"bn": "x:", "bv": 20, "bs": 100, "n": "a", "v": 1.5}, {"n": "b", "s": 5}]
    got = resolved(pack)
    assert got[0] == {"n": "x:a", "t": NOW, "v": 21.5, "s": 100}
    assert got[1] == {"n": "x:b", "t": NOW, "s": 105}


def test_a_negative_time_below_2_28_is_seconds_before_now() -> None:
    # §4.5.3: "A negative value indicates seconds in the past from roughly "now"."
    assert resolved([{"n": "x", "t": -300, "v": 1}])[0]["t"] == NOW - 300
    # "Values greater than or equal to 2**28 represent an absolute time"
    assert resolved([{"n": "x", "t": 2**28, "v": 1}])[0]["t"] == 2**28
    assert resolved([{"n": "x", "bt": 2**28 - 1, "v": 1}])[0]["t"] == NOW + 2**28 - 1


@pytest.mark.parametrize(
    ("pack", "reason"),
    [
        # §4.4: "If this value is a version number larger than the version that the system
        # understands, the system MUST NOT use this object."
        ([{"bver": 11, "n": "x", "v": 1}], "unsupported_version"),
        # §4.4: "...unless that field has a label name that ends with the '_' character, in
        # which case an error MUST be generated."
        ([{"n": "x", "v": 1}, {"n": "y", "v": 2, "rev_": 3}], "must_understand"),
        # "All SenML Records in a Pack MUST have the same version number."
        ([{"bver": 5, "n": "x", "v": 1}, {"bver": 6, "n": "y", "v": 2}], "bad_senml"),
        # "The root JSON value consists of an array with one JSON object for each Record."
        ({"n": "x", "v": 1}, "bad_senml"),
        ([], "bad_senml"),
        ([{"n": "x", "v": 1}, 7], "bad_senml"),
        ([{"bt": "yesterday", "n": "x", "v": 1}], "bad_senml"),
    ],
)
def test_packs_the_rfc_says_not_to_use_are_refused_whole(pack: Any, reason: str) -> None:
    with pytest.raises(PackError) as err:
        resolve(pack, NOW)
    assert err.value.reason == reason


def test_an_unknown_label_without_the_underscore_is_ignored() -> None:
    # §4.4: "Implementations MUST ignore fields they don't recognize"
    assert resolved([{"n": "x", "v": 1, "colour": "red"}]) == [{"n": "x", "t": NOW, "v": 1}]


def test_records_without_a_usable_value_or_name_keep_their_place_with_a_reason() -> None:
    pack = [
        {"bn": "dev:", "n": "a"},  # "Exactly one Value field MUST appear unless there is a Sum"
        {"n": "b", "v": 1, "vs": "1"},  # two value fields
        {"n": "c", "v": "12"},  # v is a Number
        {"n": "no space", "v": 1},  # §4.5.1: letters, digits and - : . / _ only
        {"n": "d", "v": 2},
    ]
    got = resolve(pack, NOW)
    assert [(r.index, r.problem[0] if r.problem else None) for r in got] == [
        (0, "no_value"),
        (1, "bad_senml"),
        (2, "bad_senml"),
        (3, "bad_senml"),
        (4, None),
    ]
    assert got[4].name == "dev:d"  # record 0's base name still applies past the refused ones
