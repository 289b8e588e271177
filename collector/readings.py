"""A validated, enriched reading: what the decoder hands to the sink and the alert engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from devices.kind import FieldValue
from devices.lineprotocol import encode_line


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of one device, after validation and registry enrichment."""

    station: str
    district: str | None
    kind: str
    device: str
    ts_ms: int
    seq: int | None
    fields: Mapping[str, FieldValue]

    def to_line(self) -> str:
        """The InfluxDB point (design §4): measurement = kind; station/device/district tags."""
        tags = {"station": self.station, "device": self.device, "district": self.district}
        return encode_line(self.kind, tags, self.fields, self.ts_ms)
