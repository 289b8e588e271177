"""The `solar` kind: an MPPT charge controller with its battery bank."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from devices.kind import DeviceKind, KindFields

ChargeState = Literal["off", "bulk", "absorption", "float", "equalize", "fault"]


class SolarReading(KindFields):
    """One charge-controller reading; units are in the field names."""

    pv_voltage_v: float | None = Field(None, ge=0, le=250)
    pv_current_a: float | None = Field(None, ge=0, le=100)
    pv_power_w: float | None = Field(None, ge=0, le=20000)
    battery_voltage_v: float | None = Field(None, ge=0, le=80)
    battery_current_a: float | None = Field(None, ge=-500, le=500)
    battery_soc_pct: float | None = Field(None, ge=0, le=100)
    battery_temp_c: float | None = Field(None, ge=-20, le=80)
    load_power_w: float | None = Field(None, ge=0, le=20000)
    yield_today_wh: float | None = Field(None, ge=0, le=200000)
    charge_state: ChargeState | None = None
    error_code: int | None = Field(None, ge=0, le=2**31 - 1)


KIND = DeviceKind(
    name="solar",
    model=SolarReading,
    int_fields=frozenset({"error_code"}),
    str_fields=frozenset({"charge_state"}),
)
