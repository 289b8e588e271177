"""Days of water left: the tank's net daily loss (use and leaks minus inflow) over 3-7 days.

The net loss is the change of stored volume at the same time of day over the last whole
days, so it counts what the meters miss (a leak) as well as what they record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector.insight.samples import Samples, daily_changes, mean, spread

MIN_DAYS, MAX_DAYS = 3, 7
# A net daily loss below this share of the tank is noise or a wash: not falling.
FALLING_SHARE_PER_DAY = 0.005


@dataclass(frozen=True, slots=True)
class WaterForecast:
    volume_l: float
    net_loss_l_per_day: float  # positive: the tank is emptying
    loss_spread_l: float
    days_used: int
    days_left: float | None  # None: not falling


def forecast_water(
    volume: Samples, now_ms: int, interval_ms: int, capacity_l: float
) -> WaterForecast | None:
    """The forecast at `now_ms` from volume samples up to it; None with under 3 days of history."""
    samples: Sequence[tuple[int, float]] = [s for s in volume if s[0] <= now_ms]
    if not samples:
        return None
    changes = daily_changes(samples, now_ms, MAX_DAYS, 3 * interval_ms)
    if len(changes) < MIN_DAYS:
        return None
    losses = [-c for c in changes]
    loss, err = mean(losses), spread(losses)
    vol = samples[-1][1]
    days = vol / loss if loss > FALLING_SHARE_PER_DAY * capacity_l else None
    return WaterForecast(vol, loss, err, len(changes), days)
