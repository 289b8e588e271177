"""Device status messages (`{"state": "online"|"offline"}`, retained) → `station_status` points."""

from __future__ import annotations

import orjson

from devices import schema
from devices.lineprotocol import encode_line
from devices.topics import Topic


class StatusError(ValueError):
    """A status payload that is not `{"state": "online"|"offline", ...}`."""


def parse_status(payload: bytes) -> bool:
    """True for online, False for offline; raises StatusError otherwise."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise StatusError("status payload is not JSON") from None
    state = doc.get("state") if isinstance(doc, dict) else None
    if state not in ("online", "offline"):
        raise StatusError('status needs "state": "online" or "offline"')
    return bool(state == "online")


class StatusTracker:
    """Writes a point only when a device's state changes (retained messages repeat on reconnect)."""

    def __init__(self) -> None:
        self.state: dict[tuple[str, str], bool] = {}
        self.last_ms: dict[tuple[str, str], int] = {}

    def update(self, topic: Topic, online: bool, ts_ms: int) -> str | None:
        """The line for a change, or None when nothing changed."""
        key = (topic.station, topic.device)
        if self.state.get(key) == online:
            return None
        self.state[key] = online
        # Two changes in one millisecond would be one point: keep each device's strictly rising.
        ts_ms = max(ts_ms, self.last_ms.get(key, ts_ms - 1) + 1)
        self.last_ms[key] = ts_ms
        tags = {schema.STATION: topic.station, schema.DEVICE: topic.device}
        return encode_line(schema.STATION_STATUS, tags, {"online": int(online)}, ts_ms)
