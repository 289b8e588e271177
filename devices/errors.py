"""The one error root: everything SolarWater raises on purpose is a SolarWaterError."""

from __future__ import annotations


class SolarWaterError(Exception):
    """An error SolarWater raises on purpose; anything else is a bug."""


class ConfigError(SolarWaterError, ValueError):
    """A configuration mistake: the CLIs print it in one line and exit 2, no traceback."""

    # A ValueError too: raised in a pydantic validator it becomes that field's error.
