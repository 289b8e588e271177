"""The collector's counters, gauges and histograms, exported through prometheus_client."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "solarwater_"
MAX_CLOCK_SERIES = 1000  # device_clock_offset_seconds series at most (the largest offsets)

# HELP text per metric name (without prefix and `_total`); a name missing here still gets one.
HELP: dict[str, str] = {
    "messages_received": "MQTT messages taken from the broker",
    "messages_rejected": "Messages refused whole, by reason (quarantined)",
    "readings_received": "Readings decoded from telemetry messages",
    "readings_rejected": "Readings refused one by one, by reason (quarantined)",
    "readings_written": "Readings written to InfluxDB",
    "points_written": "Line-protocol points written to InfluxDB (readings and our own points)",
    "batches_written": "Batches written to InfluxDB",
    "write_errors": "Writes InfluxDB could not take (down, timeout, 5xx): spooled",
    "write_rejected": "Batches InfluxDB refused as bad data (HTTP 400): quarantined",
    "spool_appended": "Readings appended to the disk spool while InfluxDB was unreachable",
    "spool_replayed": "Readings replayed from the disk spool into InfluxDB",
    "spool_full": "Times the spool was full and acknowledgements were held",
    "spool_errors": "Spool writes that failed on disk errors",
    "status_messages": "Device status messages received",
    "seq_duplicates": "Readings whose seq was seen before (duplicates)",
    "seq_gaps": "Readings missing according to seq gaps",
    "seq_resets": "Device seq restarts near zero taken as reboots (the tracker re-based)",
    "device_clock_offset_seconds": "Receive time minus device time, estimated from live"
    " messages (positive: the device clock is slow); the largest offsets, bounded",
    "devices_clock_corrected": "Devices whose timestamps are corrected by their clock offset",
    "intake_full": "Times the intake queue between network and loop was full",
    "alerts_dropped": "Readings the alert engine could not take",
    "quarantine_write_errors": "Quarantine entries that could not be written to disk",
    "task_restarts": "Restarts of supervised tasks, by task",
    "mqtt_connected": "1 while connected to the broker",
    "mqtt_connects": "Successful connections to the broker",
    "mqtt_packets_too_large": "Packets refused from their header as larger than announced",
    "mqtt_sessions_lost": "Connects where the broker had no session for us",
    "mqtt_sessions_taken_over": "Disconnects because another client took our client id",
    "queue_depth": "Messages waiting between the network and the event loop",
    "spool_bytes": "Bytes held in the disk spool",
    "spool_readings": "Readings held in the disk spool",
    "influx_up": "1 while InfluxDB takes writes",
    "stations_seen": "Stations heard from since start",
    "quarantine_dropped": "Quarantine entries dropped from memory (bounded)",
    "intake_full_events": "Times the intake queue was full",
    "device_faults": "Devices reporting a fault of their own now (a GX tank sensor)",
    "venus_values": "Victron GX values by outcome (decoded, null, removed, ignored, unknown_portal,"
    " other_fluid, fluid_unknown, sensor_fault, superseded, awaiting_monitor, full_publish)",
    "admitted_devices": "Devices admitted by the per-station device cap",
    "admitted_stations": "Stations admitted by the unregistered-station cap",
    "alert_notifications_over_budget": "Pages held back by the per-station page budget",
    "alerts_active": "Alerts firing now",
    "alerts_fired": "Alerts that started firing",
    "alerts_resolved": "Alerts that resolved",
    "alerts_acked_active": "Firing alerts an operator acknowledged",
    "notifications_sent": "Notifications delivered",
    "notifications_failed": "Notifications given up after their retries",
    "notifications_dropped": "Notifications dropped from a full notifier queue",
    "notifications_retried": "Notification delivery retries",
    "notifications_queued": "Notifications waiting for delivery",
    "notifications_unrouted": "Notifications no route or fallback takes",
    "notifications_station_queue_full": "Notifications refused by a full per-station queue",
    "notifications_over_budget": "Pages held back by the page budget, all stations",
    "notifications_damped": "Changes recorded but not paged inside min_page_interval",
    "notification_budget_announcements": "Page-budget notices sent",
    "alerts_refused_station_full": "Alerts refused because a station had too many active",
    "paging_stations_refused": "Unregistered stations refused by the paging tables (bounded)",
    "alert_write_errors": "Alert points that could not be written",
    "alert_readings_out_of_order": "Readings older than the engine's newest for their device",
    "alert_observe_errors": "Readings the alert engine failed to evaluate",
    "alert_devices_refused": "Devices beyond the alert engine's per-station cap",
    "device_status_refused": "Device status messages refused by the alert engine",
    "stations_silent": "Stations with an active station_silent alert",
    "devices_offline": "Devices whose last status was offline",
    "silences_active": "Operator silences in force now",
    "sms_written": "SMS files written to the modem daemon's outbox (one per phone)",
    "sms_spool_errors": "SMS outbox writes that failed on disk errors (retried)",
    "sms_outbox_full": "SMS refused because the modem daemon's outbox held max_queued files",
    "sms_over_budget": "SMS held back by the per-station daily SMS budget",
    "sms_budget_summaries": "Summaries sent of SMS held back by the daily budget",
    "sms_replies_read": "SMS replies read from the modem daemon's inbox",
    "sms_inbox_errors": "SMS inbox files that could not be read or moved away",
    "sms_replies_acked": "OK <id> SMS replies that acknowledged an alert",
    "sms_replies_already_acked": "OK <id> SMS replies for an alert already acknowledged",
    "sms_replies_unknown_sender": "SMS replies from a number no route lists",
    "sms_replies_bad_text": "SMS replies that are not OK <id>",
    "sms_replies_unknown_alert": "OK <id> SMS replies naming no active alert",
    "sms_replies_not_routed": "OK <id> SMS replies from a number the alert is not routed to",
    "sms_replies_not_active": "OK <id> SMS replies for an alert of the sender's that has resolved",
    "sms_replies_locked_out": "SMS replies refused unread: their sender (or every sender) was"
    " locked out",
    "alerts_inhibited": "Active alerts not notified while their station is silent",
    "notifications_grouped": "Notifications sent inside a grouped one",
    "notifications_held": "Notifications waiting for their group",
    "notifications_group_full": "Notifications sent alone because the groups were full",
    "alert_digests": "Digests of what came and went while a station was silent",
    "alert_episodes_dropped": "Fired-and-cleared episodes dropped from a full engine list",
    "alert_digests_refused": "Silent stations given no digest: the digest table was full",
    "auth_failures": "Wrong sign-in tokens, forged signed links and wrong API tokens",
    "auth_limited": "Requests answered 429: their address (or everyone) was locked out",
    "auth_lockouts": "Times a client address was locked out for too many failures",
    "auth_global_lockouts": "Times every address was locked out: too many failures overall",
    "auth_addresses_evicted": "Client addresses dropped from the full failure table",
    "auth_addresses": "Client addresses the failure limiter tracks",
    "auth_sms_failures": "Failed OK <id> SMS replies: unknown sender, unknown or unrouted alert",
    "auth_sms_limited": "SMS replies refused unread because their sender was locked out",
    "auth_sms_lockouts": "Times a sender number was locked out for too many failed SMS replies",
    "auth_sms_global_lockouts": "Times every sender was locked out: too many failed SMS replies",
    "auth_sms_senders_evicted": "Sender numbers dropped from the full SMS failure table",
    "auth_sms_senders": "Sender numbers the SMS failure limiter tracks",
    "write_latency_seconds": "InfluxDB write time per batch",
    "publish_to_written_seconds": "From the receive time of a batch's oldest message to its"
    " write to InfluxDB (direct writes; spool replays are not observed)",
}

# Alert-service stats that are levels; every other one counts events.
ALERT_GAUGES = frozenset(
    {
        "alerts_active",
        "alerts_acked_active",
        "notifications_queued",
        "stations_silent",
        "devices_offline",
        "silences_active",
        "alerts_inhibited",
        "notifications_held",
        "auth_sms_senders",
    }
)

WRITE_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
DELAY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def help_for(name: str) -> str:
    """The HELP text of one metric."""
    return HELP.get(name) or name.replace("_", " ").capitalize()


class Metrics:
    """Plain counters on the hot path; prometheus_client families built only when scraped."""

    COUNTERS = (
        "messages_received",
        "messages_rejected",
        "readings_received",
        "readings_rejected",
        "readings_written",
        "points_written",
        "batches_written",
        "write_errors",
        "write_rejected",
        "spool_appended",
        "spool_replayed",
        "spool_full",
        "spool_errors",
        "status_messages",
        "seq_duplicates",
        "seq_gaps",
        "seq_resets",
        "intake_full",
        "alerts_dropped",
        "quarantine_write_errors",
    )

    def __init__(self) -> None:
        self.counters: dict[str, int] = dict.fromkeys(self.COUNTERS, 0)
        self.messages_rejected_by: defaultdict[str, int] = defaultdict(int)
        self.readings_rejected_by: defaultdict[str, int] = defaultdict(int)
        self.task_restarts_by: defaultdict[str, int] = defaultdict(int)
        self._window: list[float] = []
        # Levels and counts kept by other parts (source, spool, alerts), read when scraped.
        self.gauges: dict[str, Callable[[], float]] = {}
        self.sourced: dict[str, Callable[[], float]] = {}
        # Per-label counters kept elsewhere: name -> (label, table).
        self.labelled: dict[str, tuple[str, Callable[[], Mapping[str, int]]]] = {}
        self.alert_stats: Callable[[], Mapping[str, float]] | None = None
        # (station, device) -> offset in seconds, for the devices whose offset is known
        self.clock_offsets: Callable[[], Mapping[tuple[str, str], float]] | None = None
        # One registry per collector: tests run several collectors in one process.
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Families(self))
        self.write_latency = Histogram(
            PREFIX + "write_latency_seconds",
            help_for("write_latency_seconds"),
            buckets=WRITE_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.publish_to_written = Histogram(
            PREFIX + "publish_to_written_seconds",
            help_for("publish_to_written_seconds"),
            buckets=DELAY_BUCKETS,
            registry=self.registry,
        )

    def inc(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def reject_message(self, reason: str) -> None:
        self.counters["messages_rejected"] += 1
        self.messages_rejected_by[reason] += 1

    def reject_reading(self, reason: str) -> None:
        self.counters["readings_rejected"] += 1
        self.readings_rejected_by[reason] += 1

    def task_restart(self, task: str) -> None:
        self.task_restarts_by[task] += 1

    def observe_latency(self, seconds: float) -> None:
        """One batch's InfluxDB write time (once per batch, never per reading)."""
        self.write_latency.observe(seconds)
        self._window.append(seconds)

    def observe_delay(self, seconds: float) -> None:
        """Receive-to-written delay of a batch's oldest message."""
        self.publish_to_written.observe(max(seconds, 0.0))

    def take_latency_window(self) -> tuple[float, float]:
        """Mean and max write latency (ms) since the last call."""
        window, self._window = self._window, []
        if not window:
            return 0.0, 0.0
        return 1000 * sum(window) / len(window), 1000 * max(window)

    def rejected_by_reason(self) -> dict[str, int]:
        """Messages and readings rejected, per reason, together."""
        out: defaultdict[str, int] = defaultdict(int)
        for table in (self.messages_rejected_by, self.readings_rejected_by):
            for reason, n in table.items():
                out[reason] += n
        return dict(out)

    def prometheus(self) -> bytes:
        """The Prometheus text exposition, rendered by prometheus_client."""
        return generate_latest(self.registry)


