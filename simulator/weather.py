"""Daily weather per station: clear-sky target, cloudiness and afternoon storms, seeded by day."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time

from simulator.sun import clear_sky_daily_wh, clear_sky_ghi, solar_elevation_deg
from simulator.timefmt import MAPUTO, to_local

# Mean monthly rain (mm) for coastal Cabo Delgado: ~1,000 mm/yr, ~93% Nov–Apr, peak Jan–Mar.
MONTHLY_RAIN_MM = (210.0, 200.0, 190.0, 90.0, 25.0, 8.0, 5.0, 4.0, 6.0, 20.0, 70.0, 160.0)
_MEAN_STORM_MM = 15.0
_STORM_MIN_MM, _STORM_MAX_MM = 5.0, 50.0
# A storm covers the sun: irradiance falls to this share while it rains.
STORM_SHADE = 0.2


def is_dry_season(month: int) -> bool:
    """May–October is the dry season."""
    return 5 <= month <= 10


@dataclass(frozen=True, slots=True)
class Storm:
    """One rain event: [start, end) in epoch seconds and its depth in mm."""

    start: float
    end: float
    depth_mm: float

    def rain_between(self, a: float, b: float) -> float:
        """Rain of this storm that falls in (a, b], spread evenly over the storm."""
        lo, hi = max(a, self.start), min(b, self.end)
        if hi <= lo:
            return 0.0
        return self.depth_mm * (hi - lo) / (self.end - self.start)


@dataclass(frozen=True, slots=True)
class DayWeather:
    """The weather of one local day at one station."""

    day: date
    irradiation_wh_m2: float
    clear_sky_wh_m2: float
    cloudy: bool
    storms: tuple[Storm, ...]


class Weather:
    """Weather at one station; each day comes from its own seeded RNG, so order does not matter."""

    def __init__(self, seed: int, station_id: str, latitude: float, longitude: float) -> None:
        self.seed = seed
        self.station_id = station_id
        self.latitude = latitude
        self.longitude = longitude
        # a station's long-run rainfall: 0.85–1.2 of the regional mean (840–1,190 mm/yr)
        self.rain_factor = random.Random(f"{seed}:{station_id}:rain").uniform(0.85, 1.2)
        self._days: dict[date, DayWeather] = {}

    def day(self, d: date) -> DayWeather:
        """The weather of local day `d`."""
        cached = self._days.get(d)
        if cached is None:
            if len(self._days) > 64:
                self._days.clear()
            cached = self._days[d] = self._draw(d)
        return cached

    def _draw(self, d: date) -> DayWeather:
        rng = random.Random(f"{self.seed}:{self.station_id}:{d.isoformat()}")
        dry = is_dry_season(d.month)
        storms = self._storms(rng, d)
        if dry:
            target = rng.uniform(5000.0, 6500.0)
            p_cloudy = 0.5 if storms else 0.08
        else:
            target = rng.uniform(4500.0, 5500.0)
            p_cloudy = 0.6 if storms else 0.3
        cloudy = rng.random() < p_cloudy
        if cloudy:
            target *= rng.uniform(0.3, 0.6)
        clear = clear_sky_daily_wh(d, self.latitude, self.longitude)
        return DayWeather(d, target, clear, cloudy, storms)

    def _storms(self, rng: random.Random, d: date) -> tuple[Storm, ...]:
        days_in_month = (
            31 if d.month == 12 else (date(d.year, d.month + 1, 1) - d.replace(day=1)).days
        )
        monthly = MONTHLY_RAIN_MM[d.month - 1] * self.rain_factor
        p_storm = min(0.9, monthly / (days_in_month * _MEAN_STORM_MM))
        if rng.random() >= p_storm:
            return ()
        depth = min(_STORM_MAX_MM, _STORM_MIN_MM + rng.expovariate(1.0 / (_MEAN_STORM_MM - 5.0)))
        # mostly afternoon convective storms; some at night or in the morning
        start_h = rng.uniform(13.0, 18.5) if rng.random() < 0.8 else rng.uniform(0.0, 12.0)
        duration_h = rng.uniform(0.5, 1.5)
        midnight = datetime.combine(d, time(0), MAPUTO).timestamp()
        start = midnight + start_h * 3600.0
        end = min(start + duration_h * 3600.0, midnight + 86399.0)
        return (Storm(start, end, round(depth, 1)),)

    def storms_between(self, a: float, b: float) -> list[Storm]:
        """Storms of the local days touched by (a, b] that overlap it."""
        first, last = to_local(a).date(), to_local(b).date()
        days = [first] if first == last else [first, last]
        return [s for d in days for s in self.day(d).storms if s.start < b and s.end > a]

    def irradiance(self, epoch_s: float, rain_suppressed: bool = False) -> float:
        """Global horizontal irradiance in W/m², scaled so the day totals its drawn irradiation."""
        elevation = solar_elevation_deg(epoch_s, self.latitude, self.longitude)
        clear = clear_sky_ghi(elevation)
        if clear <= 0.0:
            return 0.0
        dw = self.day(to_local(epoch_s).date())
        g = clear * dw.irradiation_wh_m2 / dw.clear_sky_wh_m2
        if not rain_suppressed and any(s.start <= epoch_s < s.end for s in dw.storms):
            g *= STORM_SHADE
        return g
