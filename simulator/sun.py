"""Clear-sky irradiance on a horizontal plane (the sun's position is devices/sun.py)."""

from __future__ import annotations

import math
from datetime import date, datetime, time

from devices.sun import solar_elevation_deg
from simulator.timefmt import MAPUTO

__all__ = ["clear_sky_daily_wh", "clear_sky_ghi", "solar_elevation_deg"]

_DAY_STEP_S = 600


def clear_sky_ghi(elevation_deg: float) -> float:
    """Haurwitz clear-sky global horizontal irradiance in W/m²."""
    if elevation_deg <= 0:
        return 0.0
    cos_z = math.sin(math.radians(elevation_deg))
    return 1098.0 * cos_z * math.exp(-0.059 / cos_z)


_daily_cache: dict[tuple[int, float, float], float] = {}


def clear_sky_daily_wh(day: date, latitude: float, longitude: float) -> float:
    """Haurwitz irradiation over one local day in Wh/m² (cached per day and place)."""
    key = (day.toordinal(), latitude, longitude)
    cached = _daily_cache.get(key)
    if cached is not None:
        return cached
    midnight = datetime.combine(day, time(0), MAPUTO).timestamp()
    total = sum(
        clear_sky_ghi(solar_elevation_deg(midnight + t + _DAY_STEP_S / 2, latitude, longitude))
        for t in range(0, 86400, _DAY_STEP_S)
    )
    wh = total * _DAY_STEP_S / 3600.0
    if len(_daily_cache) > 4096:
        _daily_cache.clear()
    _daily_cache[key] = wh
    return wh
