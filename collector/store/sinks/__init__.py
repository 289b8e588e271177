"""Sinks write line-protocol batches to InfluxDB; chosen by name from SINKS."""

from __future__ import annotations

from collections.abc import Callable

from collector.config import InfluxSettings
from collector.store.sinks.base import Sink, SinkRejected, SinkUnavailable


def _v1(settings: InfluxSettings) -> Sink:
    from collector.store.sinks.influx_v1 import InfluxV1Sink

    return InfluxV1Sink(settings)


def _v2(settings: InfluxSettings) -> Sink:
    # Imported on use: influxdb-client costs ~14 MB of memory a v1 collector never needs.
    from collector.store.sinks.influx_v2 import InfluxV2Sink

    return InfluxV2Sink(settings)


SINKS: dict[str, Callable[[InfluxSettings], Sink]] = {"v1": _v1, "v2": _v2}


def make_sink(settings: InfluxSettings) -> Sink:
    """The sink for the configured API."""
    return SINKS[settings.api](settings)


__all__ = ["SINKS", "Sink", "SinkRejected", "SinkUnavailable", "make_sink"]
