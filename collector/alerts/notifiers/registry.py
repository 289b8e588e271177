"""The notifier types by name: one line per plugin module, which imports base, never this."""

from __future__ import annotations

from typing import Any

from collector.alerts.notifiers import email, modem, mqtt, webhook
from collector.alerts.notifiers.base import (
    Notifier,
    NotifierContext,
    NotifierPlugin,
    NotifierSettings,
)
from collector.plugin_settings import validate_chosen

# One line per notifier type; the config's `type` values come from it.
NOTIFIERS: dict[str, NotifierPlugin] = {
    p.name: p for p in (webhook.PLUGIN, email.PLUGIN, mqtt.PLUGIN, modem.PLUGIN)
}


def parse_notifier_settings(values: Any) -> NotifierSettings:
    """One `notifiers:` entry validated by the model of the plugin its `type` names."""
    if isinstance(values, NotifierSettings):
        return values
    if not isinstance(values, dict):
        raise ValueError("a notifier must be a mapping with a type")
    return validate_chosen(NOTIFIERS, "type", values, None, "type", "type")


def build_notifier(name: str, settings: NotifierSettings, ctx: NotifierContext) -> Notifier:
    """The notifier for one `notifiers:` entry, by its `type`."""
    return NOTIFIERS[settings.type].factory(name, settings, ctx)
