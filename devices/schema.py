"""The InfluxDB measurements and tags of design §4: the one place that names them."""

from __future__ import annotations

from devices.catalogue import KINDS

# One measurement per device kind, named as the kind (its topic segment).
READING_MEASUREMENTS: tuple[str, ...] = tuple(k.measurement for k in KINDS.values())
ALERT = "alert"  # one point per alert transition
STATION_STATUS = "station_status"  # online 0/1, on status changes
STATION_STATE = "station_state"  # each station's state now, every minute (alert engine)
STATION_INFO = "station_info"  # the registry's view of a station: name, district, location
COLLECTOR = "collector"  # the collector's own counters
FORECAST = "forecast"  # days of battery and water left
COMPLETENESS = "completeness"  # readings expected and received per local day
DEVICE_CLOCK = "device_clock"  # a device clock's estimated offset and the correction applied
RESOLUTION = "resolution"  # in ROLLUP_RP: which retention policy a dashboard range reads

# Retention policies (InfluxDB 1.x): readings land in the database's default policy (raw);
# hourly aggregates of them, under the same measurement names, in ROLLUP_RP, and daily
# aggregates of the hourly ones in DAILY_RP.
READING_INTERVAL = "5m"  # a station's cadence: the finest bucket worth drawing
ROLLUP_RP = "rollup_1h"
ROLLUP_INTERVAL = "1h"
DAILY_RP = "rollup_1d"
# Days start at local midnight: Africa/Maputo is UTC+2 all year (GROUP BY time(1d, -2h)).
DAILY_INTERVAL = "1d"
DAY_OFFSET = "-2h"
LOCAL_DAY = f"{DAILY_INTERVAL}, {DAY_OFFSET}"
# Alert transitions go to EVENTS_RP, kept for ever by default: an alert firing longer than the
# raw retention, the alert history of a year, and an alert judged on a backlog older than raw
# data is kept must all still be there. Transitions are few, so keeping them costs nothing.
EVENTS_RP = "events"
EVENT_MEASUREMENTS: tuple[str, ...] = (ALERT,)

# Tags
STATION = "station"
DEVICE = "device"
DISTRICT = "district"
RULE = "rule"
SEVERITY = "severity"
INSTANCE = "instance"
DAY = "day"


def reading_field(kind: str, name: str) -> str:
    """`name`, checked to be a field of `kind`: a renamed field breaks the build, not a panel."""
    if name not in KINDS[kind].field_names:
        raise KeyError(f"kind {kind!r} has no field {name!r}")
    return name


def measurement(kind: str) -> str:
    """The measurement of the readings of `kind`; KeyError when the catalogue has no such kind."""
    return KINDS[kind].measurement