class _Families(Collector):
    """Builds the counter and gauge families from the plain tables at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        by_label: dict[str, tuple[str, Mapping[str, int]]] = {
            "messages_rejected": ("reason", m.messages_rejected_by),
            "readings_rejected": ("reason", m.readings_rejected_by),
            "task_restarts": ("task", m.task_restarts_by),
        }
        for name, value in m.counters.items():
            if name not in by_label:
                yield CounterMetricFamily(PREFIX + name, help_for(name), value=value)
        for name, fn in m.sourced.items():
            yield CounterMetricFamily(PREFIX + name, help_for(name), value=fn())
        for name, (label, table_fn) in m.labelled.items():
            by_label[name] = (label, table_fn())
        for name, (label, table) in by_label.items():
            family = CounterMetricFamily(PREFIX + name, help_for(name), labels=[label])
            for key, n in sorted(table.items()):
                family.add_metric([key], n)
            yield family
        for name, fn in m.gauges.items():
            yield GaugeMetricFamily(PREFIX + name, help_for(name), value=fn())
        if m.clock_offsets is not None:
            yield from _clock_families(m.clock_offsets())
        stats = m.alert_stats() if m.alert_stats is not None else {}
        for name, level in stats.items():
            if name in ALERT_GAUGES:
                yield GaugeMetricFamily(PREFIX + name, help_for(name), value=level)
            else:
                yield CounterMetricFamily(PREFIX + name, help_for(name), value=level)


def _clock_families(offsets: Mapping[tuple[str, str], float]) -> Iterator[Metric]:
    """The largest MAX_CLOCK_SERIES offsets by device, and how many devices are corrected."""
    name = "device_clock_offset_seconds"
    family = GaugeMetricFamily(PREFIX + name, help_for(name), labels=["station", "device"])
    largest = heapq.nlargest(MAX_CLOCK_SERIES, offsets.items(), key=lambda kv: abs(kv[1]))
    for (station, device), offset in sorted(largest):
        family.add_metric([station, device], offset)
    yield family
