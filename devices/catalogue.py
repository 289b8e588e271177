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
