"""The `solar` kind: an MPPT charge controller with its battery bank."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from devices.fieldinfo import Chart, FieldInfo, Text
from devices.kind import DeviceKind, KindFields
from devices.senml_units import units_of

ChargeState = Literal["off", "bulk", "absorption", "float", "equalize", "fault"]
Chemistry = Literal["lead_acid", "gel", "lifepo4"]


class SolarSizes(BaseModel):
    """The PV array and battery bank behind one charge controller."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pv_kwp: float = Field(1.5, gt=0, le=100)
    battery_ah: float = Field(400, gt=0, le=20000)
    battery_chemistry: Chemistry = "lead_acid"
    battery_voltage: float = Field(24.0, gt=0, le=60)


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


# Lead-acid is damaged below 20-30 % and ages below 50 % (design §1).
SOC_STEPS = (("red", None), ("yellow", 30.0), ("green", 50.0))
# Every field of SolarReading, in its order: how people see it.
INFO = {
    "pv_voltage_v": FieldInfo(
        "V", "volt", Text("Tensão do painel", "PV voltage"), Text("tensão painel", "PV"),
        0, 150, chart=Chart(with_field="pv_current_a"),
    ),
    "pv_current_a": FieldInfo(
        "A", "amp", Text("Corrente do painel", "PV current"),
        Text("corrente painel", "PV current"), 0, 100,
    ),
    "pv_power_w": FieldInfo(
        "W", "watt", Text("Potência do painel", "PV power"), Text("painel", "PV"), 0, 3000,
    ),
    "battery_voltage_v": FieldInfo(
        "V", "volt", Text("Tensão da bateria", "Battery voltage"), Text("bateria", "battery"),
        20, 32, chart=Chart(with_field="battery_current_a"),
        description=Text("A corrente é positiva durante a carga.",
                         "Current is positive while charging."),
    ),
    "battery_current_a": FieldInfo(
        "A", "amp", Text("Corrente da bateria", "Battery current"),
        Text("corrente", "current"), -100, 100,
    ),
    "battery_soc_pct": FieldInfo(
        "%", "percent", Text("SoC da bateria", "Battery SoC"), Text("SoC", "SoC"), 0, 100,
        steps=SOC_STEPS,
        chart=Chart(with_field="battery_temp_c", headline="gauge", fleet="min"),
        # RFC 8428's "%EL" is exactly this: remaining battery energy level in percent
        senml={**units_of("%"), "%EL": Fraction(1)},
        description=Text("Estado de carga mais recente (vermelho abaixo de 30 %, amarelo"
                         " abaixo de 50 %).",
                         "Latest state of charge (red below 30 %, yellow below 50 %)."),
    ),
    "battery_temp_c": FieldInfo(
        "°C", "celsius", Text("Temperatura da bateria", "Battery temperature"),
        Text("temp. bateria", "battery temp"), 0, 60,
        steps=(("green", None), ("yellow", 40.0), ("red", 45.0)), chart=Chart(headline="stat"),
    ),
    "load_power_w": FieldInfo(
        "W", "watt", Text("Consumo", "Load"), Text("consumo", "load"), 0, 1000,
    ),
    "yield_today_wh": FieldInfo(
        "Wh", "watth", Text("Produção diária", "Daily yield"), Text("produção", "yield"),
        0, 20000,
        # it counts up through the local day: its maximum is the day's yield
        chart=Chart(style="bars", agg="max", bucket="1d, -2h"),
    ),
    "charge_state": FieldInfo(
        "", "none", Text("Estado de carga", "Charge state"), Text("estado", "state"),
        colors={
            "off": "text", "bulk": "orange", "absorption": "yellow", "float": "green",
            "equalize": "blue", "fault": "red",
        },
        chart=Chart(style="state", agg="last"),
    ),
    "error_code": FieldInfo(
        "", "none", Text("Código de erro do controlador", "Controller error code"),
        Text("erro", "error"), 0, 100, chart=Chart(agg="max"),
        description=Text("0 = sem erro.", "0 = no error."),
    ),
}  # fmt: skip

KIND = DeviceKind(name="solar", model=SolarReading, info=INFO, sizes=SolarSizes, device="mppt1")
