"""Which devices the collector keeps state for: a bounded number per station and of stations."""

from __future__ import annotations

from devices.stations import Fleet

TOO_MANY_DEVICES = "too_many_devices"
TOO_MANY_STATIONS = "too_many_stations"


class DeviceAdmission:
    """Admits at most `max_devices` devices per station and `max_unregistered` unknown stations."""

    # Every per-device table (seq tracker, status, alert state, /devices, InfluxDB series)
    # grows only with what is admitted here. Registered stations always fit; a station's
    # first `max_devices` devices are admitted, later ones refused (the fleet file names
    # stations, not devices, so an invented id and a new real one look alike).

    def __init__(self, fleet: Fleet, max_devices: int, max_unregistered: int) -> None:
        self.max_devices = max_devices
        self.max_unregistered = max_unregistered
        self._registered = frozenset(s.id for s in fleet.stations)
        self._admitted: set[tuple[str, str, str]] = set()
        self._per_station: dict[str, int] = {}
        self.unregistered_stations = 0

    @property
    def devices(self) -> int:
        """Devices admitted so far."""
        return len(self._admitted)

    @property
    def stations(self) -> int:
        """Stations with at least one admitted device."""
        return len(self._per_station)

    def admit(self, station: str, kind: str, device: str) -> bool:
        """Whether the collector takes this device's messages (telemetry and status alike)."""
        return self.refusal(station, kind, device) is None

    def refusal(self, station: str, kind: str, device: str) -> tuple[str, str] | None:
        """None for an admitted device, else (reason, detail); admits it when there is room."""
        key = (station, kind, device)
        if key in self._admitted:
            return None
        count = self._per_station.get(station)
        if count is None:
            if station not in self._registered:
                if self.unregistered_stations >= self.max_unregistered:
                    detail = f"{self.max_unregistered} unregistered stations already report"
                    return TOO_MANY_STATIONS, detail
                self.unregistered_stations += 1
            count = 0
        if count >= self.max_devices:
            detail = f"station {station!r} already has {count} devices"
            return TOO_MANY_DEVICES, detail
        self._per_station[station] = count + 1
        self._admitted.add(key)
        return None
