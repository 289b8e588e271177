"""The sun's position at a station (NOAA low-precision formulas): its days and nights."""

from __future__ import annotations

import math
from datetime import date

# The sun's centre this far below the horizon ends civil dusk: outdoors it is dark.
CIVIL_DUSK_DEG = -6.0
# Its upper limb touches the horizon (refraction included): sunset and sunrise.
SUNSET_DEG = -0.833


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


def is_night(epoch_s: float, latitude: float, longitude: float) -> bool:
    """Between civil dusk and civil dawn at the place: lights must be on."""
    return solar_elevation_deg(epoch_s, latitude, longitude) < CIVIL_DUSK_DEG
