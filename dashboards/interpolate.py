"""InfluxQL template interpolation as Grafana's InfluxDB datasource does it (backend mode).

Used by the tests to run every dashboard query against a real InfluxDB; kept here, next to the
dashboards, because it states the macros the queries may rely on:

- `$timeFilter` / `$__timeFilter` -> `time >= <from>ms and time <= <to>ms`
- `$__interval` -> the largest whole unit of max(round((to - from) / maxDataPoints), minInterval),
  formatted like Grafana's gtime.FormatDuration (`1d`, `5m`, `90s` -> `1m`, `1500ms` -> `1s`)
- `$__interval_ms` -> that interval in milliseconds
- `$__from` / `$__to` -> the range ends in epoch milliseconds
- a multi-value or include-all variable -> its values regex-escaped, `(a|b)` when more than one
- any other variable -> its value as is; unknown names are left untouched, as Grafana does
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from devices.errors import SolarWaterError

UNITS_MS: tuple[tuple[str, int], ...] = (
    ("y", 365 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
)
_DURATION = re.compile(r">?\s*(\d+)\s*(ms|s|m|h|d|w|y)")
_REF = re.compile(r"\$(\w+)|\[\[(\w+)\]\]|\$\{(\w+)\}")
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")


class InterpolationError(SolarWaterError, ValueError):
    """A query or variable setting that Grafana could not interpolate either."""


@dataclass(frozen=True, slots=True)
class Variable:
    """A dashboard variable's current selection (every option when `All` is picked)."""

    name: str
    values: tuple[str, ...]
    multi: bool = False
    include_all: bool = False


def parse_duration_ms(text: str) -> int:
    """Milliseconds of a Grafana interval setting such as `10s`, `5m`, `>1h`."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise InterpolationError(f"interval {text!r} is not a number and a unit (ms s m h d w y)")
    n, unit = int(match.group(1)), match.group(2)
    scale = dict(UNITS_MS) | {"w": 7 * 86_400_000}
    return n * scale[unit]


def format_interval(ms: int) -> str:
    """The interval in its largest whole unit (integer part), as Grafana formats `$__interval`."""
    for unit, size in UNITS_MS:
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


def interval_ms(from_ms: int, to_ms: int, max_data_points: int, min_interval: str | None) -> int:
    """`$__interval_ms`: the range over maxDataPoints, never below the panel's min interval."""
    if max_data_points <= 0:
        raise InterpolationError("maxDataPoints must be positive")
    if to_ms < from_ms:
        raise InterpolationError("the time range ends before it starts")
    # half away from zero, like Go's math.Round and JavaScript's Math.round (Python's is half-even)
    raw = (2 * (to_ms - from_ms) + max_data_points) // (2 * max_data_points)
    floor = parse_duration_ms(min_interval) if min_interval else 1
    return max(raw, floor, 1)


def regex_escape(value: str) -> str:
    """Escape a value for an InfluxQL /regex/ the way Grafana does."""
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def _format(var: Variable) -> str:
    if not (var.multi or var.include_all):
        return var.values[0] if var.values else ""
    escaped = [regex_escape(v) for v in var.values]
    if len(escaped) == 1:
        return escaped[0]
    return "(" + "|".join(escaped) + ")"


def interpolate(
    query: str,
    *,
    from_ms: int,
    to_ms: int,
    max_data_points: int,
    min_interval: str | None = None,
    variables: Iterable[Variable] = (),
) -> str:
    """The query Grafana sends to InfluxDB for this range, panel settings and selection."""
    step = interval_ms(from_ms, to_ms, max_data_points, min_interval)
    values: Mapping[str, str] = {
        "timeFilter": f"time >= {from_ms}ms and time <= {to_ms}ms",
        "__timeFilter": f"time >= {from_ms}ms and time <= {to_ms}ms",
        "__interval": format_interval(step),
        "__interval_ms": str(step),
        "__from": str(from_ms),
        "__to": str(to_ms),
    } | {v.name: _format(v) for v in variables}

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g is not None)
        return values.get(name, match.group(0))

    return _REF.sub(replace, query)
