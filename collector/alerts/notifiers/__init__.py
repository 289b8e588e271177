"""Notifiers, chosen by `type` in config from NOTIFIERS: `webhook`, `email`, `mqtt`."""

from collector.alerts.notifiers.base import (
    DeliveryError,
    Notifier,
    NotifierContext,
    NotifierPlugin,
    NotifierSettings,
    Retry,
)
from collector.alerts.notifiers.registry import NOTIFIERS, build_notifier, parse_notifier_settings

__all__ = [
    "NOTIFIERS",
    "DeliveryError",
    "Notifier",
    "NotifierContext",
    "NotifierPlugin",
    "NotifierSettings",
    "Retry",
    "build_notifier",
    "parse_notifier_settings",
]
