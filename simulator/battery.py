"""Battery bank characteristics by chemistry: rest voltage curve, charge set points, LVD."""

from __future__ import annotations

from dataclasses import dataclass

from devices.chemistry import CHEMISTRIES, LEAD_OCV, LFP_OCV
from devices.solar import Chemistry

# Per-bank resistance scales with size: R = k / Ah (a 400 Ah lead-acid bank ≈ 12 mΩ).
_R_K = {name: facts.r_k for name, facts in CHEMISTRIES.items()}


@dataclass(frozen=True, slots=True)
class BatterySpec:
    """Charging and voltage behaviour of a 24 V bank of one chemistry."""

    chemistry: Chemistry
    charge_efficiency: float
    ocv_curve: tuple[tuple[float, float], ...]  # (SoC %, rest voltage at 24 V nominal)
    absorption_v: float
    float_v: float
    max_charge_c: float  # charge current limit as a fraction of capacity per hour
    absorption_start_soc: float
    absorption_max_s: float
    rebulk_soc: float
    lvd_soc: float  # load disconnect
    lvr_soc: float  # load reconnect
    r_k: float

    def ocv(self, soc: float, nominal_v: float = 24.0) -> float:
        """Rest voltage at state of charge `soc` (%), scaled to the bank's nominal voltage."""
        return CHEMISTRIES[self.chemistry].ocv(soc, nominal_v)

    def resistance(self, capacity_ah: float) -> float:
        """Internal resistance of the bank in ohms."""
        return CHEMISTRIES[self.chemistry].resistance(capacity_ah)


# the curves and the disconnect points are the catalogue's, so forecasts read the same ones
_LEAD_OCV = LEAD_OCV
_LFP_OCV = LFP_OCV
_LEAD, _LFP = CHEMISTRIES["lead_acid"], CHEMISTRIES["lifepo4"]

SPECS: dict[str, BatterySpec] = {
    "lead_acid": BatterySpec(
        "lead_acid",
        0.85,
        _LEAD_OCV,
        28.8,
        27.6,
        0.15,
        85.0,
        7200.0,
        75.0,
        _LEAD.lvd_soc,
        _LEAD.lvr_soc,
        _R_K["lead_acid"],
    ),
    "gel": BatterySpec(
        "gel",
        0.85,
        _LEAD_OCV,
        28.2,
        27.6,
        0.15,
        85.0,
        7200.0,
        75.0,
        _LEAD.lvd_soc,
        _LEAD.lvr_soc,
        _R_K["gel"],
    ),
    "lifepo4": BatterySpec(
        "lifepo4",
        0.95,
        _LFP_OCV,
        28.4,
        27.0,
        0.5,
        95.0,
        1800.0,
        85.0,
        _LFP.lvd_soc,
        _LFP.lvr_soc,
        _R_K["lifepo4"],
    ),
}


def battery_spec(chemistry: str) -> BatterySpec:
    """The spec for a chemistry named in the fleet file."""
    return SPECS[chemistry]
