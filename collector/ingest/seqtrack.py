"""Per-device `seq` bookkeeping: duplicates and gaps, counted and exposed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class DeviceSeq:
    """What one device's sequence numbers looked like."""

    last: int = -1
    duplicates: int = 0
    gaps: int = 0
    missing: int = 0


class SeqTracker:
    """A repeated or older seq is a duplicate; a jump is a gap of `seq - last - 1` readings."""

    def __init__(self) -> None:
        self.devices: dict[tuple[str, str], DeviceSeq] = {}

    def observe(self, station: str, device: str, seq: int) -> tuple[int, int]:
        """Returns (duplicates, gaps) added by this reading."""
        state = self.devices.get((station, device))
        if state is None:
            state = self.devices[(station, device)] = DeviceSeq()
        if state.last < 0:
            state.last = seq
            return 0, 0
        if seq <= state.last:
            state.duplicates += 1
            return 1, 0
        gap = 0
        if seq > state.last + 1:
            gap = 1
            state.gaps += 1
            state.missing += seq - state.last - 1
        state.last = seq
        return 0, gap

    def report(self) -> list[dict[str, int | str]]:
        """One row per device, for the HTTP API."""
        return [
            {
                "station": station,
                "device": device,
                "last_seq": s.last,
                "duplicates": s.duplicates,
                "gaps": s.gaps,
                "missing": s.missing,
            }
            for (station, device), s in sorted(self.devices.items())
        ]
