"""Readings as a SenML logger sends them: one pack, base name and base time, then offsets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import orjson

from devices.catalogue import get_kind
from devices.kind import FieldValue

# A backlog pack of this many readings stays well under the collector's 64 KiB payload limit
# (a solar reading is ~11 records of ~40 bytes).
BACKLOG_READINGS = 50


@cache
def _names(kind: str) -> Mapping[str, tuple[str, str | None]]:
    """Field -> (SenML name, unit): the name without its unit suffix plus the catalogue unit's
    own SenML symbol where it has one (`battery_voltage` + "V"), else the field's name."""
    dk = get_kind(kind)
    out: dict[str, tuple[str, str | None]] = {}
    if dk is None:
        return out
    for name in dk.field_names:
        info = dk.info[name]
        own = [u for u, f in info.senml_units().items() if f == 1]
        if info.unit and own:
            out[name] = (name.rpartition("_")[0], own[0])
        else:
            out[name] = (name, None)
    return out


def encode(
    base_name: str, kind: str, readings: Sequence[tuple[float, Mapping[str, FieldValue]]]
) -> bytes:
    """The pack of (epoch seconds, fields) readings, oldest first; times are bt + t."""
    names = _names(kind)
    records: list[dict[str, Any]] = []
    bt = readings[0][0] if readings else 0.0
    for ts, fields in readings:
        for field, value in fields.items():
            name, unit = names.get(field, (field, None))
            rec: dict[str, Any] = {"bn": base_name, "bt": bt} if not records else {}
            rec["n"] = name
            if ts != bt:
                rec["t"] = ts - bt
            if unit is not None:
                rec["u"] = unit
            rec["vs" if isinstance(value, str) else "v"] = value
            records.append(rec)
    return orjson.dumps(records)
