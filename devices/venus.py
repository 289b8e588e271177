"""Victron Venus OS (GX) dbus paths and how they map onto the catalogue's kinds and fields.

Source: the victronenergy/venus wiki page "dbus" (services and paths; SI units except energy
in kWh and temperature in degrees Celsius) and the dbus-flashmq README (topics, payloads,
keep-alive). Both the collector's decoder and the simulator's GX read this one table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from devices.catalogue import KINDS

# com.victronenergy.solarcharger /State (the wiki's enum); 245 "Off" is reported while
# starting up, 6 "Storage" is a float stage in our terms.
STATE_CODES: Mapping[int, str] = {
    0: "off",
    245: "off",
    2: "fault",
    3: "bulk",
    4: "absorption",
    5: "float",
    6: "float",
    7: "equalize",
}
# What a GX publishes for each of our charge states (the first code of each).
STATE_OF: Mapping[str, int] = {name: code for code, name in list(STATE_CODES.items())[::-1]}

# com.victronenergy.tank /FluidType: 0 fuel, 1 fresh water, 2 waste water, 3 live well,
# 4 oil, 5 black water (sewage), 6 gasoline, 7 diesel, 8 LPG, 9 LNG, 10 hydraulic oil,
# 11 raw water. Only fresh water is a water tank of ours.
FLUID_TYPE_PATH = "FluidType"
FRESH_WATER = 1
# /Status: 0 ok, 1 disconnected, 2 short circuited, 3 reverse polarity, 4 unknown, 5 error.
TANK_STATUS_PATH = "Status"
TANK_STATUS_OK = 0
TANK_STATUS_FIELD = "sensor_status"  # the tank kind's field that carries it
# Fields a faulty tank sensor's reading does not carry: they would be the sensor's garbage.
TANK_SENSOR_FIELDS = ("level_pct", "volume_l")
FULL_PUBLISH_COMPLETED = "full_publish_completed"
KEEPALIVE = "keepalive"
SUPPRESS_REPUBLISH = b'{"keepalive-options": ["suppress-republish"]}'


@dataclass(frozen=True, slots=True)
class VenusPath:
    """One mapped dbus path of a service: the catalogue field it fills, and how."""

    service: str
    path: str
    field: str
    scale: float = 1.0  # GX unit -> catalogue unit (kWh -> Wh, m3 -> L)
    codes: Mapping[int, str] | None = dataclasses.field(default=None, compare=False)


# Which catalogue kind each mapped Venus service is.
SERVICE_KIND: Mapping[str, str] = {"solarcharger": "solar", "battery": "solar", "tank": "tank"}

PATHS: tuple[VenusPath, ...] = (
    VenusPath("solarcharger", "Pv/V", "pv_voltage_v"),
    VenusPath("solarcharger", "Yield/Power", "pv_power_w"),
    VenusPath("solarcharger", "Dc/0/Voltage", "battery_voltage_v"),
    VenusPath("solarcharger", "Dc/0/Current", "battery_current_a"),
    VenusPath("solarcharger", "Dc/0/Temperature", "battery_temp_c"),
    VenusPath("solarcharger", "State", "charge_state", codes=STATE_CODES),
    VenusPath("solarcharger", "ErrorCode", "error_code"),
    VenusPath("solarcharger", "History/Daily/0/Yield", "yield_today_wh", scale=1000.0),
    VenusPath("battery", "Soc", "battery_soc_pct"),
    VenusPath("battery", "Dc/0/Voltage", "battery_voltage_v"),
    VenusPath("battery", "Dc/0/Current", "battery_current_a"),
    VenusPath("battery", "Dc/0/Temperature", "battery_temp_c"),
    VenusPath("tank", "Level", "level_pct"),
    VenusPath("tank", "Remaining", "volume_l", scale=1000.0),
)
BY_PATH: Mapping[tuple[str, str], VenusPath] = {(p.service, p.path): p for p in PATHS}
# A battery monitor (a `battery/<i>` service: BMV, SmartShunt, a BMS) is the station's battery.
# A charger's own Dc/0 values describe the same bank as seen from its terminals: on a GX that
# has a monitor they are not taken, so one bank is one device to the alert rules (a
# deliberate departure from issue 12's table, which maps both).
BATTERY_MONITOR = "battery"
CHARGER = "solarcharger"
MONITOR_FIELDS: frozenset[str] = frozenset(p.field for p in PATHS if p.service == BATTERY_MONITOR)
# Tank paths that are the tank's state rather than a field of a reading.
TANK_STATE_PATHS = (FLUID_TYPE_PATH, TANK_STATUS_PATH)

for _p in PATHS:  # the catalogue is the one source of field names
    _kind = KINDS[SERVICE_KIND[_p.service]]
    if _p.field not in _kind.model.model_fields:
        raise ValueError(f"venus path {_p.service}/{_p.path}: no field {_p.field!r}")
if TANK_STATUS_FIELD not in KINDS["tank"].model.model_fields:
    raise ValueError(f"the tank kind has no {TANK_STATUS_FIELD!r} field")


def portal_filter(portal: str, bridge_prefix: str = "") -> str:
    """The subscription for everything one GX publishes."""
    return f"{bridge_prefix}N/{portal}/#"


def keepalive_topic(portal: str, bridge_prefix: str = "") -> str:
    """Where a GX takes keep-alives (a read request on `keepalive`)."""
    return f"{bridge_prefix}R/{portal}/{KEEPALIVE}"


def value_topic(
    portal: str, service: str, instance: int, path: str, bridge_prefix: str = ""
) -> str:
    """`N/<portal>/<service>/<instance>/<path>`, as dbus-flashmq names a value."""
    return f"{bridge_prefix}N/{portal}/{service}/{instance}/{path}"


def portal_topic(portal: str, leaf: str, bridge_prefix: str = "") -> str:
    """A topic right under the portal, e.g. `N/<portal>/full_publish_completed`."""
    return f"{bridge_prefix}N/{portal}/{leaf}"


def service_of_kind(kind: str) -> tuple[str, ...]:
    """The mapped Venus services that fill readings of `kind`."""
    return tuple(s for s, k in SERVICE_KIND.items() if k == kind)
