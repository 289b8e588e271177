"""What really happened in a run, for the summary: when each threshold was crossed, and why
a station went quiet. Tests compare the collector's forecasts and diagnoses against it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devices.chemistry import facts_of
from devices.kind import FieldValue
from devices.stations import Station
from simulator.timefmt import format_rfc3339

EMPTY_L = 1.0  # a tank holding less than this is empty


@dataclass(slots=True)
class StationTruth:
    """One station's facts over the run."""

    battery_low_at: float | None = None  # first SoC at or below the chemistry's low mark
    battery_lvd_at: float | None = None  # first SoC at or below the load disconnect
    tank_empty_at: float | None = None
    silences: list[dict[str, Any]] = field(default_factory=list)
    _down_since: float | None = None
    _down_cause: str = ""

    def to_json(self) -> dict[str, Any]:
        def t(x: float | None) -> str | None:
            return format_rfc3339(x) if x is not None else None

        return {
            "battery_low_at": t(self.battery_low_at),
            "battery_lvd_at": t(self.battery_lvd_at),
            "tank_empty_at": t(self.tank_empty_at),
            "silences": self.silences,
        }


@dataclass
class Truth:
    """The run's truth: the scenario's stated facts and what the physics did at each station."""

    facts: dict[str, Any] = field(default_factory=dict)
    stations: dict[str, StationTruth] = field(default_factory=dict)

    def observe(
        self,
        station: Station,
        ts: float,
        readings: Mapping[str, Mapping[str, FieldValue]],
        down_cause: str | None,
    ) -> None:
        """One tick of one station: its readings by kind, and why its link is down (or None)."""
        st = self.stations.setdefault(station.id, StationTruth())
        solar = readings.get("solar", {})
        soc = solar.get("battery_soc_pct")
        chem = station.size("battery_chemistry")
        facts = facts_of(chem)
        if isinstance(soc, float) and facts is not None:
            if st.battery_low_at is None and soc <= facts.low_soc:
                st.battery_low_at = ts
            if st.battery_lvd_at is None and soc <= facts.lvd_soc:
                st.battery_lvd_at = ts
        volume = readings.get("tank", {}).get("volume_l")
        if isinstance(volume, float) and st.tank_empty_at is None and volume < EMPTY_L:
            st.tank_empty_at = ts
        if down_cause is not None and st._down_since is None:
            st._down_since, st._down_cause = ts, down_cause
        elif down_cause is None and st._down_since is not None:
            self._close(st, ts)

    def finish(self, end: float) -> None:
        """Close the silences still open at the end of the run."""
        for st in self.stations.values():
            if st._down_since is not None:
                self._close(st, end, still=True)

    @staticmethod
    def _close(st: StationTruth, ts: float, still: bool = False) -> None:
        assert st._down_since is not None
        st.silences.append(
            {
                "from": format_rfc3339(st._down_since),
                "to": None if still else format_rfc3339(ts),
                "cause": st._down_cause,
            }
        )
        st._down_since = None

    def to_json(self) -> dict[str, Any]:
        return {
            "facts": self.facts,
            "stations": {k: v.to_json() for k, v in sorted(self.stations.items())},
        }
