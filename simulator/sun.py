"""Sun position (NOAA low-precision formulas) and clear-sky irradiance on a horizontal plane."""

from __future__ import annotations

import math
from datetime import date, datetime, time

from simulator.timefmt import MAPUTO

_DAY_STEP_S = 600


def solar_elevation_deg(epoch_s: float, latitude: float, longitude: float) -> float:
    """Elevation of the sun above the horizon in degrees (negative at night)."""
    days = epoch_s / 86400.0
    # fractional year from 1 Jan of the UTC year, via the day count within that year
    whole = math.floor(days)
    utc_date = date.fromordinal(date(1970, 1, 1).toordinal() + whole)
    doy = utc_date.timetuple().tm_yday
    hour = (days - whole) * 24.0
    gamma = 2 * math.pi / 365.0 * (doy - 1 + (hour - 12) / 24.0)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    true_solar_min = hour * 60.0 + eqtime + 4.0 * longitude
    hour_angle = math.radians(true_solar_min / 4.0 - 180.0)
    lat = math.radians(latitude)
    cos_zen = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, cos_zen))))


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
