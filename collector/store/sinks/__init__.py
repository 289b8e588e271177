"""Sinks write line-protocol batches to InfluxDB; `influx.api` picks one from SINKS."""

from __future__ import annotations

from typing import Any

from collector.plugin_settings import validate_chosen
from collector.store.sinks import influx_v1, influx_v2
from collector.store.sinks.base import Sink, SinkPlugin, SinkRejected, SinkSettings, SinkUnavailable

# One line per sink plugin; the `influx.api` values and the CLI's --influx-api choices come from it.
SINKS: dict[str, SinkPlugin] = {p.name: p for p in (influx_v1.PLUGIN, influx_v2.PLUGIN)}
DEFAULT_SINK = "v1"


def parse_sink_settings(values: Any) -> SinkSettings:
    """The `influx:` mapping validated by the model of the plugin its `api` names."""
    if isinstance(values, SinkSettings):
        return values
    if not isinstance(values, dict):
        raise ValueError("must be a mapping")
    return validate_chosen(SINKS, "api", values, DEFAULT_SINK, "sink", "api")


def default_sink_settings() -> SinkSettings:
    """The default sink's settings (InfluxDB 1.x on localhost)."""
    return parse_sink_settings({})


def make_sink(settings: SinkSettings) -> Sink:
    """The sink for the configured API."""
    return SINKS[settings.api].factory(settings)


__all__ = [
    "DEFAULT_SINK",
    "SINKS",
    "Sink",
    "SinkPlugin",
    "SinkRejected",
    "SinkSettings",
    "SinkUnavailable",
    "make_sink",
    "parse_sink_settings",
]
