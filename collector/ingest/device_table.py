"""What a decoder keeps of each device: its kind, district and escaped series key, bounded."""

from __future__ import annotations

from collector.ingest.readings import device_series
from devices.catalogue import get_kind
from devices.kind import DeviceKind
from devices.stations import Fleet

# (kind, district from the registry, escaped series key: None when the line protocol refuses
# it, and to_line then raises as usual)
Device = tuple[DeviceKind, str | None, str | None]
DEVICES_MAX = 65_536  # far more than a fleet has; once full, new devices are looked up each time


class DeviceTable:
    """Each device's entry by (kind, station, device): one lookup a message, not three."""

    def __init__(self, fleet: Fleet) -> None:
        # Fleet is frozen: its districts once, a dict lookup per message instead of
        # Fleet.district_of's pydantic private-attribute access (~8% at one reading/msg).
        self._districts = {s.id: s.district for s in fleet.stations}
        self.entries: dict[tuple[str, str, str], Device] = {}

    def get(self, key: tuple[str, str, str]) -> Device | None:
        """The entry for (kind, station, device); None for a kind the catalogue lacks."""
        return self.entries.get(key) or self.look_up(key)

    def look_up(self, key: tuple[str, str, str]) -> Device | None:
        """The entry for (kind, station, device), looked up and kept while there is room."""
        kind_name, station, device = key
        kind = get_kind(kind_name)
        if kind is None:
            return None
        district = self._districts.get(station)
        series: str | None
        try:
            series = device_series(kind.name, station, device, district)
        except ValueError:
            series = None
        entry = (kind, district, series)
        if len(self.entries) < DEVICES_MAX:
            self.entries[key] = entry
        return entry
