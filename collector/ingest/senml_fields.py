"""Which catalogue field a SenML name names, in which units, and what values it takes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from devices.catalogue import get_kind
from devices.kind import DeviceKind, bounds


@dataclass(frozen=True, slots=True)
class FieldName:
    """A name a SenML record may end in, and what it means for the kind's field."""

    field: str
    # SenML unit -> exact factor to the catalogue unit; None (no unit given) maps to 1 where
    # the name is the field's own (its unit is in the name), and is refused for a stem.
    units: Mapping[str | None, Fraction]
    text: bool  # a string field: "vs" only
    switch: bool  # an integer 0/1 field: "vb" too (true = 1)
    integer: bool


def _suffix_free(name: str) -> str:
    """The field name without its unit suffix: `battery_voltage_v` -> `battery_voltage`."""
    return name.rpartition("_")[0]


def _names(kind: DeviceKind) -> dict[str, FieldName]:
    out: dict[str, FieldName] = {}
    for name in kind.field_names:
        info = kind.info[name]
        units = info.senml_units()
        integer = name in kind.int_fields
        common = {
            "text": name in kind.str_fields,
            "switch": integer and bounds(kind.model, name) == (0.0, 1.0),
            "integer": integer,
        }
        # the full name carries the unit: a unit given must be the catalogue's own (factor 1)
        own: dict[str | None, Fraction] = {u: f for u, f in units.items() if f == 1}
        own[None] = Fraction(1)
        out[name] = FieldName(name, own, **common)
        stem = _suffix_free(name)
        if info.unit and units and stem:
            if stem in out or stem in kind.field_names:
                raise ValueError(f"kind {kind.name!r}: SenML name {stem!r} names two fields")
            stem_units: dict[str | None, Fraction] = {u: f for u, f in units.items()}
            out[stem] = FieldName(name, stem_units, **common)
    return out


@cache
def names_of(kind_name: str) -> Mapping[str, FieldName]:
    """The SenML names of a catalogue kind's fields (empty for a kind it lacks)."""
    kind = get_kind(kind_name)
    return _names(kind) if kind is not None else {}


def last_segment(name: str) -> str:
    """What follows the last ':' or '/' of a resolved name (RFC 8428 names are URNs or paths)."""
    return name[max(name.rfind(":"), name.rfind("/")) + 1 :]
