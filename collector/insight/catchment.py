"""Catchment efficiency per storm: litres that reached the tank against what the roof gave.

A storm is a run of readings with rain, gaps of under an hour allowed, over at least half an
hour ago. Expected litres = (rain mm - the first-flush diverter's 1 mm) x roof area (m2)
x runoff coefficient; collected = the recorded inflow from the storm's start to half an hour
after its last rain. A small storm (under `min_expected_l`) says too little and is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FIRST_FLUSH_MM = 1.0
GAP_MS = 3_600_000
SETTLE_MS = 1_800_000


@dataclass(frozen=True, slots=True)
class RainSample:
    ts_ms: int
    rain_mm: float
    inflow_lpm: float


@dataclass(frozen=True, slots=True)
class Storm:
    start_ms: int
    end_ms: int  # its last reading with rain
    rain_mm: float
    collected_l: float
    expected_l: float

    @property
    def efficiency_pct(self) -> float:
        return 100.0 * self.collected_l / self.expected_l


def storms(
    samples: Sequence[RainSample],
    now_ms: int,
    interval_ms: int,
    roof_area_m2: float,
    runoff: float,
) -> list[Storm]:
    """The finished storms in `samples` (time order), oldest first."""
    runs: list[list[RainSample]] = []
    for s in samples:
        if s.ts_ms > now_ms or s.rain_mm <= 0:
            continue
        if runs and s.ts_ms - runs[-1][-1].ts_ms <= GAP_MS:
            runs[-1].append(s)
        else:
            runs.append([s])
    minutes = interval_ms / 60_000
    out = []
    for run in runs:
        start, end = run[0].ts_ms - interval_ms, run[-1].ts_ms
        if end + SETTLE_MS > now_ms:
            continue  # still raining, or the gutters still running
        rain = sum(s.rain_mm for s in run)
        collected = sum(
            s.inflow_lpm * minutes for s in samples if start < s.ts_ms <= end + SETTLE_MS
        )
        expected = max(0.0, rain - FIRST_FLUSH_MM) * roof_area_m2 * runoff
        out.append(Storm(start, end, rain, collected, expected))
    return out


def last_efficiency(
    samples: Sequence[RainSample],
    now_ms: int,
    interval_ms: int,
    roof_area_m2: float,
    runoff: float,
    min_expected_l: float,
) -> Storm | None:
    """The latest finished storm big enough to judge the catchment by, or None."""
    found = [
        s
        for s in storms(samples, now_ms, interval_ms, roof_area_m2, runoff)
        if s.expected_l >= min_expected_l
    ]
    return found[-1] if found else None
