"""The manual's table of device kinds and their fields, written from the catalogue."""

from __future__ import annotations

from devices.catalogue import KINDS
from devices.kind import DeviceKind, bounds, string_choices

HEADER = ("| kind | field | range | InfluxDB type |", "|---|---|---|---|")


def _num(x: float) -> str:
    text = str(int(x)) if float(x).is_integer() else repr(x)
    return text.replace("-", "−")  # a minus sign, not a hyphen, in prose


def value_range(kind: DeviceKind, name: str) -> str:
    """What a field may hold: its Literal values or its validation bounds."""
    choices = string_choices(kind.model, name)
    if choices is not None:
        return ", ".join(f"`{c}`" for c in choices)
    if name in kind.str_fields:
        return "text"
    lo, hi = bounds(kind.model, name)
    if lo is not None and hi is not None:
        return f"{_num(lo)}–{_num(hi)}"
    if lo is not None:
        return f"≥ {_num(lo)}"
    return f"≤ {_num(hi)}" if hi is not None else "any"


def influx_type(kind: DeviceKind, name: str) -> str:
    """The field's InfluxDB type, from its annotation."""
    if name in kind.str_fields:
        return "string"
    return "integer" if name in kind.int_fields else "float"


def rows() -> list[str]:
    """One Markdown row per field of every kind, in catalogue order."""
    return [
        f"| {k.name} | `{n}` | {value_range(k, n)} | {influx_type(k, n)} |"
        for k in KINDS.values()
        for n in k.field_names
    ]


def table() -> str:
    """The whole Markdown table."""
    return "\n".join((*HEADER, *rows())) + "\n"


if __name__ == "__main__":
    print(table(), end="")
