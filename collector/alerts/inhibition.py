"""Inhibition: a silent station's other alerts are recorded but not notified."""

from __future__ import annotations

from collections.abc import Container

from collector.alerts.model import SILENCE_DEVICE, Alert, AlertKey
from collector.alerts.rules import SILENCE_RULE


def silence_key(station: str) -> AlertKey:
    return (station, SILENCE_DEVICE, SILENCE_RULE)


def inhibited(a: Alert, active: Container[AlertKey]) -> bool:
    """True while `a`'s station has an active `station_silent` (which `a` is not)."""
    return a.rule != SILENCE_RULE and silence_key(a.station) in active
