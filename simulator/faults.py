"""Fault windows and the effects they have on a station at a moment of the run."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
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
    # Effects named by a kind's own scenarios (e.g. a circuit fault): only its model reads them.
    extra: Mapping[str, float | int | bool] = field(default_factory=dict)

    def get(self, name: str, default: float | int | bool = 0) -> float | int | bool:
        """A kind's own effect, `default` when no active fault sets it."""
        return self.extra.get(name, default)


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


_COMMON = frozenset(f.name for f in dataclasses.fields(Effects)) - {"extra"}


def effects_at(faults: tuple[Fault, ...], station: str, offset_s: float) -> Effects:
    """The combined effects of the faults active at `station` at `offset_s`."""
    effects = HEALTHY
    for f in faults:
        if f.station == station and f.active(offset_s):
            common: dict[str, object] = {k: v for k, v in f.changes.items() if k in _COMMON}
            own = {k: v for k, v in f.changes.items() if k not in _COMMON}
            if own:
                common["extra"] = {**effects.extra, **own}
            effects = dataclasses.replace(effects, **common)  # type: ignore[arg-type]
    return effects


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named set of fault windows and starting-state overrides."""

    name: str
    description: str
    faults: tuple[Fault, ...] = ()
    initial: dict[str, Initial] = field(default_factory=dict)
    # What the scenario sets up to be true (leak rates, silence causes...), for the summary.
    facts: Mapping[str, object] = field(default_factory=dict)

    def effects(self, station: str, offset_s: float) -> Effects:
        """Effects at `station`, `offset_s` seconds after the run's start."""
        return effects_at(self.faults, station, offset_s)

    def initial_for(self, station: str) -> Initial:
        return self.initial.get(station, Initial())

    def silence_cause(self, station: str, fx: Effects, modem_powered: bool) -> str | None:
        """Why the station cannot be heard at this tick (None: it can), as the truth records it."""
        if fx.get("modem_on_load", False) and not modem_powered:
            return "power"  # the load disconnect took the modem down
        if fx.silent:
            return "unknown"
        if fx.link_down:
            causes = self.facts.get("silence_cause")
            given = causes.get(station) if isinstance(causes, Mapping) else None
            return str(given) if given else "network"
        return None


# (target station, the run's stations) -> the scenario
Builder = Callable[[str, Sequence[str]], Scenario]
