"""The `tank` kind: a rain-water tank with its level sensor, flow meters and rain gauge."""

from __future__ import annotations

from pydantic import Field

from devices.kind import DeviceKind, KindFields


class TankReading(KindFields):
    """One tank reading; `rain_mm` is rain since the previous reading."""

    level_pct: float | None = Field(None, ge=0, le=100)
    volume_l: float | None = Field(None, ge=0, le=1_000_000)
    inflow_lpm: float | None = Field(None, ge=0, le=1000)
    outflow_lpm: float | None = Field(None, ge=0, le=1000)
    rain_mm: float | None = Field(None, ge=0, le=500)
    water_temp_c: float | None = Field(None, ge=-5, le=60)


KIND = DeviceKind(name="tank", model=TankReading)
