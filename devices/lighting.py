"""The `lighting` kind: the station's security lighting, switched dusk to dawn by a photocell."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from devices.fieldinfo import Chart, FieldInfo, Text
from devices.kind import DeviceKind, KindFields
from devices.senml_units import COUNT, SWITCH


class LightingReading(KindFields):
    """One reading of the lighting circuit: switched state, lamps, load and its protection."""

    lights_on: int | None = Field(None, ge=0, le=1)  # the photocell's command, 1 = on
    lamps_lit: int | None = Field(None, ge=0, le=1000)
    lamps_failed: int | None = Field(None, ge=0, le=1000)
    load_power_w: float | None = Field(None, ge=0, le=50000)
    circuit_fault: int | None = Field(None, ge=0, le=1)  # breaker tripped or earth leakage


class LightingSizes(BaseModel):
    """The security lamps on one circuit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lamps: int = Field(6, ge=1, le=1000)
    lamp_power_w: float = Field(40.0, gt=0, le=2000)


# Every field of LightingReading, in its order: how people see it.
INFO = {
    "lights_on": FieldInfo(
        "", "none", Text("Luzes ligadas", "Lights switched on"), Text("luzes", "lights"),
        0, 1, steps=(("text", None), ("yellow", 1.0)), chart=Chart(agg="max"), senml=SWITCH,
        description=Text("1 = a fotocélula ligou o circuito (do anoitecer ao amanhecer).",
                         "1 = the photocell switched the circuit on (dusk to dawn)."),
    ),
    "lamps_lit": FieldInfo(
        "", "none", Text("Lâmpadas acesas", "Lamps lit"), Text("lâmpadas acesas", "lamps lit"),
        0, 20, chart=Chart(agg="min", with_field="lamps_failed", headline="stat"), senml=COUNT,
    ),
    "lamps_failed": FieldInfo(
        "", "none", Text("Lâmpadas avariadas", "Lamps failed"),
        Text("lâmpadas avariadas", "lamps failed"), 0, 20,
        steps=(("green", None), ("yellow", 1.0), ("red", 3.0)),
        chart=Chart(agg="max", fleet="max"), senml=COUNT,
    ),
    "load_power_w": FieldInfo(
        "W", "watt", Text("Consumo da iluminação", "Lighting load"),
        Text("consumo luzes", "lighting load"), 0, 1000,
    ),
    "circuit_fault": FieldInfo(
        "", "none", Text("Falha do circuito", "Circuit fault"),
        Text("falha circuito", "circuit fault"), 0, 1,
        steps=(("green", None), ("red", 1.0)), chart=Chart(agg="max"), senml=SWITCH,
        description=Text("1 = disjuntor disparado ou fuga à terra.",
                         "1 = breaker tripped or earth leakage."),
    ),
}  # fmt: skip

# A police station in the dark is a security problem: page it (is_night: civil dusk to
# civil dawn at the station's own coordinates; the photocell switches on at sunset).
RULES = {
    "security_lights_off": {
        "condition": "lamps_lit < 1 and is_night == 1",
        "for": "15m",
        "severity": "critical",
        "title": {"pt": "Luzes de segurança apagadas", "en": "Security lights off"},
    },
}

KIND = DeviceKind(
    name="lighting", model=LightingReading, info=INFO, sizes=LightingSizes, device="lights1",
    rules=RULES,
)  # fmt: skip
