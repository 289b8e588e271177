"""Per-device `seq` bookkeeping: duplicates, gaps and reboots, counted and exposed."""

from __future__ import annotations

from dataclasses import dataclass

# A seq at most this and below half the last one may be a restart (a reboot counts from 0).
RESET_NEAR_ZERO = 100
# ...and is one after this long without a message from the device, or after it came online.
RESET_GAP_MS = 60_000
MAX_DEVICES = 100_000  # devices tracked (admission bounds them further)
_NOTHING = (0, 0, 0)


@dataclass(slots=True)
class DeviceSeq:
    """What one device's sequence numbers looked like."""

    last: int = -1
    duplicates: int = 0
    gaps: int = 0
    missing: int = 0
    resets: int = 0
    received_ms: int = 0  # receive time of the device's previous message
    newest_ms: int = -1  # newest device time the device sent so far
    came_online: bool = False  # a status `online` since its last reading


class SeqTracker:
    """A repeated or older seq is a duplicate; a jump is a gap of `seq - last - 1` readings.

    A seq that restarts near zero (at most RESET_NEAR_ZERO, below half the last) is a reboot, not
    a duplicate, when the device's status came back online since its last reading, or when
    it comes after RESET_GAP_MS without a message and with a newer device time than any
    before (a redelivered message repeats its old time). The tracker re-bases on it.
    """

    def __init__(self, max_devices: int = MAX_DEVICES) -> None:
        self.max_devices = max_devices
        self.devices: dict[tuple[str, str], DeviceSeq] = {}
        self.table_full = 0

    def online(self, station: str, device: str) -> None:
        """Note that the device's status came (back) online: its next low seq is a restart."""
        state = self.devices.get((station, device))
        if state is not None:
            state.came_online = True

    def observe_message(
        self, station: str, device: str, seqs: list[int], received_ms: int, newest_ms: int
    ) -> tuple[int, int, int]:
        """A telemetry message's seqs in order: (duplicates, gaps, resets) they added."""
        key = (station, device)
        state = self.devices.get(key)
        if state is None:
            if not seqs:
                return 0, 0, 0
            if len(self.devices) >= self.max_devices:
                self.table_full += 1
                return 0, 0, 0
            state = self.devices[key] = DeviceSeq(received_ms=received_ms)
        may_restart = state.came_online or (
            received_ms - state.received_ms >= RESET_GAP_MS and newest_ms > state.newest_ms >= 0
        )
        state.received_ms = received_ms
        if newest_ms > state.newest_ms:
            state.newest_ms = newest_ms
        if len(seqs) == 1 and seqs[0] == state.last + 1 and not state.came_online:
            state.last += 1  # the common case, a message after the one before
            return _NOTHING
        dups = gaps = resets = 0
        for seq in seqs:
            d, g, r = self._observe(state, seq, may_restart)
            dups, gaps, resets = dups + d, gaps + g, resets + r
            may_restart = False  # one restart a message: the rest count from it
        if seqs:
            state.came_online = False
        return dups, gaps, resets

    def observe(self, station: str, device: str, seq: int) -> tuple[int, int]:
        """One reading's seq on its own: (duplicates, gaps) it added."""
        dups, gaps, _ = self.observe_message(station, device, [seq], 0, -1)
        return dups, gaps

    @staticmethod
    def _observe(state: DeviceSeq, seq: int, may_restart: bool) -> tuple[int, int, int]:
        if state.last < 0:
            state.last = seq
            return 0, 0, 0
        if seq <= state.last:
            if may_restart and seq <= RESET_NEAR_ZERO and 2 * seq < state.last:
                state.resets += 1
                state.last = seq
                return 0, 0, 1
            state.duplicates += 1
            return 1, 0, 0
        gap = 0
        if seq > state.last + 1:
            gap = 1
            state.gaps += 1
            state.missing += seq - state.last - 1
        state.last = seq
        return 0, gap, 0

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
                "seq_resets": s.resets,
            }
            for (station, device), s in sorted(self.devices.items())
        ]
