"""`insight:` settings: when the forecasts run and the figures they judge by."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from collector.alerts.durations import Duration
from devices.chemistry import CHEMISTRIES, facts_of
from devices.solar import Chemistry


class InsightSettings(BaseModel):
    """Forecasts, leak and catchment checks, completeness and silence causes."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Compute forecasts and completeness")
    check_every: Duration = Field(
        60.0, gt=0, description="How often (wall time) to look for a new hour of fleet time"
    )
    timezone: str = Field("Africa/Maputo", description="Local time of the stations' days")
    low_soc_pct: dict[Chemistry, float] = Field(
        default_factory=lambda: {k: v.low_soc for k, v in CHEMISTRIES.items()},
        description="Battery low mark per chemistry (battery_days counts to it)",
    )
    runoff_coefficient: float = Field(
        0.85, gt=0, le=1, description="Share of rain on the roof a clean gutter delivers"
    )
    min_storm_litres: float = Field(
        200.0, ge=0, description="Smaller storms do not judge the catchment"
    )
    leak_window: Duration = Field(
        3 * 3600.0, gt=0, description="Span over which unexplained level loss is measured"
    )
    night_outflow_lph: float = Field(
        6.0, ge=0, description="Recorded 02:00-05:00 use above this counts as a leak (L/h)"
    )
    quiet_after: Duration = Field(
        1800.0, gt=0, description="A station this long without readings is diagnosed as silent"
    )
    backfill_hours: int = Field(
        48, ge=1, le=24 * 31, description="Most hours of fleet time computed after a jump"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {name!r}") from None
        return name

    def low_soc(self, chemistry: str) -> float:
        """The low mark of `chemistry` (the chemistry's default when not configured)."""
        for name, given in self.low_soc_pct.items():
            if name == chemistry:
                return float(given)
        facts = facts_of(chemistry)
        return facts.low_soc if facts is not None else 50.0
