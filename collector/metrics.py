"""The collector's counters and gauges, rendered as Prometheus text and as `collector` points."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable


class Metrics:
    """Plain counters; single-threaded use from the event loop."""

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
        "intake_full",
        "alerts_dropped",
        "quarantine_write_errors",
    )

    def __init__(self) -> None:
        self.counters: dict[str, int] = dict.fromkeys(self.COUNTERS, 0)
        self.messages_rejected_by: defaultdict[str, int] = defaultdict(int)
        self.readings_rejected_by: defaultdict[str, int] = defaultdict(int)
        self.task_restarts_by: defaultdict[str, int] = defaultdict(int)
        self.latency_sum_s: float = 0.0
        self.latency_count = 0
        self.latency_max_s: float = 0.0
        self._window: list[float] = []
        self.gauges: dict[str, Callable[[], float]] = {}
        # Counters kept by another part (the MQTT source), read when rendered.
        self.sourced: dict[str, Callable[[], float]] = {}

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
        self.latency_sum_s += seconds
        self.latency_count += 1
        self.latency_max_s = max(self.latency_max_s, seconds)
        self._window.append(seconds)

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

    def prometheus(self, extra: dict[str, float] | None = None) -> str:
        """Prometheus text exposition format 0.0.4."""
        lines: list[str] = []
        labelled = {"messages_rejected": self.messages_rejected_by}
        labelled["readings_rejected"] = self.readings_rejected_by
        for name, value in self.counters.items():
            if name not in labelled:
                metric = f"solarwater_{name}_total"
                lines += [f"# TYPE {metric} counter", f"{metric} {value}"]
        for name, table in labelled.items():
            metric = f"solarwater_{name}_total"
            lines.append(f"# TYPE {metric} counter")
            lines += [f'{metric}{{reason="{r}"}} {n}' for r, n in sorted(table.items())]
        lines.append("# TYPE solarwater_task_restarts_total counter")
        lines += [
            f'solarwater_task_restarts_total{{task="{t}"}} {n}'
            for t, n in sorted(self.task_restarts_by.items())
        ]
        lines += [
            "# TYPE solarwater_write_latency_seconds summary",
            f"solarwater_write_latency_seconds_sum {self.latency_sum_s:.6f}",
            f"solarwater_write_latency_seconds_count {self.latency_count}",
        ]
        for name, fn in self.sourced.items():
            lines += [
                f"# TYPE solarwater_{name}_total counter",
                f"solarwater_{name}_total {fn():g}",
            ]
        for name, fn in self.gauges.items():
            lines += [f"# TYPE solarwater_{name} gauge", f"solarwater_{name} {fn():g}"]
        for gauge, reading in (extra or {}).items():
            lines += [f"# TYPE solarwater_{gauge} gauge", f"solarwater_{gauge} {reading:g}"]
        return "\n".join(lines) + "\n"
