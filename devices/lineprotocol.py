"""InfluxDB line protocol, built by hand with the escaping rules of the spec."""

from __future__ import annotations

from collections.abc import Mapping

from devices.kind import FieldValue

_MEAS = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_STR = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r"})


def _field(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.translate(_STR) + '"'


def encode_line(
    measurement: str,
    tags: Mapping[str, str | None],
    fields: Mapping[str, FieldValue],
    ts_ms: int,
) -> str:
    """One point; empty/None tags are left out (InfluxDB refuses empty tag values)."""
    if not fields:
        raise ValueError("a point needs at least one field")
    parts = [measurement.translate(_MEAS)]
    for key in sorted(tags):
        value = tags[key]
        if value:
            parts.append(f",{key.translate(_KEY)}={value.translate(_KEY)}")
    body = ",".join(f"{k.translate(_KEY)}={_field(v)}" for k, v in fields.items())
    return f"{''.join(parts)} {body} {ts_ms}"
