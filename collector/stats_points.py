"""The collector's own points: `collector` counters and `station_info` from the registry."""

from __future__ import annotations

import time
from collections.abc import Mapping

from collector.metrics import Metrics
from devices import schema
from devices.kind import FieldValue
from devices.lineprotocol import encode_line
from devices.stations import Fleet


def collector_point(m: Metrics, alert_stats: Mapping[str, float], instance: str) -> str:
    """Cumulative counters (integers) and gauges (floats), tagged with the instance."""
    fields: dict[str, FieldValue] = {
        "messages_received": m.counters["messages_received"],
        "readings_received": m.counters["readings_received"],
        "readings_written": m.counters["readings_written"],
        "readings_rejected": m.counters["readings_rejected"],
        "messages_rejected": m.counters["messages_rejected"],
        "write_errors": m.counters["write_errors"],
        "batches_written": m.counters["batches_written"],
        "seq_duplicates": m.counters["seq_duplicates"],
        "seq_gaps": m.counters["seq_gaps"],
        "spool_replayed": m.counters["spool_replayed"],
    }
    for reason, n in m.rejected_by_reason().items():
        fields[f"rejected_{reason}"] = n
    mean_ms, max_ms = m.take_latency_window()
    fields["write_latency_ms"] = mean_ms
    fields["write_latency_max_ms"] = max_ms
    for name in ("spool_bytes", "spool_readings", "queue_depth", "mqtt_connected", "stations_seen"):
        fn = m.gauges.get(name)
        fields[name] = float(fn()) if fn else 0.0
    fields["alerts_active"] = float(alert_stats.get("alerts_active", 0))
    fields["notifications_sent"] = int(alert_stats.get("notifications_sent", 0))
    fields["notifications_failed"] = int(alert_stats.get("notifications_failed", 0))
    now_ms = int(time.time() * 1000)
    return encode_line(schema.COLLECTOR, {schema.INSTANCE: instance}, fields, now_ms)


def station_info_lines(fleet: Fleet, ts_ms: int) -> list[str]:
    """Registry facts as points, so dashboards can place and size stations."""
    lines = []
    for s in fleet.stations:
        fields: dict[str, FieldValue] = {
            "name": s.name,
            "latitude": s.latitude,
            "longitude": s.longitude,
            "pv_kwp": s.pv_kwp,
            "battery_ah": float(s.battery_ah),
            "tank_litres": float(s.tank_litres),
            "roof_area_m2": float(s.roof_area_m2),
        }
        tags = {schema.STATION: s.id, schema.DISTRICT: s.district}
        lines.append(encode_line(schema.STATION_INFO, tags, fields, ts_ms))
    return lines
