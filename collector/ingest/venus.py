"""The `venus` gateway decoder: a Victron GX's `N/<portal>/<service>/<instance>/<path>` values.

Venus values carry no timestamp and come one path a message: the values of one device that
arrive within `reading_window_ms` of its first form one reading, stamped at receive time.
The path table is the catalogue's (devices/venus.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import Field, ValidationError

from collector.ingest.decoded import DecoderSettings
from collector.ingest.gateway import GatewayResult
from collector.ingest.readings import Reading, device_series
from collector.logtext import safe
from devices import venus
from devices.catalogue import KINDS
from devices.kind import DeviceKind, FieldValue
from devices.stations import Fleet

log = logging.getLogger("collector")
_LOGGED_PORTALS_MAX = 256  # unknown portals named in the log; beyond, only counted
# Whether a GX has a battery monitor is known after its first full publish, or when one never
# ends (dbus-mqtt before flashmq sends no marker) this long after its first value.
MONITOR_SETTLE_MS = 10_000
OUTCOMES = (
    "decoded",  # a mapped value taken into a reading
    "null",  # {"value": null}: the device has no valid value now
    "removed",  # zero bytes: the path disappeared
    "ignored",  # a path the mapping does not know
    "unknown_portal",  # a portal no station of the fleet names
    "other_fluid",  # a tank reading of a fluid other than fresh water, not written
    "fluid_unknown",  # a tank reading before its /FluidType was heard, not written
    "sensor_fault",  # a tank level value dropped because /Status reports a fault
    "superseded",  # a charger's battery value dropped: the GX has a battery monitor
    "awaiting_monitor",  # a charger's battery value dropped: not yet known if a monitor exists
    "full_publish",  # full_publish_completed markers
)


class VenusDecoderSettings(DecoderSettings):
    """Victron Venus OS (dbus-flashmq) values of the portals the fleet names."""

    type: Literal["venus"] = "venus"
    bridge_prefix: str = Field(
        "",
        pattern=r"^([A-Za-z0-9_-]+/)*$",
        description="Topic prefix a broker bridge puts before N/ and R/ (e.g. 'gx/'; none)",
    )
    keepalive_interval_s: float = Field(
        30.0, gt=0, le=55, description="Keep-alive period per portal (a GX stops after 60 s)"
    )
    reading_window_ms: int = Field(
        1000, ge=10, le=10_000, description="Values of a device within this form one reading"
    )
    max_devices: int = Field(
        4096, ge=1, le=1_000_000, description="GX devices tracked at once (venus_table_full)"
    )


VENUS_SAMPLE = """\
ingest:
  gateways:
    - type: venus          # every station with a victron_portal_id
      bridge_prefix: ""    # e.g. "gx/" when the bridge remaps N/ and R/
