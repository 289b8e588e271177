"""SenML unit symbols that convert exactly to a catalogue unit, and by what factor.

Symbols are from the SenML Units registry: RFC 8428 §12.1 (Table 6) and the secondary
units of RFC 8798 §3. Only scale factors that are exact ratios are listed: K -> °C (an
offset of 273.15) and J -> Wh (1/3600) are left out, so a value is never rounded twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

# catalogue unit -> SenML symbol -> factor from the SenML unit to the catalogue unit
BY_UNIT: Mapping[str, Mapping[str, Fraction]] = {
    "V": {"V": Fraction(1), "mV": Fraction(1, 1000)},
    "A": {"A": Fraction(1), "mA": Fraction(1, 1000)},
    "W": {"W": Fraction(1), "kW": Fraction(1000)},
    "Wh": {"Wh": Fraction(1), "kWh": Fraction(1000)},
    "°C": {"Cel": Fraction(1)},
    # RFC 8428 Note 2: "/" and "%" are both a ratio (1.0 = all), not a percentage;
    # RFC 8798's "/100" is the percentage.
    "%": {"/100": Fraction(1), "/": Fraction(100), "%": Fraction(100)},
    "L": {"l": Fraction(1), "m3": Fraction(1000)},
    "L/min": {"l/s": Fraction(60), "m3/s": Fraction(60_000)},
    "mm": {"mm": Fraction(1), "cm": Fraction(10), "m": Fraction(1000)},
}
# A switch or flag stored as 0/1: RFC 8428's "/" (0.0 off, 1.0 on) with no scaling.
SWITCH: Mapping[str, Fraction] = {"/": Fraction(1)}
# A number of things: RFC 8428's "count".
COUNT: Mapping[str, Fraction] = {"count": Fraction(1)}


def units_of(unit: str) -> Mapping[str, Fraction]:
    """The SenML symbols a catalogue unit takes ({} for a code or state with no unit)."""
    return BY_UNIT.get(unit, {})
