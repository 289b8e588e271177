"""The sink Protocol and the two ways a write can fail."""

from __future__ import annotations

from typing import Protocol

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

    async def write(self, lines: list[str]) -> None:
        """Write all lines or raise SinkUnavailable / SinkRejected."""
        ...

    async def ping(self) -> bool:
        """True when the database answers."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
