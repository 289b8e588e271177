"""How people see a kind's fields: units, labels in pt and en, display range, colours, panels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from devices.senml_units import units_of

Lang = Literal["pt", "en"]
LANGS: tuple[Lang, ...] = ("pt", "en")
# (colour, lower bound): the first step is the base, its bound None (= -Infinity in Grafana)
Step = tuple[str, float | None]
ChartStyle = Literal["line", "bars", "state", "none"]


@dataclass(frozen=True, slots=True)
class Text:
    """One text in each language SolarWater speaks."""

    pt: str
    en: str

    def __call__(self, lang: Lang) -> str:
        return self.pt if lang == "pt" else self.en


@dataclass(frozen=True, slots=True)
class Chart:
    """Where a field is drawn on the dashboards (the station board and, if `fleet`, the fleet)."""

    style: ChartStyle = "line"
    agg: str = "mean"  # InfluxQL aggregate per time bucket
    # A fixed bucket (daily totals: "1d, -2h" starts each day at midnight in Maputo, UTC+2);
    # None buckets by Grafana's $__interval, at least `interval`.
    bucket: str | None = None
    interval: str = "5m"
    fill: str = "null"
    # Drawn on the panel of this field, on a right axis with its own unit.
    with_field: str | None = None
    # The latest value at the top of the station board, as a gauge or a big number.
    headline: Literal["gauge", "stat"] | None = None
    # On the fleet board: a table column, a by-station panel, and the fleet's worst value,
    # the lowest ("min") or the highest ("max").
    fleet: Literal["min", "max"] | None = None


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field as shown to people; its type and validation bounds live in the model."""

    unit: str  # SI text ("V", "%", "°C"); "" for a count, code or state
    grafana_unit: str  # a Grafana unit id ("volt", "percent", "celsius")
    label: Text  # panel titles and table columns
    short: Text  # SMS alert texts, where every character counts
    # Display range of a number (axes: soft; gauges: hard); a string field has none.
    low: float | None = None
    high: float | None = None
    steps: tuple[Step, ...] = ()  # display thresholds, ascending
    colors: Mapping[str, str] = field(default_factory=dict)  # a state string -> its colour
    chart: Chart = Chart()
    description: Text | None = None
    # SenML unit symbols this field takes, with the exact factor to `unit`; None: the usual
    # ones of `unit` (devices/senml_units.py). A field says so only where it differs.
    senml: Mapping[str, Fraction] | None = None

    def senml_units(self) -> Mapping[str, Fraction]:
        """SenML symbol -> exact factor to this field's unit ({}: the field takes no unit)."""
        return units_of(self.unit) if self.senml is None else self.senml

    def sms_unit(self) -> str:
        """The unit as an SMS writes it after a number: '%', ' V', ' C' (GSM-7 has no °)."""
        text = self.unit.replace("°", "")
        return text if text in ("", "%") else " " + text
