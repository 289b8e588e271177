"""What a kind's physics model gets from its station, and what it gives back each step."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from devices.kind import FieldValue
from devices.stations import Device, Station
from simulator.faults import Builder, Effects, Initial
from simulator.weather import Weather, is_dry_season

Fields = dict[str, FieldValue]


@dataclass(slots=True)
class Site:
    """The station a device sits in: its registry entry, its seeded RNG and its weather."""

    station: Station
    seed: int
    # the station's shared draws (solar and tank, in their historic order)
    rng: random.Random
    weather: Weather

    def own_rng(self, device: str) -> random.Random:
        """An RNG of the device's own, so a new device leaves the others' draws unchanged."""
        return random.Random(f"{self.seed}:{self.station.id}:{device}")


class DeviceModel(Protocol):
    """One device's physics on the station's simulated clock."""

    def prepare(self) -> None:
        """Seeded draws that come after every device of the station was built."""

    def start(self, t0: float, init: Initial) -> None:
        """The state at the first reading's interval start."""

    def substep(self, a: float, b: float, dt: float, fx: Effects) -> None:
        """Integrate over [a, b] (`dt` long) under the effects `fx`."""

    def reading(self, prev: float, t: float, fx: Effects) -> Fields:
        """The reading for the interval (prev, t], after its substeps."""


@dataclass(frozen=True, slots=True)
class KindModel:
    """A kind's simulator entry: a factory of device models, and its own scenarios."""

    kind: str
    make: Callable[[Site, Device], DeviceModel]
    scenarios: Mapping[str, Builder] = field(default_factory=dict)


def air_temp_c(local: datetime) -> float:
    """Shade air temperature: 20–33 °C, coolest near dawn, warmest mid-afternoon."""
    hour = local.hour + local.minute / 60.0
    mean = 25.5 if is_dry_season(local.month) else 27.5
    return mean + 5.5 * math.cos(2 * math.pi * (hour - 14.5) / 24.0)


def rounded(value: float, digits: int) -> float:
    """`value` rounded, with -0.0 turned into 0.0."""
    return round(value, digits) + 0.0
