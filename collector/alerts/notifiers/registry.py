"""The notifier types by name: importing the plugin modules registers each one."""

from __future__ import annotations

from typing import Any

# Imported for their @register: this module, not base, pulls the plugins in, so they
# import base and base imports none of them.
from collector.alerts.notifiers import email, mqtt, webhook  # noqa: F401
from collector.alerts.notifiers.base import NOTIFIER_TYPES, Notifier, NotifierContext
from devices.errors import ConfigError


def build_notifier(name: str, settings: Any, ctx: NotifierContext) -> Notifier:
    """The notifier for one `notifiers:` entry, by its `type`."""
    factory = NOTIFIER_TYPES.get(settings.type)
    if factory is None:
        raise ConfigError(f"notifier {name!r}: unknown type {settings.type!r}")
    return factory(name, settings, ctx)