"""


@dataclass(slots=True)
class _Pending:
    """The values of one device gathered since its first one arrived."""

    kind: DeviceKind
    started_ms: int
    values: dict[str, FieldValue] = field(default_factory=dict)


@dataclass(slots=True)
class _Device:
    """What is kept of one device between readings."""

    fluid: int | None = None
    status: int | None = None
    last_ts_ms: int = 0


def _reason(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    kind = err["type"]
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        reason = "out_of_range"
    elif kind == "finite_number":
        reason = "not_finite"
    else:
        reason = "wrong_type"
    return reason, f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"[:300]


def _service(device: str) -> str:
    """The Venus service of a device id (`battery512` -> `battery`)."""
    return device.rstrip("0123456789")


def _refused(reason: str, detail: str, station: str = "") -> GatewayResult:
    return GatewayResult(reason=reason, detail=detail, station=station)


class VenusDecoder:
    """Values of the fleet's GX devices, assembled per device into catalogue readings."""

    name = "venus"

    def __init__(
        self, settings: VenusDecoderSettings, max_payload_bytes: int, fleet: Fleet
    ) -> None:
        self.settings = settings
        self.keepalive_interval_s = settings.keepalive_interval_s
        self.max_payload_bytes = max_payload_bytes
        self.head = settings.bridge_prefix + "N/"
        self.portals = {
            p: (s.id, s.district) for p in fleet.portals if (s := fleet.by_portal(p)) is not None
        }
        self.districts = {st: district for st, district in self.portals.values()}
        self.window_ms = settings.reading_window_ms
        self.max_devices = settings.max_devices
        self.pending: dict[tuple[str, str], _Pending] = {}
        # station -> its battery monitors heard (bounded: each is one of `devices`)
        self.monitors: dict[str, set[str]] = {}
        # per station (bounded by the fleet's portals): its first value, its first full publish
        self.first_ms: dict[str, int] = {}
        self.settled: set[str] = set()
        self.devices: dict[tuple[str, str], _Device] = {}
        self._counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self._logged: set[str] = set()

    # --- the plugin's faces -----------------------------------------------------------
    def filters(self) -> list[str]:
        return [venus.portal_filter(p, self.settings.bridge_prefix) for p in self.portals]

    def owns(self, topic: str) -> bool:
        return topic.startswith(self.head)

    def keepalives(self, fresh: bool) -> list[tuple[str, bytes]]:
        # empty: a full publish (after each new subscription); later, no republish
        payload = b"" if fresh else venus.SUPPRESS_REPUBLISH
        return [
            (venus.keepalive_topic(p, self.settings.bridge_prefix), payload) for p in self.portals
        ]

    def counts(self) -> Mapping[str, int]:
        return self._counts

    def faults(self) -> list[dict[str, Any]]:
        return [
            {"station": st, "device": dev, "fault": "tank_sensor", "status": d.status}
            for (st, dev), d in sorted(self.devices.items())
            if d.status is not None and d.status != venus.TANK_STATUS_OK
        ]

    # --- one message ---------------------------------------------------------------------
    def decode(self, topic: str, payload: bytes, received_ms: int) -> GatewayResult:
        portal, _, rest = topic[len(self.head) :].partition("/")
        known = self.portals.get(portal)
        if known is None:
            self._counts["unknown_portal"] += 1
            if portal not in self._logged and len(self._logged) < _LOGGED_PORTALS_MAX:
                self._logged.add(portal)
                log.warning("venus: portal %s is in no station of the fleet; ignored", safe(portal))
            return GatewayResult()
        station = known[0]
        self.first_ms.setdefault(station, received_ms)
        if rest == venus.FULL_PUBLISH_COMPLETED:
            # the republish is a snapshot, complete now: each device's values are one reading
            self._counts["full_publish"] += 1
            self.settled.add(station)
            out = GatewayResult(station=station)
            for key in [k for k in self.pending if k[0] == station]:
                done = self._complete(key, self.pending.pop(key))
                if done is not None:
                    out.readings.append(done)
            return out
        service, _, rest = rest.partition("/")
        instance, _, path = rest.partition("/")
        kind_name = venus.SERVICE_KIND.get(service)
        mapped = venus.BY_PATH.get((service, path))
        state = service == "tank" and path in venus.TANK_STATE_PATHS
        if kind_name is None or (mapped is None and not state):
            self._counts["ignored"] += 1
            return GatewayResult(station=station)
        if not instance.isdigit() or not instance.isascii() or len(instance) > 10:
            return _refused(
                "bad_topic", f"venus instance {instance[:20]!r} is not a number", station
            )
        device = f"{service}{instance}"
        if not payload:
            self._counts["removed"] += 1
            if service == venus.BATTERY_MONITOR:  # the monitor went away: the charger's count again
                self.monitors.get(station, set()).discard(device)
            return GatewayResult(station=station)
        if len(payload) > self.max_payload_bytes:
            return _refused(
                "oversized", f"{len(payload)} bytes > {self.max_payload_bytes}", station
            )
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            reason = "not_utf8" if "utf-8" in str(exc).lower() else "malformed_json"
            return _refused(reason, str(exc)[:200], station)
        if type(doc) is not dict or "value" not in doc:
            return _refused("bad_venus", 'a Venus payload is an object {"value": ...}', station)
        value = doc["value"]
        if value is None:
            self._counts["null"] += 1
            return GatewayResult(station=station)
        kind = KINDS[kind_name]
        if state:
            if type(value) is not int or not 0 <= value <= 255:
                return _refused("wrong_type", f"{path}: must be an integer code", station)
            return self._tank_state(station, device, kind, path, value, received_ms)
        assert mapped is not None
        converted = self._convert(mapped, value)
        if isinstance(converted, GatewayResult):
            converted.station = station
            return converted
        try:
            kind.fields({mapped.field: converted})
        except ValidationError as exc:
            return _refused(*_reason(exc), station)
        return self._add(station, device, kind, mapped.field, converted, received_ms)

    def _convert(self, mapped: venus.VenusPath, value: Any) -> FieldValue | GatewayResult:
        """The value in the catalogue's terms, or the refusal."""
        if mapped.codes is not None:
            if type(value) is not int:
                return _refused("wrong_type", f"{mapped.path}: must be an integer state code")
            name = mapped.codes.get(value)
            if name is None:
                return _refused("unknown_state", f"{mapped.path}: state code {value} is not mapped")
            return name
        if type(value) not in (int, float):
            return _refused("wrong_type", f"{mapped.path}: must be a number")
        if mapped.scale != 1.0:
            return round(float(value) * mapped.scale, 6)
        return value  # type: ignore[no-any-return]

    def _tank_state(
        self, station: str, device: str, kind: DeviceKind, path: str, value: int, at_ms: int
    ) -> GatewayResult:
        dev = self._device((station, device))
        if dev is None:
            return _refused("venus_table_full", f"already {self.max_devices} devices", station)
        if path == venus.FLUID_TYPE_PATH:
            dev.fluid = value
            self._counts["decoded"] += 1
            return GatewayResult(station=station)
        was, dev.status = dev.status, value
        if value != venus.TANK_STATUS_OK and was != value:
            log.warning("venus: %s %s tank sensor reports status %d", station, device, value)
        return self._add(station, device, kind, venus.TANK_STATUS_FIELD, value, at_ms)

    def _device(self, key: tuple[str, str]) -> _Device | None:
        dev = self.devices.get(key)
        if dev is None:
            if len(self.devices) >= self.max_devices:
                return None
            dev = self.devices[key] = _Device()
        return dev

    def _add(
        self, station: str, device: str, kind: DeviceKind, name: str, value: FieldValue, at_ms: int
    ) -> GatewayResult:
        key = (station, device)
        if self._device(key) is None:
            return _refused("venus_table_full", f"already {self.max_devices} devices", station)
        if _service(device) == venus.BATTERY_MONITOR:
            self.monitors.setdefault(station, set()).add(device)
        out = GatewayResult(station=station)
        p = self.pending.get(key)
        # a value of a path already in the reading starts the next one: the GX sent it anew
        if p is not None and (at_ms - p.started_ms >= self.window_ms or name in p.values):
            done = self._complete(key, self.pending.pop(key))
            if done is not None:
                out.readings.append(done)
            p = None
        if p is None:
            p = self.pending[key] = _Pending(kind, at_ms)
        p.values[name] = value
        self._counts["decoded"] += 1
        return out

    # --- readings --------------------------------------------------------------------------
    def flush(self, now_ms: int) -> list[Reading]:
        due = [k for k, p in self.pending.items() if now_ms - p.started_ms >= self.window_ms]
        out: list[Reading] = []
        for key in due:
            done = self._complete(key, self.pending.pop(key))
            if done is not None:
                out.append(done)
        return out

    def _charger_battery(self, station: str, at_ms: int) -> str:
        """Why a charger's battery values are not the station's battery now ('': they are)."""
        if self.monitors.get(station):
            return "superseded"
        settled = at_ms - self.first_ms.get(station, at_ms) >= MONITOR_SETTLE_MS
        if station not in self.settled and not settled:
            return "awaiting_monitor"
        return ""

    def _complete(self, key: tuple[str, str], p: _Pending) -> Reading | None:
        station, device = key
        dev = self.devices[key]
        values = p.values
        if p.kind.name == venus.SERVICE_KIND["tank"]:
            if dev.fluid is None or dev.fluid != venus.FRESH_WATER:
                self._counts["fluid_unknown" if dev.fluid is None else "other_fluid"] += 1
                return None
            if dev.status is not None:
                values[venus.TANK_STATUS_FIELD] = dev.status  # every point says the sensor's state
                if dev.status != venus.TANK_STATUS_OK:
                    for name in venus.TANK_SENSOR_FIELDS:
                        if values.pop(name, None) is not None:
                            self._counts["sensor_fault"] += 1
        elif _service(device) == venus.CHARGER:
            # judged when the reading closes, so a full publish's monitor values count even
            # when they come after the charger's
            why = self._charger_battery(station, p.started_ms)
            for name in venus.MONITOR_FIELDS if why else ():
                if values.pop(name, None) is not None:
                    self._counts[why] += 1
        if not values:
            return None
        fields = p.kind.fields(values)  # each value was checked on arrival
        # one point per device and millisecond: a quick GX must not overwrite its last one
        ts_ms = max(p.started_ms, dev.last_ts_ms + 1)
        dev.last_ts_ms = ts_ms
        district = self.districts.get(station)
        try:
            line: str | None = (
                f"{device_series(p.kind.name, station, device, district)} "
                f"{p.kind.fields_text(fields)} {ts_ms}"
            )
        except ValueError:
            line = None
        return Reading(station, district, p.kind.name, device, ts_ms, None, fields, line)


def make_venus(
    settings: VenusDecoderSettings, max_payload_bytes: int, fleet: Fleet
) -> VenusDecoder:
    """The plugin's factory."""
    return VenusDecoder(settings, max_payload_bytes, fleet)
