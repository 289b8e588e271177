"""Device status messages (`{"state": "online"|"offline"}`, retained) → `station_status` points."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from devices import schema
from devices.catalogue import get_kind
from devices.errors import SolarWaterError
from devices.lineprotocol import encode_line
from devices.topics import Topic

# Devices whose state is kept; a fleet of hundreds of stations has a few devices each.
MAX_DEVICES = 100_000


class StatusError(SolarWaterError, ValueError):
    """A refused status message; `reason` is the metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Status:
    """A parsed status: the state, and whether it speaks for the whole station."""

    online: bool
    station_scope: bool = False


def parse_status(topic: Topic, payload: bytes, max_bytes: int) -> Status:
    """Check size, kind and shape (in that order, so a huge payload is never parsed)."""
    if len(payload) > max_bytes:
        raise StatusError("status_too_large", f"status of {len(payload)} bytes > {max_bytes}")
    if get_kind(topic.kind) is None:
        raise StatusError("unknown_kind", f"status for unknown kind {topic.kind[:64]!r}")
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise StatusError("bad_status", "status payload is not JSON") from None
    state = doc.get("state") if isinstance(doc, dict) else None
    if state not in ("online", "offline"):
        raise StatusError("bad_status", 'status needs "state": "online" or "offline"')
    scope = doc.get("scope", "device")
    if scope not in ("device", "station"):
        raise StatusError("bad_status", 'status "scope" must be "device" or "station"')
    if scope == "station" and state == "online":
        # a gateway announces itself online per device: only its Will speaks for the station
        raise StatusError("bad_status", 'only "offline" may have "scope": "station"')
    return Status(state == "online", scope == "station")


class StatusTracker:
    """Per-device state; a point only on a change (retained messages repeat on reconnect).

    A station-scope offline (a gateway's Last Will) marks every known device of the station
    offline and holds them there until the device whose topic carried it is online again:
    the other devices' retained `online` messages predate the Will and must not undo it.
    """

    def __init__(self, max_devices: int = MAX_DEVICES) -> None:
        self.max_devices = max_devices
        self.known = 0
        # station → its devices (a dict for order and O(1) lookups: ids are the sender's choice)
        self.devices: dict[str, dict[str, None]] = {}
        self.state: dict[tuple[str, str], bool] = {}
        self.last_ms: dict[tuple[str, str], int] = {}
        self.latched: dict[str, str] = {}  # station → the device whose Will marked it offline

    def update(self, topic: Topic, status: Status, ts_ms: int) -> list[tuple[str, bool, str]]:
        """(device, online, line) for each device whose state changed; raises when full."""
        station, device = topic.station, topic.device
        devices = self.devices.get(station)
        if devices is None or device not in devices:
            if self.known >= self.max_devices:
                raise StatusError("status_table_full", f"already {self.max_devices} devices")
            self.known += 1
            self.devices.setdefault(station, {})[device] = None
        if status.station_scope:
            self.latched[station] = device
            changes = (self._change(station, d, False, ts_ms) for d in self.devices[station])
            return [c for c in changes if c is not None]
        if status.online:
            holder = self.latched.get(station)
            if holder is not None and holder != device:
                # sent before the Will (retained) or out of turn: the station is still offline
                change = self._change(station, device, False, ts_ms)
                return [change] if change is not None else []
            self.latched.pop(station, None)
        change = self._change(station, device, status.online, ts_ms)
        return [change] if change is not None else []

    def _change(
        self, station: str, device: str, online: bool, ts_ms: int
    ) -> tuple[str, bool, str] | None:
        key = (station, device)
        if self.state.get(key) == online:
            return None
        self.state[key] = online
        # Two changes in one millisecond would be one point: keep each device's strictly rising.
        ts_ms = max(ts_ms, self.last_ms.get(key, ts_ms - 1) + 1)
        self.last_ms[key] = ts_ms
        tags = {schema.STATION: station, schema.DEVICE: device}
        line = encode_line(schema.STATION_STATUS, tags, {"online": int(online)}, ts_ms)
        return device, online, line
