"""The registry of device kinds: adding a kind is one module and one line here."""

from __future__ import annotations

from devices import insight, lighting, solar, tank
from devices.kind import DeviceKind

KINDS: dict[str, DeviceKind] = {k.name: k for k in (solar.KIND, tank.KIND, lighting.KIND)}

for _kind in KINDS.values():
    if not _kind.info:  # the dashboards, alert texts and docs all read it
        raise ValueError(f"kind {_kind.name!r} has no field info")

# Kinds the collector computes from the readings (no station has such a device): alert
# rules and texts take them as they take the measured kinds.
DERIVED: dict[str, DeviceKind] = {k.name: k for k in (insight.KIND,)}
RULE_KINDS: dict[str, DeviceKind] = {**KINDS, **DERIVED}


def get_kind(name: str) -> DeviceKind | None:
    """The kind called `name`, or None when the catalogue has no such kind."""
    return KINDS.get(name)


def fleet_fields() -> dict[str, tuple[str, ...]]:
    """Per kind, its fields with `chart.fleet` set: the fleet board's per-station columns."""
    out = {
        k.name: tuple(n for n, info in k.info.items() if info.chart.fleet is not None)
        for k in KINDS.values()
    }
    names = [n for fields in out.values() for n in fields]
    if len(set(names)) != len(names):  # they are columns of one `station_state` point
        raise ValueError(f"fleet fields share a name: {names}")
    return {k: v for k, v in out.items() if v}
