"""Battery autonomy: days until the low mark and the load disconnect, from the SoC trend.

The model: the daily low of the state of charge (what is left when the sun comes back) fell
by a steady amount per day over the last 3 to 7 days, and goes on falling by it. Its
uncertainty is the spread of those daily falls.
Without a SoC field the SoC is read from the resting voltage (flagged as an estimate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from collector.insight.samples import DAY_MS, Samples, mean, night_lows, spread
from devices.chemistry import ChemistryFacts

MIN_DAYS, MAX_DAYS = 3, 7  # daily lows: 2 to 6 daily falls
# A daily fall below this is noise (a healthy bank wanders by a few tenths): not falling.
FALLING_PCT_PER_DAY = 0.5


@dataclass(frozen=True, slots=True)
class BatteryForecast:
    """The figures and how they were reached, for the API and the docs' explanation."""

    soc_pct: float  # latest (or estimated) state of charge
    daily_low_pct: float  # lowest SoC in the last 24 h
    rate_pct_per_day: float  # mean daily fall (positive: falling)
    rate_spread_pct: float  # standard error of that mean
    days_used: int
    estimated: bool  # SoC read from resting voltage
    days_to_low: float | None  # None: not falling
    days_to_lvd: float | None
    days_to_low_range: tuple[float, float] | None  # at the rate +- its spread


def soc_from_voltage(
    voltage: Samples, current: Samples, facts: ChemistryFacts, nominal_v: float, capacity_ah: float
) -> list[tuple[int, float]]:
    """SoC estimates from the readings taken while discharging or idle.

    The rest voltage is the terminal voltage less the current through a typical bank's
    internal resistance; charging readings are left out (their voltage climbs with the
    charge stage, not the charge).
    """
    amps = dict(current)
    ohms = facts.resistance(capacity_ah)
    out = []
    for ts, v in voltage:
        a = amps.get(ts, 0.0)
        if a <= 0:
            out.append((ts, facts.soc_from_rest(v - a * ohms, nominal_v)))
    return out


def _days_to(level: float, low: float, low_ts: int, now_ms: int, rate: float) -> float | None:
    if rate < FALLING_PCT_PER_DAY:
        return None
    if low <= level:
        return 0.0
    return max(0.0, (low_ts - now_ms) / DAY_MS + (low - level) / rate)


def forecast_battery(
    soc: Sequence[tuple[int, float]],
    now_ms: int,
    noon_ms: int,
    facts: ChemistryFacts,
    low_soc: float,
    interval_ms: int,
    estimated: bool = False,
) -> BatteryForecast | None:
    """The forecast at `now_ms` from SoC samples up to it; None with under 3 whole days.

    `noon_ms` is the latest local noon at or before `now_ms`: the days end there.
    """
    samples = [s for s in soc if s[0] <= now_ms]
    if not samples:
        return None
    lows = night_lows(samples, noon_ms, MAX_DAYS, interval_ms)
    falls = [b[1] - a[1] for a, b in pairwise(lows)]
    if len(lows) < MIN_DAYS:
        return None
    rate, err = mean(falls), spread(falls)
    low_ts, low = lows[0]
    to_low = _days_to(low_soc, low, low_ts, now_ms, rate)
    to_lvd = _days_to(facts.lvd_soc, low, low_ts, now_ms, rate)
    rng = None
    if to_low is not None and rate - err >= FALLING_PCT_PER_DAY:
        hi = _days_to(low_soc, low, low_ts, now_ms, rate - err)
        lo = _days_to(low_soc, low, low_ts, now_ms, rate + err)
        rng = (lo or 0.0, hi or 0.0)
    return BatteryForecast(
        soc_pct=samples[-1][1],
        daily_low_pct=low,
        rate_pct_per_day=rate,
        rate_spread_pct=err,
        days_used=len(falls),
        estimated=estimated,
        days_to_low=to_low,
        days_to_lvd=to_lvd,
        days_to_low_range=rng,
    )
