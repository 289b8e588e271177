"""The station registry: a YAML fleet file, validated, with lookups by station id."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from devices.errors import ConfigError
from devices.topics import ID_RE

Chemistry = Literal["lead_acid", "gel", "lifepo4"]
SAMPLE_FLEET = "cabo-delgado.yaml"


class FleetError(ConfigError):
    """A fleet file that cannot be used; the message is one line."""


class Station(BaseModel):
    """One site and the sizes of its systems."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_RE.pattern)
    name: str = Field(min_length=1, max_length=200)
    # a tag value: InfluxDB cannot store control characters or a trailing backslash
    district: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\\]+$")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    kind: Literal["police_station", "border_post", "community"] = "police_station"
    pv_kwp: float = Field(gt=0, le=100)
    battery_ah: float = Field(gt=0, le=20000)
    battery_chemistry: Chemistry = "lead_acid"
    battery_voltage: float = Field(24.0, gt=0, le=60)
    tank_litres: float = Field(gt=0, le=1_000_000)
    roof_area_m2: float = Field(gt=0, le=10_000)
    people: int = Field(20, ge=0, le=1000)


class Fleet(BaseModel):
    """A validated fleet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stations: tuple[Station, ...]

    @field_validator("stations")
    @classmethod
    def _unique(cls, stations: tuple[Station, ...]) -> tuple[Station, ...]:
        seen: set[str] = set()
        for s in stations:
            if s.id in seen:
                raise ValueError(f"station id {s.id!r} appears twice")
            seen.add(s.id)
        return stations

    _by_id: dict[str, Station] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: object, /) -> None:
        self._by_id = {s.id: s for s in self.stations}

    def get(self, station_id: str) -> Station | None:
        """The registered station, or None when it is not in the registry."""
        return self._by_id.get(station_id)

    def district_of(self, station_id: str) -> str | None:
        """The station's district, or None for an unregistered station."""
        station = self.get(station_id)
        return station.district if station else None


EMPTY_FLEET = Fleet(stations=())


def sample_fleet_path() -> Path:
    """Path of the shipped sample fleet of 19 sites in Cabo Delgado."""
    return Path(str(resources.files("devices") / "fleets" / SAMPLE_FLEET))


def load_fleet(path: Path | str | None = None) -> Fleet:
    """Load and validate a fleet file (the sample fleet when `path` is None)."""
    p = Path(path) if path is not None else sample_fleet_path()
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FleetError(f"fleet file {p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise FleetError(f"fleet file {p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise FleetError(f"fleet file {p}: expected a mapping with a 'stations' list")
    try:
        return Fleet.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise FleetError(f"fleet file {p}: {where}: {err['msg']}") from None
