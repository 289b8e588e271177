"""The registry of device kinds: adding a kind is one module and one line here."""

from __future__ import annotations

from devices import solar, tank
from devices.kind import DeviceKind

KINDS: dict[str, DeviceKind] = {k.name: k for k in (solar.KIND, tank.KIND)}


def get_kind(name: str) -> DeviceKind | None:
    """The kind called `name`, or None when the catalogue has no such kind."""
    return KINDS.get(name)
