"""Settings of one simulation run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from devices.stations import Dialect, Fleet
from devices.topics import DEFAULT_PREFIX


class SimulationConfig(BaseModel):
    """Everything `run_simulation` needs; the CLI builds one from its arguments."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    mqtt_url: str
    fleet_file: Path | None = None
    fleet: Fleet | None = None  # library use: a fleet object instead of a file
    stations: int | None = Field(None, ge=1)
    start: datetime | None = None  # None: now minus duration, aligned down to the interval
    duration_s: int = Field(86400, gt=0)
    interval_s: int = Field(300, gt=0)
    speed: float = Field(0.0, ge=0)
    seed: int = 1
    scenario: str = "default"
    scenario_station: str | None = None
    prefix: str = DEFAULT_PREFIX
    state_dir: Path | None = None  # None: a temporary folder removed at the end
    buffer_max: int = Field(10_000, ge=1)
    ca_file: Path | None = None
    credentials_file: Path | None = None  # None: every station logs in as the URL's user
    quiet: bool = False
    window: int = Field(32, ge=1, le=1000)  # in-flight QoS 1 publishes per device
    drain_timeout_s: float = Field(60.0, gt=0)
    dialect: Dialect | None = None  # None: each station's own (fleet file); else all of them

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not v or any(c in v for c in "+#\0") or v.startswith("/") or v.endswith("/"):
            raise ValueError(f"bad topic prefix {v!r}")
        return v

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("start needs a UTC offset")
        return v

    @model_validator(mode="after")
    def _interval_fits(self) -> SimulationConfig:
        if self.interval_s > self.duration_s:
            raise ValueError("interval is longer than the duration")
        if self.fleet is not None and self.fleet_file is not None:
            raise ValueError("give a fleet or a fleet file, not both")
        return self
