"""The station registry: a YAML fleet file, validated, with lookups by station id."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from devices.catalogue import KINDS
from devices.errors import ConfigError
from devices.solar import Chemistry
from devices.topics import ID_RE

__all__ = [
    "DIALECTS",
    "Chemistry",
    "Device",
    "Dialect",
    "Fleet",
    "FleetError",
    "Station",
    "load_fleet",
]
SAMPLE_FLEET = "cabo-delgado.yaml"
SizeValue = float | int | str | bool
Dialect = Literal["native", "venus", "senml"]
DIALECTS: tuple[Dialect, ...] = ("native", "venus", "senml")
# A VRM portal id: 12 hex digits on a GX (its MAC), any short alphanumeric id on a test bench.
PORTAL_ID_RE = r"^[A-Za-z0-9]{1,64}$"


class FleetError(ConfigError):
    """A fleet file that cannot be used; the message is one line."""


class Device(BaseModel):
    """One device of a station: its kind, its id (the topic segment) and its kind's sizes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    id: str = Field(pattern=f"^{ID_RE.pattern}$")
    sizes: BaseModel

    @model_validator(mode="before")
    @classmethod
    def _sizes_of_kind(cls, raw: Any) -> Any:
        # a fleet file writes the sizes beside kind and id; the kind's own model checks them
        if not isinstance(raw, dict) or "sizes" in raw:
            return raw
        rest = dict(raw)
        kind = rest.pop("kind", None)
        dk = KINDS.get(kind) if isinstance(kind, str) else None
        if dk is None:
            raise ValueError(f"'kind' must be one of {', '.join(KINDS)} (got {kind!r})")
        dev = rest.pop("id", dk.device)
        try:
            sizes = dk.sizes.model_validate(rest)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            raise ValueError(f"{kind} device {dev!r}: {where}: {err['msg']}") from None
        return {"kind": kind, "id": dev, "sizes": sizes}

    def size(self, name: str) -> SizeValue | None:
        """One of the device's sizes, or None when its kind has no such size."""
        value = getattr(self.sizes, name, None)
        return value if isinstance(value, SizeValue) else None


def default_devices() -> tuple[Device, ...]:
    """One device of every catalogue kind, at its usual id and default sizes."""
    return tuple(Device(kind=k.name, id=k.device, sizes=k.sizes()) for k in KINDS.values())


class Station(BaseModel):
    """One site and its devices (one of each kind, default sizes, when it lists none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=f"^{ID_RE.pattern}$")
    name: str = Field(min_length=1, max_length=200)
    # a tag value: InfluxDB cannot store control characters or a trailing backslash
    district: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\\]+$")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    kind: Literal["police_station", "border_post", "community"] = "police_station"
    people: int = Field(20, ge=0, le=1000)
    # how often each device reports: what data completeness expects of a day
    report_interval_s: int = Field(300, ge=10, le=86400)
    devices: tuple[Device, ...] = Field(default_factory=default_devices, max_length=64)
    # What the station's gear speaks on MQTT; a GX names its portal, whatever the dialect.
    dialect: Dialect = "native"
    victron_portal_id: str | None = Field(None, pattern=PORTAL_ID_RE)

    @model_validator(mode="after")
    def _venus_has_portal(self) -> Station:
        if self.dialect == "venus" and self.victron_portal_id is None:
            raise ValueError("dialect venus needs the GX's victron_portal_id")
        return self

    @field_validator("devices")
    @classmethod
    def _unique_devices(cls, devices: tuple[Device, ...]) -> tuple[Device, ...]:
        seen: set[str] = set()
        for d in devices:
            if d.id in seen:
                raise ValueError(f"device id {d.id!r} appears twice")
            seen.add(d.id)
        return devices

    def devices_of(self, kind: str) -> tuple[Device, ...]:
        """The station's devices of `kind`, in the registry's order."""
        return tuple(d for d in self.devices if d.kind == kind)

    def size(self, name: str) -> SizeValue | None:
        """A size as the first device that has it gives it (e.g. battery_chemistry), or None."""
        for d in self.devices:
            value = d.size(name)
            if value is not None:
                return value
        return None


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
        portals: set[str] = set()
        for s in stations:
            if s.victron_portal_id is not None:
                if s.victron_portal_id in portals:
                    raise ValueError(f"victron_portal_id {s.victron_portal_id!r} appears twice")
                portals.add(s.victron_portal_id)
        return stations

    _by_id: dict[str, Station] = PrivateAttr(default_factory=dict)
    _by_portal: dict[str, Station] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: object, /) -> None:
        self._by_id = {s.id: s for s in self.stations}
        self._by_portal = {
            s.victron_portal_id: s for s in self.stations if s.victron_portal_id is not None
        }

    def by_portal(self, portal_id: str) -> Station | None:
        """The station whose GX has this VRM portal id, or None."""
        return self._by_portal.get(portal_id)

    @property
    def portals(self) -> tuple[str, ...]:
        """Every VRM portal id the fleet names, in fleet order."""
        return tuple(self._by_portal)

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
