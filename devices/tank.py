"""The `tank` kind: a rain-water tank with its level sensor, flow meters and rain gauge."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from devices.fieldinfo import Chart, FieldInfo, Text
from devices.kind import DeviceKind, KindFields


class TankReading(KindFields):
    """One tank reading; `rain_mm` is rain since the previous reading."""

    level_pct: float | None = Field(None, ge=0, le=100)
    volume_l: float | None = Field(None, ge=0, le=1_000_000)
    inflow_lpm: float | None = Field(None, ge=0, le=1000)
    outflow_lpm: float | None = Field(None, ge=0, le=1000)
    rain_mm: float | None = Field(None, ge=0, le=500)
    water_temp_c: float | None = Field(None, ge=-5, le=60)
    # the level sensor's own report (Venus /Status codes): 0 ok, any other a sensor fault
    sensor_status: int | None = Field(None, ge=0, le=255)


class TankSizes(BaseModel):
    """A tank and the roof that fills it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tank_litres: float = Field(5000, gt=0, le=1_000_000)
    roof_area_m2: float = Field(120, gt=0, le=10_000)


LEVEL_STEPS = (("red", None), ("yellow", 20.0), ("green", 40.0))
# Every field of TankReading, in its order: how people see it.
INFO = {
    "level_pct": FieldInfo(
        "%", "percent", Text("Nível do tanque", "Tank level"), Text("nível", "level"), 0, 100,
        steps=LEVEL_STEPS, chart=Chart(with_field="volume_l", headline="gauge", fleet="min"),
    ),
    "volume_l": FieldInfo(
        "L", "litre", Text("Volume do tanque", "Tank volume"), Text("volume", "volume"),
        0, 20000,
    ),
    "inflow_lpm": FieldInfo(
        "L/min", "flowlpm", Text("Entrada", "Inflow"), Text("entrada", "inflow"), 0, 100,
        chart=Chart(with_field="outflow_lpm"),
    ),
    "outflow_lpm": FieldInfo(
        "L/min", "flowlpm", Text("Saída", "Outflow"), Text("saída", "outflow"), 0, 100,
    ),
    "rain_mm": FieldInfo(
        "mm", "lengthmm", Text("Chuva", "Rain"), Text("chuva", "rain"), 0, 50,
        chart=Chart(style="bars", agg="sum", fill="0", interval="1h"),
        description=Text("Total do pluviómetro por intervalo (pelo menos uma hora).",
                         "Rain gauge total per interval (at least one hour)."),
    ),
    "water_temp_c": FieldInfo(
        "°C", "celsius", Text("Temperatura da água", "Water temperature"),
        Text("temp. água", "water temp"), 10, 40,
    ),
    "sensor_status": FieldInfo(
        "", "none", Text("Estado do sensor de nível", "Level sensor status"),
        Text("sensor", "sensor"), 0, 5, chart=Chart(agg="max"),
        description=Text("0 = sensor bom; outro valor = avaria, nível não registado.",
                         "0 = sensor ok; any other value = fault, level not recorded."),
    ),
}  # fmt: skip

KIND = DeviceKind(name="tank", model=TankReading, info=INFO, sizes=TankSizes, device="tank1")
