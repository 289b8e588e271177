"""Roof catchment with a first-flush diverter, the tank, its use and its ultrasonic level sensor."""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulator.weather import Storm

FIRST_FLUSH_MM = 1.0
# A roof's gutters and downpipe carry at most this much; more spills over the gutter.
GUTTER_MAX_LPM = 900.0
TANK_HEIGHT_M = 2.0
SENSOR_NOISE_CM = 1.0
# Share of the day's water use in each local hour: morning and evening peaks, near zero at night.
_HOURLY_USE = (
    0.2, 0.2, 0.2, 0.2, 0.3, 2.0, 8.0, 10.0, 7.0, 5.0, 5.0, 6.0,
    7.0, 5.0, 4.0, 4.0, 6.0, 9.0, 9.0, 6.0, 3.0, 1.5, 0.5, 0.2,
)  # fmt: skip
HOURLY_USE_SHARE = tuple(w / sum(_HOURLY_USE) for w in _HOURLY_USE)


@dataclass(slots=True)
class WaterStep:
    """Water moved in one step, in litres, and the rain that fell in mm."""

    rain_mm: float
    inflow_l: float
    outflow_l: float
    overflow_l: float


class TankSystem:
    """Volume bookkeeping of one tank fed by one roof."""

    def __init__(self, capacity_l: float, roof_area_m2: float, runoff: float, volume_l: float):
        self.capacity_l = capacity_l
        self.roof_area_m2 = roof_area_m2
        self.runoff = runoff
        self.volume_l = min(capacity_l, max(0.0, volume_l))

    def catchment_l(self, storms: list[Storm], a: float, b: float) -> tuple[float, float]:
        """Rain (mm) in (a, b] and the litres that reach the tank after the first-flush diverter."""
        rain = 0.0
        captured_mm = 0.0
        for s in storms:
            before = s.rain_between(s.start, a)
            during = s.rain_between(a, b)
            rain += during
            # the diverter fills with the first millimetre of each storm, then lets water through
            captured_mm += max(0.0, before + during - FIRST_FLUSH_MM) - max(
                0.0, before - FIRST_FLUSH_MM
            )
        litres = captured_mm * self.roof_area_m2 * self.runoff
        return rain, min(litres, GUTTER_MAX_LPM * (b - a) / 60.0)

    def step(self, rain_mm: float, inflow_l: float, demand_l: float) -> WaterStep:
        """Add inflow, draw what is asked (or what is there), spill what does not fit."""
        outflow = min(demand_l, self.volume_l + inflow_l)
        volume = self.volume_l + inflow_l - outflow
        overflow = max(0.0, volume - self.capacity_l)
        self.volume_l = volume - overflow
        return WaterStep(rain_mm, inflow_l, outflow, overflow)

    @property
    def level_pct(self) -> float:
        return self.volume_l / self.capacity_l * 100.0

    def sensed_level_pct(self, rng: random.Random) -> float:
        """Ultrasonic level reading: the true level with up to ±1 cm of noise."""
        noise_cm = max(-SENSOR_NOISE_CM, min(SENSOR_NOISE_CM, rng.gauss(0.0, SENSOR_NOISE_CM / 2)))
        pct = self.level_pct + noise_cm / (TANK_HEIGHT_M * 100.0) * 100.0
        return min(100.0, max(0.0, pct))


def daily_demand_l(people: int, litres_per_person: float, visitors: float) -> float:
    """A day's water use: residents plus visitors at a quarter of a resident's use."""
    return people * litres_per_person + visitors * litres_per_person * 0.25
