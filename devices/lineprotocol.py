"""InfluxDB line protocol, built by hand with the escaping rules of the spec."""

from __future__ import annotations

from collections.abc import Mapping

from devices.kind import FieldValue

_MEAS = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_STR = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r"})


def _field(value: FieldValue) -> str:
    if type(value) is float:  # the common case first; bool is checked before int below
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.translate(_STR) + '"'


# Field keys come from a small catalogue: escape each once (bounded, in case they do not).
_KEYS: dict[str, str] = {}
_KEYS_MAX = 4096


def _key(key: str) -> str:
    escaped = _KEYS.get(key)
    if escaped is None:
        escaped = key.translate(_KEY)
        if len(_KEYS) < _KEYS_MAX:
            _KEYS[key] = escaped
    return escaped


def series(measurement: str, tags: Mapping[str, str | None]) -> str:
    """Measurement and sorted tags; empty/None tags are left out (InfluxDB refuses them)."""
    parts = [measurement.translate(_MEAS)]
    for key in sorted(tags):
        value = tags[key]
        if value:
            parts.append(f",{key.translate(_KEY)}={value.translate(_KEY)}")
    return "".join(parts)


def fields_text(fields: Mapping[str, FieldValue]) -> str:
    """The field set of a point; raises ValueError when there is none."""
    if not fields:
        raise ValueError("a point needs at least one field")
    return ",".join([f"{_key(k)}={_field(v)}" for k, v in fields.items()])


def encode_line(
    measurement: str,
    tags: Mapping[str, str | None],
    fields: Mapping[str, FieldValue],
    ts_ms: int,
) -> str:
    """One point; empty/None tags are left out (InfluxDB refuses empty tag values)."""
    body = fields_text(fields)
    return f"{series(measurement, tags)} {body} {ts_ms}"
