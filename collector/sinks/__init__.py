"""Sinks write line-protocol batches to InfluxDB; chosen by name from SINKS."""

from __future__ import annotations

from collections.abc import Callable

from collector.config import InfluxSettings
from collector.sinks.base import Sink, SinkRejected, SinkUnavailable
from collector.sinks.influx_v1 import InfluxV1Sink
from collector.sinks.influx_v2 import InfluxV2Sink

SINKS: dict[str, Callable[[InfluxSettings], Sink]] = {"v1": InfluxV1Sink, "v2": InfluxV2Sink}


def make_sink(settings: InfluxSettings) -> Sink:
    """The sink for the configured API."""
    return SINKS[settings.api](settings)


__all__ = ["SINKS", "Sink", "SinkRejected", "SinkUnavailable", "make_sink"]
