"""Why a station went quiet, from what it said before: its power, or the network.

- `power`: the last readings show a battery at or below its low mark, near its load
  disconnect, its voltage falling below the low mark's rest voltage, or the loads already
  cut (a modem on the load output dies with them);
- `district_network`: the battery was fine and other stations of the district went quiet
  within the same half hour (a mast, a backhaul, a power cut at the mast);
- `network`: the battery was fine (the modem, the SIM's credit, the antenna);
- `unknown`: the station said nothing about its battery before the silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from devices.chemistry import ChemistryFacts

Cause = Literal["power", "network", "district_network", "unknown"]
CAUSES: tuple[Cause, ...] = ("power", "network", "district_network", "unknown")
TOGETHER_MS = 1_800_000  # stations that stop within this of each other went quiet together
NEAR_LVD_PCT = 5.0


@dataclass(frozen=True, slots=True)
class PowerSample:
    ts_ms: int
    soc_pct: float | None
    voltage_v: float | None
    load_w: float | None


def power_failing(
    before: Sequence[PowerSample], facts: ChemistryFacts, low_soc: float, nominal_v: float
) -> bool | None:
    """Whether the readings before a silence show the power giving out (None: no readings)."""
    if not before:
        return None
    last = before[-1]
    if last.soc_pct is not None and (
        last.soc_pct <= low_soc or last.soc_pct <= facts.lvd_soc + NEAR_LVD_PCT
    ):
        return True
    if (
        last.load_w is not None
        and last.load_w <= 0
        and (last.soc_pct is None or last.soc_pct <= facts.lvr_soc)
    ):
        return True  # the load disconnect had already cut the loads
    volts = [s for s in before if s.voltage_v is not None]
    if len(volts) >= 2:
        first, end = volts[0], volts[-1]
        assert first.voltage_v is not None and end.voltage_v is not None
        low_rest = facts.ocv(low_soc, nominal_v)
        if end.voltage_v < first.voltage_v and end.voltage_v < low_rest:
            return True
    return False


def classify(
    station: str,
    quiet_since_ms: int,
    before: Sequence[PowerSample],
    facts: ChemistryFacts | None,
    low_soc: float,
    nominal_v: float,
    district_quiet_since: dict[str, int],
) -> Cause:
    """The cause of `station`'s silence since `quiet_since_ms` (its last reading).

    `district_quiet_since`: the other stations of its district that are quiet now, with
    the time of their last reading.
    """
    failing = power_failing(before, facts, low_soc, nominal_v) if facts is not None else None
    if failing:
        return "power"
    together = [
        s
        for s, since in district_quiet_since.items()
        if s != station and abs(since - quiet_since_ms) <= TOGETHER_MS
    ]
    if together:
        return "district_network"
    if failing is False:
        return "network"
    return "unknown"
