"""Alerts on the reading stream: rules, state on disk, notifications, HTTP control."""

from collector.alerts.service import AlertConfigError, AlertService
from collector.alerts.settings import AlertSettings

__all__ = ["AlertConfigError", "AlertService", "AlertSettings"]
