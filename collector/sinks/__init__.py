"""Sinks write line-protocol batches to InfluxDB; `influx.api` picks one from SINKS."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from collector.sinks import influx_v1, influx_v2
from collector.sinks.base import Sink, SinkPlugin, SinkRejected, SinkSettings, SinkUnavailable

# One line per sink plugin; the `influx.api` values and the CLI's --influx-api choices come from it.
SINKS: dict[str, SinkPlugin] = {p.name: p for p in (influx_v1.PLUGIN, influx_v2.PLUGIN)}
DEFAULT_SINK = "v1"


Problem = tuple[tuple[str | int, ...], str]  # (place inside `influx:`, message)


class SinkSettingsError(ValueError):
    """The `influx:` section did not validate against its plugin's model; each problem kept."""

    def __init__(self, api: str, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))
        self.api = api
        self.problems = problems


def parse_sink_settings(values: Any) -> SinkSettings:
    """The `influx:` mapping validated by the model of the plugin its `api` names."""
    if isinstance(values, SinkSettings):
        return values
    if not isinstance(values, dict):
        raise ValueError("must be a mapping")
    api = values.get("api", DEFAULT_SINK)
    plugin = SINKS.get(api) if isinstance(api, str) else None
    if plugin is None:
        known = ", ".join(sorted(SINKS))
        raise SinkSettingsError(str(api), [(("api",), f"unknown sink {api!r}; known: {known}")])
    try:
        return plugin.settings.model_validate({**values, "api": api})
    except ValidationError as exc:
        problems = [
            (tuple(e["loc"]), f"{e['msg'].removeprefix('Value error, ')} (api {api})")
            for e in exc.errors()
        ]
        raise SinkSettingsError(api, problems) from None


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
    "SinkSettingsError",
    "SinkUnavailable",
    "make_sink",
    "parse_sink_settings",
]
