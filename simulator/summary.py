"""What a run handed to the broker: acknowledged readings and messages, and drops."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from devices.kind import FieldValue
from simulator.truth import Truth


class RecordedReading(NamedTuple):
    """One acknowledged reading, for end-to-end spot checks."""

    station: str
    kind: str
    device: str
    ts_ms: int
    fields: Mapping[str, FieldValue]


@dataclass
class Tally:
    """Counts by kind and by station and kind."""

    total: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    by_station: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, station: str, kind: str, n: int = 1) -> None:
        self.total += n
        self.by_kind[kind] = self.by_kind.get(kind, 0) + n
        per = self.by_station.setdefault(station, {})
        per[kind] = per.get(kind, 0) + n

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "by_kind": self.by_kind, "by_station": self.by_station}


@dataclass
class Summary:
    """The outcome of a run; readings and messages count only PUBACKed ones."""

    start: str = ""
    end: str = ""
    interval_s: int = 0
    seed: int = 0
    scenario: str = ""
    readings: Tally = field(default_factory=Tally)
    messages: Tally = field(default_factory=Tally)
    backlog_messages: int = 0
    status_messages: int = 0
    dropped: dict[str, int] = field(
        default_factory=lambda: {"buffer_full": 0, "silent": 0, "not_acknowledged": 0}
    )
    records: list[RecordedReading] = field(default_factory=list)
    # what each dialect handed to the broker (readings as the collector will form them)
    by_dialect: dict[str, Tally] = field(default_factory=dict)
    venus_full_publishes: int = 0

    def dialect(self, name: str) -> Tally:
        """The readings tally of one dialect."""
        tally = self.by_dialect.get(name)
        if tally is None:
            tally = self.by_dialect[name] = Tally()
        return tally

    def drop(self, why: str, n: int = 1) -> None:
        """Count readings that never reached the broker, by why."""
        self.dropped[why] = self.dropped.get(why, 0) + n

    truth: Truth = field(default_factory=Truth)

    def to_json(self) -> dict[str, Any]:
        """The `--summary-json` document."""
        return {
            "readings": self.readings.to_json(),
            "messages": self.messages.to_json(),
            "backlog_messages": self.backlog_messages,
            "status_messages": self.status_messages,
            "dropped": dict(self.dropped),
            "by_dialect": {name: t.to_json() for name, t in sorted(self.by_dialect.items())},
            "venus_full_publishes": self.venus_full_publishes,
            "start": self.start,
            "end": self.end,
            "interval_s": self.interval_s,
            "seed": self.seed,
            "scenario": self.scenario,
            "truth": self.truth.to_json(),
        }
