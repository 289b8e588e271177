"""The compiled field checker of each kind agrees with its pydantic model on any input."""

from __future__ import annotations

import math
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, ValidationError, field_validator

from devices.catalogue import KINDS
from devices.kind import DeviceKind, KindFields
from devices.lineprotocol import fields_text

names = sorted({f for k in KINDS.values() for f in k.field_names})
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**80), 2**80),
    st.sampled_from([0, -1, 100, 250, 251, 500, -500, -501, 2**31 - 1, 2**31, 10**400]),
    st.floats(),
    st.sampled_from([0.0, -0.0, 100.0, 100.0000001, -20.0, 80.0, 1e308, math.nan, math.inf]),
    st.sampled_from(["off", "bulk", "float", "fault", "nope", "", "3.5"]),
    st.text(max_size=5),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)


def valid_value(kind: str, name: str) -> st.SearchStrategy[Any]:
    """Values the model accepts for one field (from its own declaration), None included."""
    info = KINDS[kind].model.model_fields[name]
    lo = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
    hi = next((m.le for m in info.metadata if hasattr(m, "le")), None)
    ann = next(a for a in typing.get_args(info.annotation) if a is not type(None))
    if typing.get_origin(ann) is typing.Literal:
        return st.sampled_from(typing.get_args(ann))
    ints = st.integers(lo, hi)
    if ann is int:
        return ints
    return st.floats(lo, hi) | ints | st.sampled_from([lo, hi, -0.0])


def any_value(kind: str, name: str) -> st.SearchStrategy[Any]:
    """Anything for one field, weighted towards what its type gets wrong."""
    info = KINDS[kind].model.model_fields[name]
    lo = next((m.ge for m in info.metadata if hasattr(m, "ge")), 0)
    hi = next((m.le for m in info.metadata if hasattr(m, "le")), 0)
    outside = st.integers(max_value=lo - 1) | st.integers(min_value=hi + 1)
    wrong_kind = st.one_of(st.booleans(), st.text(max_size=6), st.floats(lo, hi), st.integers())
    return st.one_of(outside, outside.map(float), wrong_kind, values)


@st.composite
def readings(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A valid reading in any key order, then maybe faults: bad values or extra keys."""
    own = KINDS[kind].field_names
    fields = draw(st.lists(st.sampled_from(own), unique=True, max_size=12))
    doc = {name: draw(valid_value(kind, name) | st.none()) for name in fields}
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            name = draw(st.sampled_from(own))
            doc[name] = draw(any_value(kind, name))
        else:
            doc[draw(st.sampled_from(names) | st.text(max_size=6))] = draw(values)
    return doc


def pydantic_fields(kind: DeviceKind, doc: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return kind.to_fields(kind.validate(doc))
    except ValidationError:
        return None


def same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Equal with types and order, -0.0 told apart from 0.0."""
    if a is None or b is None:
        return a is b
    return [(k, type(v), repr(v)) for k, v in a.items()] == [
        (k, type(v), repr(v)) for k, v in b.items()
    ]


def check_agreement(kind: str, doc: dict[str, Any]) -> None:
    k = KINDS[kind]
    assert k._fast is not None
    expected = pydantic_fields(k, doc)
    fast = k._fast(dict(doc))
    # JSON inputs carry exact types, so the fast path decides alone: same answer, same dict
    assert same(fast, expected), (fast, expected)
    try:
        got: dict[str, Any] | None = k.fields(dict(doc))
    except ValidationError:
        got = None
    assert same(got, expected)


@settings(max_examples=600)
@given(data=st.data(), kind=st.sampled_from(sorted(KINDS)))
def test_fast_path_agrees_with_pydantic(data: st.DataObject, kind: str) -> None:
    check_agreement(kind, data.draw(readings(kind)))


@pytest.mark.parametrize(
    ("kind", "doc"),
    [
        ("solar", {"pv_power_w": True}),
        ("solar", {"pv_power_w": 10**400}),
        ("solar", {"pv_power_w": 2**1030}),
        ("solar", {"error_code": 3.0}),
        ("solar", {"error_code": 2**31}),
        ("solar", {"charge_state": None, "pv_power_w": None}),
        ("solar", {"error_code": 5, "pv_power_w": 3}),
        ("solar", {"charge_state": "nope", "pv_power_w": 3}),
        ("solar", {"charge_state": "Bulk"}),
        ("solar", {"error_code": -1}),
        ("solar", {"error_code": 3, "pv_power_w": 250.5}),
        ("solar", {"pv_power_w": 3, "extra": 1}),
        ("solar", {"pv_power_w": [3]}),
        ("tank", {"level_pct": math.nan}),
        ("tank", {"level_pct": -math.inf}),
        ("tank", {"level_pct": -0.0, "volume_l": 1_000_000}),
    ],
)
def test_edge_cases_agree(kind: str, doc: dict[str, Any]) -> None:
    check_agreement(kind, doc)


@pytest.mark.parametrize(
    "doc",
    [{}, {"pv_power_w": "1"}, {"pv_power_w": 300.0, "x": 1}, {"charge_state": "nope"}],
)
def test_refusals_carry_pydantic_errors(doc: dict[str, Any]) -> None:
    kind = KINDS["solar"]
    with pytest.raises(ValidationError) as fast:
        kind.fields(doc)
    with pytest.raises(ValidationError) as slow:
        kind.validate(doc)
    assert fast.value.errors(include_context=False) == slow.value.errors(include_context=False)


def test_a_model_beyond_the_checker_stays_on_pydantic() -> None:
    class Odd(KindFields):
        a: float | None = Field(None, gt=0)  # gt is not compiled
        b: str | None = None

    class Checked(KindFields):
        a: float | None = None

        @field_validator("a")
        @classmethod
        def _even(cls, v: float | None) -> float | None:
            if v is not None and v % 2:
                raise ValueError("odd")
            return v

    for model in (Odd, Checked):
        kind = DeviceKind(name="odd", model=model)
        assert kind._fast is None
    with pytest.raises(ValidationError):
        DeviceKind(name="odd", model=Checked).fields({"a": 3.0})
    assert DeviceKind(name="odd", model=Odd).fields({"a": 1}) == {"a": 1.0}


def parsed_fields(text: str) -> list[tuple[str, Any]]:
    """A plain field set's pairs with their values read back as line protocol types."""
    out: list[tuple[str, Any]] = []
    for pair in text.split(","):
        key, value = pair.split("=", 1)
        if value.startswith('"'):
            out.append((key, ("str", value[1:-1])))
        elif value.endswith("i"):
            out.append((key, ("int", int(value[:-1]))))
        else:
            out.append((key, ("float", float(value))))
    return out


@settings(max_examples=300)
@given(data=st.data(), kind=st.sampled_from(sorted(KINDS)))
def test_the_compiled_formatter_writes_what_the_general_one_does(
    data: st.DataObject, kind: str
) -> None:
    k = KINDS[kind]
    try:
        fields = k.fields(data.draw(readings(kind)))
    except ValidationError:
        return
    assert parsed_fields(k.fields_text(fields)) == parsed_fields(fields_text(fields))
    assert "{" not in k.fields_text(fields) and "\x01" not in k.fields_text(fields)
