"""The sink Protocol, the settings every sink shares, a sink plugin, and the two write failures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from devices.errors import SolarWaterError


class SinkUnavailable(SolarWaterError):
    """The database could not take the batch now (down, timeout, 5xx, auth): spool and retry."""


class SinkRejected(SolarWaterError):
    """The database refused the data itself (HTTP 400): retrying the same lines cannot help."""


class Sink(Protocol):
    """Writes line protocol with millisecond timestamps."""

    name: str

    async def start(self) -> None:
        """Open connections."""
        ...

    async def prepare(self) -> None:
        """Make the target ready to take writes (e.g. create the database); harmless if it is."""
        ...

    async def write(self, lines: list[str]) -> None:
        """Write all lines or raise SinkUnavailable / SinkRejected."""
        ...

    def events_sink(self) -> Sink:
        """A sink of the same server for the alert transitions (`schema.EVENTS_RP`'s place)."""
        ...

    async def ping(self) -> bool:
        """True when the database answers."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class SinkSettings(BaseModel):
    """What the writer needs from any sink's settings; each plugin adds its own fields."""

    model_config = ConfigDict(extra="forbid")

    api: str = Field(description="The sink plugin by name (the registry's keys)")
    url: str = Field(
        "http://localhost:8086",
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="InfluxDB base URL (a user:pass@ in it: environment only)",
    )
    timeout_s: float = Field(
        10.0, gt=0, le=300, description="Write timeout; a timeout sends the batch to the spool"
    )
    batch_size: int = Field(5000, ge=1, le=100_000, description="Lines per write at most")
    flush_interval_s: float = Field(
        0.5, gt=0, le=60, description="A batch is written at the latest this long after it opened"
    )
    linger_s: float = Field(
        0.05,
        ge=0,
        le=60,
        description="With nothing more arriving, a batch is written once this old (lets batches"
        " grow under load)",
    )
    verify_tls: bool = Field(True, description="Verify the server certificate for https://")

    def influxql_access(self) -> tuple[str, dict[str, str]] | None:
        """The database and headers an InfluxQL reader (`/query`) uses; None: it cannot read."""
        return None


@dataclass(frozen=True)
class SinkPlugin:
    """One sink: its settings model, the factory that builds it, and a sample `influx:` block."""

    name: str
    settings: type[SinkSettings]
    factory: Callable[[Any], Sink]
    sample: str
