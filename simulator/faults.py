"""Fault windows and the effects they have on a station at a moment of the run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Effects:
    """What the active faults change at one station; the defaults are a healthy station."""

    capacity_factor: float = 1.0  # usable share of the battery bank
    error_code: int = 0  # charge-controller fault code; non-zero stops charging
    no_rain: bool = False
    consumption_factor: float = 1.0
    leak_pct_per_h: float = 0.0  # tank volume lost per hour to a leak, % of capacity
    link_down: bool = False  # GSM link lost: readings are buffered on the device
    silent: bool = False  # device hung: nothing measured, sent or buffered
    rain_mm_per_h: float = 0.0  # a storm the scenario sets over the station, on top of the weather


HEALTHY = Effects()


@dataclass(frozen=True, slots=True)
class Fault:
    """Effects applied to one station during [start_s, end_s) from the run's start."""

    station: str
    start_s: float
    end_s: float | None  # None: to the end of the run
    changes: dict[str, float | int | bool] = field(default_factory=dict)
    label: str = ""

    def active(self, offset_s: float) -> bool:
        return self.start_s <= offset_s and (self.end_s is None or offset_s < self.end_s)


@dataclass(frozen=True, slots=True)
class Initial:
    """Overrides of a station's starting state (None keeps the seeded value)."""

    soc_pct: float | None = None
    tank_pct: float | None = None


def effects_at(faults: tuple[Fault, ...], station: str, offset_s: float) -> Effects:
    """The combined effects of the faults active at `station` at `offset_s`."""
    effects = HEALTHY
    for f in faults:
        if f.station == station and f.active(offset_s):
            effects = dataclasses.replace(effects, **f.changes)  # type: ignore[arg-type]
    return effects
