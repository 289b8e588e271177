"""The named scenarios: which faults hit which station, at fixed offsets from the run's start."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from devices.errors import ConfigError
from simulator.faults import Builder, Fault, Initial, Scenario
from simulator.kinds import kind_scenarios

__all__ = ["SCENARIOS", "Builder", "Scenario", "ScenarioError", "build_scenario"]
H = 3600.0


class ScenarioError(ConfigError):
    """An unknown scenario or a target station outside the run; the message is one line."""


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


def _battery_decline(target: str, stations: Sequence[str]) -> Scenario:
    return Scenario(
        "battery-decline",
        "panels soiled to 30% of their output all run: the bank falls day by day from 95%;"
        " the summary's truth says when it reaches its low mark and its load disconnect",
        (Fault(target, 0.0, None, {"pv_factor": 0.4}, "soiled panels"),),
        {target: Initial(soc_pct=95.0)},
        {"battery_decline": [target]},
    )


LEAK_LPH = 8.0


def _tank_leak(target: str, stations: Sequence[str]) -> Scenario:
    return Scenario(
        "tank-leak",
        f"no rain; from +12 h the tank leaks {LEAK_LPH:g} L/h past the meters (only its level"
        " shows it)",
        (
            Fault(target, 0.0, None, {"no_rain": True}, "dry weather"),
            Fault(target, 12 * H, None, {"leak_lph": LEAK_LPH}, "leaking tank"),
        ),
        {target: Initial(tank_pct=80.0)},
        {"leak_lph": {target: LEAK_LPH}, "leak_from_s": 12 * H},
    )


GUTTER_FACTOR = 0.15


def _blocked_gutter(target: str, stations: Sequence[str]) -> Scenario:
    others = [s for s in stations if s != target]
    control = others[:1]
    return Scenario(
        "blocked-gutter",
        f"the target's gutter passes {GUTTER_FACTOR:.0%} of the roof's runoff; a 20 mm storm"
        " at +6 h over it (and over the next station, whose gutter is clean)",
        (
            Fault(target, 0.0, None, {"gutter_factor": GUTTER_FACTOR}, "blocked gutter"),
            *(Fault(s, 6 * H, 7 * H, {"rain_mm_per_h": 20.0}, "storm") for s in [target, *control]),
        ),
        {target: Initial(tank_pct=30.0), **{s: Initial(tank_pct=30.0) for s in control}},
        {"gutter_factor": {target: GUTTER_FACTOR, **{s: 1.0 for s in control}}},
    )


def _brown_out(target: str, stations: Sequence[str]) -> Scenario:
    return Scenario(
        "brown-out",
        "the array cable is cut; the bank starts at 32% and runs down until the controller's"
        " load disconnect takes the modem (on the load output) down",
        (Fault(target, 0.0, None, {"pv_factor": 0.0, "modem_on_load": True}, "array cable cut"),),
        {target: Initial(soc_pct=32.0)},
        {"silence_cause": {target: "power"}},
    )


def _district_gsm(target: str, stations: Sequence[str], districts: Mapping[str, str]) -> Scenario:
    district = districts.get(target)
    hit = [s for s in stations if district is not None and districts.get(s) == district]
    hit = hit or [target]
    return Scenario(
        "district-gsm-outage",
        "the GSM mast of the target's district is down from +6 h to +12 h: every station of"
        " the district goes quiet at once, batteries healthy",
        tuple(Fault(s, 6 * H, 12 * H, {"link_down": True}, "district GSM outage") for s in hit),
        {},
        {"silence_cause": {s: "district_network" for s in hit}, "district": district},
    )


# Scenarios that need the run's districts (station id -> district) besides its stations.
DISTRICT_SCENARIOS: dict[str, Callable[[str, Sequence[str], Mapping[str, str]], Scenario]] = {
    "district-gsm-outage": _district_gsm,
}


def _one_district(stations: Sequence[str]) -> dict[str, str]:
    # a run without its registry: every station counts as one district
    return dict.fromkeys(stations, "-")


SCENARIOS: dict[str, Builder] = {
    "none": _none,
    "default": _default,
    "battery-failure": _battery_failure,
    "dry-spell": _dry_spell,
    "silent-station": _silent,
    "gsm-outage": _gsm,
    "controller-fault": _controller_fault,
    "battery-decline": _battery_decline,
    "tank-leak": _tank_leak,
    "blocked-gutter": _blocked_gutter,
    "brown-out": _brown_out,
    "district-gsm-outage": lambda t, ss: _district_gsm(t, ss, _one_district(ss)),
    # and the scenarios of each kind's simulator module
    **kind_scenarios(),
}


def build_scenario(
    name: str,
    stations: Sequence[str],
    target: str | None = None,
    districts: Mapping[str, str] | None = None,
) -> Scenario:
    """The scenario `name` for a run over `stations`; the target defaults to the first station.

    `districts` (station id -> district) is for the scenarios that hit a whole district.
    """
    builder = SCENARIOS.get(name)
    if builder is None:
        raise ScenarioError(f"unknown scenario {name!r} (choose from {', '.join(SCENARIOS)})")
    if not stations:
        raise ScenarioError("the run has no stations")
    if target is None:
        target = stations[0]
    elif target not in stations:
        raise ScenarioError(f"scenario station {target!r} is not one of the run's stations")
    by_district = DISTRICT_SCENARIOS.get(name)
    if by_district is not None and districts is not None:
        return by_district(target, stations, districts)
    return builder(target, stations)
