"""Time series as the computations take them: (epoch ms, value) pairs in time order."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
Samples = Sequence[tuple[int, float]]


def value_near(samples: Samples, ts_ms: int, within_ms: int) -> float | None:
    """The value of the sample nearest `ts_ms`, or None when none lies within `within_ms`."""
    if not samples:
        return None
    i = bisect_left(samples, (ts_ms, float("-inf")))
    best: tuple[int, float] | None = None
    for j in (i - 1, i):
        if 0 <= j < len(samples):
            s = samples[j]
            if best is None or abs(s[0] - ts_ms) < abs(best[0] - ts_ms):
                best = s
    if best is None or abs(best[0] - ts_ms) > within_ms:
        return None
    return best[1]


def daily_changes(samples: Samples, now_ms: int, max_days: int, within_ms: int) -> list[float]:
    """The change over each of the last whole days, newest first, at the time of day of `now_ms`.

    Comparing the same time of day takes out the daily cycle (sun, morning and evening use).
    """
    out: list[float] = []
    later = value_near(samples, now_ms, within_ms)
    for k in range(1, max_days + 1):
        earlier = value_near(samples, now_ms - k * DAY_MS, within_ms)
        if later is None or earlier is None:
            break
        out.append(later - earlier)
        later = earlier
    return out


def last_noon(now_ms: int, tz: tzinfo) -> int:
    """The latest local noon at or before `now_ms`: days split there keep each night whole."""
    local = datetime.fromtimestamp(now_ms / 1000, tz)
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon > local:
        noon -= timedelta(days=1)
    return int(noon.timestamp() * 1000)


def night_lows(
    samples: Samples, noon_ms: int, max_days: int, interval_ms: int
) -> list[tuple[int, float]]:
    """The lowest sample of each whole noon-to-noon day before `noon_ms`, newest first.

    Such a day holds one night: its low is the charge left when the sun came back. It stops
    at the first day with under 80% of its readings (the start of the data, an outage).
    """
    out: list[tuple[int, float]] = []
    need = 0.8 * DAY_MS / interval_ms
    for k in range(max_days):
        hi, lo = noon_ms - k * DAY_MS, noon_ms - (k + 1) * DAY_MS
        inside = [s for s in samples if lo <= s[0] < hi]
        if len(inside) < need:
            break
        out.append(min(inside, key=lambda s: (s[1], -s[0])))
    return out


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def spread(xs: Sequence[float]) -> float:
    """Standard deviation of the mean of `xs` (0 for fewer than two)."""
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    return float((var / len(xs)) ** 0.5)
