"""What each battery chemistry means for autonomy: rest-voltage curve, load disconnect, low mark."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from itertools import pairwise

from devices.solar import Chemistry

# (SoC %, rest voltage of a 24 V bank): lead-acid and gel share the curve.
LEAD_OCV: tuple[tuple[float, float], ...] = (
    (0.0, 22.8),
    (10.0, 23.2),
    (20.0, 23.6),
    (50.0, 24.4),
    (100.0, 25.5),
)
LFP_OCV: tuple[tuple[float, float], ...] = (
    (0.0, 24.0),
    (10.0, 25.6),
    (20.0, 26.0),
    (50.0, 26.3),
    (80.0, 26.6),
    (95.0, 26.8),
    (100.0, 27.2),
)


@dataclass(frozen=True, slots=True)
class ChemistryFacts:
    """The figures of one chemistry that both the simulator and the forecasts use."""

    ocv_curve: tuple[tuple[float, float], ...]
    lvd_soc: float  # the controller disconnects the loads here
    lvr_soc: float  # and reconnects them here
    low_soc: float  # below this the bank ages (lead-acid) or has little left (LiFePO4)
    r_k: float  # a typical bank's internal resistance is r_k / Ah ohms (400 Ah lead-acid: 12 mΩ)

    def ocv(self, soc: float, nominal_v: float = 24.0) -> float:
        """Rest voltage at `soc` (%), scaled to the bank's nominal voltage."""
        pts = self.ocv_curve
        i = bisect_right([p[0] for p in pts], soc)
        if i <= 0:
            v = pts[0][1]
        elif i >= len(pts):
            v = pts[-1][1]
        else:
            (s0, v0), (s1, v1) = pts[i - 1], pts[i]
            v = v0 + (v1 - v0) * (soc - s0) / (s1 - s0)
        return v * nominal_v / 24.0

    def resistance(self, capacity_ah: float) -> float:
        """A typical bank's internal resistance in ohms."""
        return self.r_k / max(capacity_ah, 1.0)

    def soc_from_rest(self, volts: float, nominal_v: float = 24.0) -> float:
        """The SoC whose rest voltage is `volts`: the curve read backwards (an estimate)."""
        v24 = volts * 24.0 / nominal_v
        pts = self.ocv_curve
        if v24 <= pts[0][1]:
            return pts[0][0]
        for (s0, v0), (s1, v1) in pairwise(pts):
            if v24 <= v1:
                return s0 + (s1 - s0) * (v24 - v0) / (v1 - v0)
        return pts[-1][0]


CHEMISTRIES: dict[Chemistry, ChemistryFacts] = {
    "lead_acid": ChemistryFacts(LEAD_OCV, 20.0, 40.0, 50.0, 4.8),
    "gel": ChemistryFacts(LEAD_OCV, 20.0, 40.0, 50.0, 5.2),
    "lifepo4": ChemistryFacts(LFP_OCV, 10.0, 25.0, 20.0, 2.4),
}


def facts_of(chemistry: object) -> ChemistryFacts | None:
    """The facts of a chemistry named in the registry, or None for anything else."""
    for name, facts in CHEMISTRIES.items():
        if name == chemistry:
            return facts
    return None
