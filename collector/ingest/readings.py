"""A validated, enriched reading: what the decoder hands to the sink and the alert engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from devices import schema
from devices.kind import FieldValue
from devices.lineprotocol import fields_text, series


def device_series(kind: str, station: str, device: str, district: str | None) -> str:
    """A device's escaped series key: measurement = kind; station/device/district tags."""
    tags = {schema.STATION: station, schema.DEVICE: device, schema.DISTRICT: district}
    return series(kind, tags)


# For readings built without their series key (the decoder keeps its own, per device).
series_key = lru_cache(maxsize=65536)(device_series)


@dataclass(slots=True)  # not frozen: a frozen constructor costs ~5x on the hot path
class Reading:
    """One reading of one device, after validation and registry enrichment."""

    station: str
    district: str | None
    kind: str
    device: str
    ts_ms: int
    seq: int | None
    fields: Mapping[str, FieldValue]
    # The point, when the decoder built it (it has the device's series key and the kind's
    # formatter for fields it validated). None: to_line builds it (and raises if it must).
    line: str | None = field(default=None, compare=False, repr=False)

    def to_line(self) -> str:
        """The InfluxDB point (design §4): measurement = kind; station/device/district tags."""
        if self.line is not None:
            return self.line
        key = series_key(self.kind, self.station, self.device, self.district)
        return f"{key} {fields_text(self.fields)} {self.ts_ms}"
