"""Station electrical loads by time of day: security lighting, radio/telecoms, office."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time

_OFFICE_START, _OFFICE_END = time(7, 30), time(15, 30)
# photocell switches the security lights a little after sunset, off a little after sunrise
_LIGHTS_ON_BELOW_DEG = -0.5


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """A station's connected loads in watts."""

    lighting_w: float
    radio_w: float
    office_w: float

    @classmethod
    def draw(cls, rng: random.Random) -> LoadProfile:
        """Typical sizes (design §1): lights 150–300 W, radio 30–60 W, office 100–300 W."""
        return cls(rng.uniform(150, 300), rng.uniform(30, 60), rng.uniform(100, 300))


def demand_w(
    profile: LoadProfile, local: datetime, sun_elevation_deg: float, rng: random.Random
) -> float:
    """Power the loads ask for at local time `local`."""
    # radio transmits in bursts on top of its idle draw
    power = profile.radio_w * (1.3 if rng.random() < 0.15 else 1.0)
    if sun_elevation_deg < _LIGHTS_ON_BELOW_DEG:
        power += profile.lighting_w
    if local.weekday() < 5 and _OFFICE_START <= local.time() < _OFFICE_END:
        power += profile.office_w * rng.uniform(0.6, 1.0)
    return power
