"""The named scenarios: which faults hit which station, at fixed offsets from the run's start."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from devices.errors import ConfigError
from simulator.faults import Effects, Fault, Initial, effects_at

H = 3600.0


class ScenarioError(ConfigError):
    """An unknown scenario or a target station outside the run; the message is one line."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named set of fault windows and starting-state overrides."""

    name: str
    description: str
    faults: tuple[Fault, ...] = ()
    initial: dict[str, Initial] = field(default_factory=dict)

    def effects(self, station: str, offset_s: float) -> Effects:
        """Effects at `station`, `offset_s` seconds after the run's start."""
        return effects_at(self.faults, station, offset_s)

    def initial_for(self, station: str) -> Initial:
        return self.initial.get(station, Initial())


Builder = Callable[[str, Sequence[str]], Scenario]


def _none(target: str, stations: Sequence[str]) -> Scenario:
    return Scenario("none", "clean run, no faults")


def _default(target: str, stations: Sequence[str]) -> Scenario:
    # one station per fault so the dashboards and alerts tell them apart; a short run wraps round
    others = [s for s in stations if s != target] or [target]

    def pick(i: int) -> str:
        return others[i % len(others)]

    return Scenario(
        "default",
        "a fleet-day: ageing battery (30% capacity) at the target station; a 1 h GSM outage; "
        "a 1 h controller fault; a tank running dry; a station silent for "
        "the last 3 h; a storm over two stations",
        (
            Fault(target, 0.0, None, {"capacity_factor": 0.3}, "ageing battery"),
            Fault(pick(0), 2 * H, 3 * H, {"link_down": True}, "GSM outage"),
            Fault(pick(1), 6 * H, 7 * H, {"error_code": 17}, "controller fault"),
            Fault(
                pick(5),
                0.0,
                None,
                {"no_rain": True, "leak_pct_per_h": 0.8},
                "tank running dry: blocked gutter, a tap left running",
            ),
            Fault(pick(3), 21 * H, None, {"silent": True, "link_down": True}, "station silent"),
            Fault(pick(4), 14 * H, 14.75 * H, {"rain_mm_per_h": 24.0}, "storm"),
            Fault(pick(6), 14.25 * H, 15 * H, {"rain_mm_per_h": 16.0}, "storm"),
        ),
        # starting SoC is of the nominal bank: 18% of it is 60% of the 30% that is left
        {target: Initial(soc_pct=18.0), pick(5): Initial(tank_pct=22.0)},
    )


def _battery_failure(target: str, stations: Sequence[str]) -> Scenario:
    return Scenario(
        "battery-failure",
        "bank down to 20% capacity from +1 h, replaced at +19 h",
        (Fault(target, 1 * H, 19 * H, {"capacity_factor": 0.2}, "failing bank"),),
    )


def _dry_spell(target: str, stations: Sequence[str]) -> Scenario:
    return Scenario(
        "dry-spell",
        "no rain all run; tank starts at 12%, use tripled and a 0.6%/h leak",
        (
            Fault(
                target,
                0.0,
                None,
                {"no_rain": True, "consumption_factor": 3.0, "leak_pct_per_h": 0.6},
                "dry spell",
            ),
        ),
        {target: Initial(tank_pct=12.0)},
    )


def _silent(target: str, stations: Sequence[str]) -> Scenario:
    return Scenario(
        "silent-station",
        "station sends and buffers nothing from +3 h to +5 h",
        (Fault(target, 3 * H, 5 * H, {"silent": True}, "silent station"),),
    )


def _gsm(target: str, stations: Sequence[str]) -> Scenario:
    return Scenario(
        "gsm-outage",
        "GSM link down from +2 h to +8 h; readings buffered and flushed as a backlog",
        (Fault(target, 2 * H, 8 * H, {"link_down": True}, "GSM outage"),),
    )


def _controller_fault(target: str, stations: Sequence[str]) -> Scenario:
    return Scenario(
        "controller-fault",
        "charge controller in fault (error 17, over-temperature) from +4 h to +7 h",
        (Fault(target, 4 * H, 7 * H, {"error_code": 17}, "controller fault"),),
    )


SCENARIOS: dict[str, Builder] = {
    "none": _none,
    "default": _default,
    "battery-failure": _battery_failure,
    "dry-spell": _dry_spell,
    "silent-station": _silent,
    "gsm-outage": _gsm,
    "controller-fault": _controller_fault,
}


def build_scenario(name: str, stations: Sequence[str], target: str | None = None) -> Scenario:
    """The scenario `name` for a run over `stations`; the target defaults to the first station."""
    builder = SCENARIOS.get(name)
    if builder is None:
        raise ScenarioError(f"unknown scenario {name!r} (choose from {', '.join(SCENARIOS)})")
    if not stations:
        raise ScenarioError("the run has no stations")
    if target is None:
        target = stations[0]
    elif target not in stations:
        raise ScenarioError(f"scenario station {target!r} is not one of the run's stations")
    return builder(target, stations)
