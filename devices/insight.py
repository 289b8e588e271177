"""The `insight` kind: forecasts and diagnoses the collector computes from stored readings.

No station has such a device (it is not in the catalogue's KINDS): it is a derived kind, so
alert rules watch the forecasts, the leak estimate and the catchment exactly as readings.
"""

from __future__ import annotations

from pydantic import Field

from devices.fieldinfo import FieldInfo, Text
from devices.kind import DeviceKind, KindFields

# Forecasts beyond this are "at least this long": the alert engine sees the cap, not infinity.
HORIZON_DAYS = 30.0
DEVICE = "insight"


class InsightReading(KindFields):
    """A station's figures at one moment of fleet time; a forecast is left out when not falling."""

    battery_days: float | None = Field(None, ge=0, le=HORIZON_DAYS)
    battery_lvd_days: float | None = Field(None, ge=0, le=HORIZON_DAYS)
    water_days: float | None = Field(None, ge=0, le=HORIZON_DAYS)
    leak_lph: float | None = Field(None, ge=0, le=100_000)  # water lost beyond recorded use
    catchment_pct: float | None = Field(None, ge=0, le=1000)  # last storm: collected / expected


INFO = {
    "battery_days": FieldInfo(
        "d", "d", Text("Dias de bateria", "Battery days"), Text("bateria dias", "battery days"),
        0, HORIZON_DAYS,
    ),
    "battery_lvd_days": FieldInfo(
        "d", "d", Text("Dias até o corte", "Days to disconnect"),
        Text("dias até corte", "days to cut"), 0, HORIZON_DAYS,
    ),
    "water_days": FieldInfo(
        "d", "d", Text("Dias de água", "Water days"), Text("água dias", "water days"),
        0, HORIZON_DAYS,
    ),
    "leak_lph": FieldInfo(
        "L/h", "litreh", Text("Fuga estimada", "Estimated leak"), Text("fuga", "leak"), 0, 100,
    ),
    "catchment_pct": FieldInfo(
        "%", "percent", Text("Eficiência da captação", "Catchment efficiency"),
        Text("captação", "catchment"), 0, 100,
    ),
}  # fmt: skip

# Hysteresis: fires below the threshold, clears half a day above it.
RULES = {
    "battery_forecast_low": {
        "condition": "battery_days < 2",
        "clear": "battery_days > 2.5",
        "for": "0s",
        "severity": "warning",
    },
    "water_forecast_low": {
        "condition": "water_days < 3",
        "clear": "water_days > 3.5",
        "for": "0s",
        "severity": "warning",
    },
    "tank_leak_suspected": {
        "condition": "leak_lph >= 4",
        "clear": "leak_lph < 2",
        "for": "0s",
        "severity": "warning",
    },
    "catchment_blocked": {
        "condition": "catchment_pct < 40",
        "clear": "catchment_pct > 60",
        "for": "0s",
        "severity": "warning",
    },
}

KIND = DeviceKind(name="insight", model=InsightReading, info=INFO, device=DEVICE, rules=RULES)
