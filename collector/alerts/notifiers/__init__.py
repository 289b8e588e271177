"""Notifiers, chosen by name in config: `webhook`, `email`, `mqtt`."""

from collector.alerts.notifiers.base import NOTIFIER_TYPES, DeliveryError, Notifier, NotifierContext
from collector.alerts.notifiers.registry import build_notifier

__all__ = ["NOTIFIER_TYPES", "DeliveryError", "Notifier", "NotifierContext", "build_notifier"]
