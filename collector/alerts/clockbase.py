"""Which clock correction the engine's times of each device are on, and whose silence waits.

The ingest corrects a device's timestamps once its clock offset is known; until then they
are the device's own. When the correction changes, the engine moves that device's times by
the difference, so `for` and staleness count on one time base. While a device's estimate is
pending (its first live messages), its own times may be hours behind: its station's
silence is not fired on them for up to HOLD_MS of receive time.
"""

from __future__ import annotations

from typing import Any

HOLD_MS = 600_000  # a pending estimate holds its station's silence at most this long
MAX_DEVICES = 100_000  # corrected devices remembered (the ingest's tables bound them further)


class ClockBases:
    """Per device, the correction its engine times are on; per station, a pending hold."""

    def __init__(self) -> None:
        self.bases: dict[tuple[str, str], int] = {}  # non-zero corrections only
        self.held: dict[str, int] = {}  # station -> receive time of a pending device's message
        self.refused = 0

    def update(
        self,
        station: str,
        device: str,
        correction_ms: int | None,
        pending: bool,
        received_ms: int,
    ) -> int:
        """Note the device's correction (None: offset unknown, e.g. after a restart, when the
        base the engine's times are on stays); the change the engine's times must take."""
        if pending:
            self.held[station] = received_ms
        else:
            self.held.pop(station, None)
        if correction_ms is None:
            return 0
        key = (station, device)
        delta = correction_ms - self.bases.get(key, 0)
        if not delta:
            return 0
        if correction_ms == 0:
            del self.bases[key]
        elif key in self.bases or len(self.bases) < MAX_DEVICES:
            self.bases[key] = correction_ms
        else:
            self.refused += 1
            return 0
        return delta

    def holds(self, station: str, wall_ms: int) -> bool:
        """Whether the station's silence waits for a pending clock estimate."""
        since = self.held.get(station)
        return since is not None and wall_ms - since < HOLD_MS

    def snapshot(self) -> list[list[Any]]:
        return [[st, dev, c] for (st, dev), c in self.bases.items()]

    def restore(self, rows: list[list[Any]]) -> None:
        for st, dev, c in rows:
            self.bases[(str(st), str(dev))] = int(c)
