"""InfluxQL template interpolation as Grafana's InfluxDB datasource does it (backend mode).

Used by the tests to run every dashboard query against a real InfluxDB; kept here, next to the
dashboards, because it states the macros the queries may rely on:

- `$timeFilter` / `$__timeFilter` -> `time >= <from>ms and time <= <to>ms`
- `$__interval` -> max(roundInterval((to - from) / maxDataPoints), min interval), as Grafana's
  rangeutil.calculateInterval computes it (roundInterval snaps to 1m, 5m, 1h, 2h, 1d, 1w...; the
  panel's min interval has its variables replaced first, as PanelQueryRunner does), in its
  largest whole unit like the backend's gtime.FormatInterval (`1d`, `5m`, `90s` -> `1m`)
- `$__interval_ms` -> that interval in milliseconds
- `$__from` / `$__to` -> the range ends in epoch milliseconds
- a multi-value or include-all variable -> its values regex-escaped, `(a|b)` when more than one;
  `All` with a custom all value -> that value as is (Grafana does not escape it)
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
    all_value: str | None = None  # set when `All` is selected and the variable has allValue


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


# Grafana's rangeutil.roundInterval: (below this many ms, snap to this many ms)
_ROUNDED: tuple[tuple[float, int], ...] = (
    (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000),
    (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000),
    (45_000, 30_000), (90_000, 60_000), (210_000, 120_000), (450_000, 300_000),
    (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000), (2_700_000, 1_800_000),
    (5_400_000, 3_600_000), (9_000_000, 7_200_000), (16_200_000, 10_800_000),
    (32_400_000, 21_600_000), (86_400_000, 43_200_000), (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
)  # fmt: skip
_YEAR_MS = 31_536_000_000


def round_interval(ms: float) -> int:
    """A raw interval snapped to Grafana's steps (rangeutil.roundInterval)."""
    return next((to for below, to in _ROUNDED if ms < below), _YEAR_MS)


def interval_ms(from_ms: int, to_ms: int, max_data_points: int, min_interval: str | None) -> int:
    """`$__interval_ms`: the range over maxDataPoints, rounded, never below the min interval."""
    if max_data_points <= 0:
        raise InterpolationError("maxDataPoints must be positive")
    if to_ms < from_ms:
        raise InterpolationError("the time range ends before it starts")
    step = round_interval((to_ms - from_ms) / max_data_points)
    floor = parse_duration_ms(min_interval) if min_interval else 1
    return max(step, floor)


def regex_escape(value: str) -> str:
    """Escape a value for an InfluxQL /regex/ the way Grafana does."""
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def _format(var: Variable) -> str:
    if var.include_all and var.all_value is not None:
        return var.all_value
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
    variables = list(variables)
    chosen = {v.name: _format(v) for v in variables}
    # the panel's min interval may name a dashboard variable (`$bucket`)
    floor = _REF.sub(lambda m: _lookup(chosen, m), min_interval) if min_interval else None
    step = interval_ms(from_ms, to_ms, max_data_points, floor)
    values: Mapping[str, str] = {
        "timeFilter": f"time >= {from_ms}ms and time <= {to_ms}ms",
        "__timeFilter": f"time >= {from_ms}ms and time <= {to_ms}ms",
        "__interval": format_interval(step),
        "__interval_ms": str(step),
        "__from": str(from_ms),
        "__to": str(to_ms),
    } | chosen
    return _REF.sub(lambda m: _lookup(values, m), query)


def _lookup(values: Mapping[str, str], match: re.Match[str]) -> str:
    name = next(g for g in match.groups() if g is not None)
    return values.get(name, match.group(0))
