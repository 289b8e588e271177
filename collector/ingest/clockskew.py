"""Each device's clock offset (receive time minus device time), estimated from live messages.

A message is *live* when, against the device's previous message, its device time moved on by
about as much as the receive time did: |Δdevice − Δreceive| ≤ Δdevice / 4 + 0.5 s, Δdevice > 0.
A backlog flushed after an outage fails this (device time races ahead of receive time, or the
first buffered reading is hours older than its receive time), as does an accelerated
simulation and a clock that jumps for one reading. The estimate is the median of the last
`WINDOW` live samples, known once `MIN_SAMPLES` are in.

The correction applied to readings moves in steps, so a redelivered message lands on the
point it wrote before: none while the estimate is within ±60 s (a few seconds of GSM latency
must not move every point); once applied, it follows the estimate only when the two differ
by 30 s or more, and returns to none below 30 s. It is a whole number of 10 s, and once
applied changes at most every 10 minutes (see QUANTUM_MS and CHANGE_EVERY_MS).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

WINDOW = 15  # live samples per device
MIN_SAMPLES = 5  # live samples before the estimate is known
APPLY_MS = 60_000  # a correction starts at an estimate this far off
STEP_MS = 30_000  # ...changes when the estimate moves this far from it, and ends below this
# A correction is a whole number of these: two ingest workers, each estimating from its share
# of a device's messages, then apply the same one, and a redelivered message lands on its point.
QUANTUM_MS = 10_000
# Once applied, a correction changes at most this often: real clocks drift by seconds a day,
# and an estimate that runs away faster (a device replaying readings quicker than real time)
# must not move its points onto each other.
CHANGE_EVERY_MS = 600_000
MAX_DEVICES = 100_000  # devices tracked (admission bounds them further)
# Once known, the estimate is taken again (and the alerts told) at most this often per device:
# a device that sends many messages a second would otherwise cost a sort and a call each.
REESTIMATE_MS = 1_000


@dataclass(slots=True)
class DeviceClock:
    """One device's recent messages and its estimate."""

    device_ms: int  # newest device time of the previous message
    received_ms: int
    # the last WINDOW samples, a ring of machine integers: a deque of Python ints cost ~1 kB
    # a device, 16 MB for 10,000 of them in each process
    samples: array[int] = field(default_factory=lambda: array("q"))
    next_slot: int = 0  # where the ring's next sample goes once it is full
    offset_ms: int | None = None  # the estimate; None until MIN_SAMPLES live samples
    correction_ms: int = 0  # what is added to the device's timestamps now
    live: int = 0
    backlog: int = 0
    # no estimate yet, and the newest message was the first or a live one: the estimate is
    # coming, and until it does the device's own times may be hours off (silence waits)
    pending: bool = True
    estimated_ms: int = 0  # receive time of the last estimate
    changed_ms: int = 0  # receive time the correction last changed
    saved_ms: int = 0  # estimated_ms when the estimate was last taken to disk (clockstore.py)


def is_live(prev_device: int, prev_received: int, device_ms: int, received_ms: int) -> bool:
    """Whether a message came as the device sent it live (see the module docstring)."""
    dd = device_ms - prev_device
    return dd > 0 and abs(dd - (received_ms - prev_received)) <= dd // 4 + 500


def next_correction(current: int, offset: int) -> int:
    """The correction to apply given the estimate: stepwise, with hysteresis, in QUANTUM_MS."""
    target = round(offset / QUANTUM_MS) * QUANTUM_MS
    if current == 0:
        return target if abs(offset) >= APPLY_MS else 0
    if abs(offset) < STEP_MS:
        return 0
    return target if abs(offset - current) >= STEP_MS else current


class ClockSkew:
    """Per-device estimates (bounded: a full table is counted and new devices go uncorrected)."""

    def __init__(self, max_devices: int = MAX_DEVICES) -> None:
        self.max_devices = max_devices
        self.devices: dict[tuple[str, str], DeviceClock] = {}
        self.table_full = 0

    def correction(self, station: str, device: str) -> int:
        """Milliseconds to add to the device's timestamps (0 while unknown)."""
        clock = self.devices.get((station, device))
        return clock.correction_ms if clock is not None else 0

    def sample(
        self, key: tuple[str, str], device_ms: int, received_ms: int, clock: DeviceClock | None
    ) -> DeviceClock | None:
        """Note a message's newest device time for the (station, device) `key`, whose clock
        (None: not seen yet) the caller looked up. The clock when the alerts should hear of
        it (a live sample, or pending begun or ended), else None."""
        if clock is None:
            if len(self.devices) >= self.max_devices:
                self.table_full += 1
                return None
            clock = self.devices[key] = DeviceClock(device_ms, received_ms)
            return clock
        dd = device_ms - clock.device_ms
        live = dd > 0 and abs(dd - (received_ms - clock.received_ms)) <= dd // 4 + 500  # is_live
        clock.device_ms, clock.received_ms = device_ms, received_ms
        if not live:
            clock.backlog += 1
            if clock.pending:
                clock.pending = False
                return clock
            return None
        clock.live += 1
        if len(clock.samples) < WINDOW:
            clock.samples.append(received_ms - device_ms)
        else:
            clock.samples[clock.next_slot] = received_ms - device_ms
            clock.next_slot = (clock.next_slot + 1) % WINDOW
        if len(clock.samples) < MIN_SAMPLES and clock.offset_ms is None:
            clock.pending = True
            return clock
        if clock.offset_ms is not None and received_ms - clock.estimated_ms < REESTIMATE_MS:
            return None
        clock.estimated_ms = received_ms
        ordered = sorted(clock.samples)
        clock.offset_ms = ordered[len(ordered) // 2]
        was = clock.correction_ms
        if was == 0 or received_ms - clock.changed_ms >= CHANGE_EVERY_MS:
            clock.correction_ms = next_correction(was, clock.offset_ms)
            if clock.correction_ms != was:
                clock.changed_ms = received_ms
        clock.pending = False
        return clock

    def offset(self, station: str, device: str) -> int | None:
        """The device's estimated offset in ms (None while unknown)."""
        clock = self.devices.get((station, device))
        return clock.offset_ms if clock is not None else None

    def offsets(self) -> dict[tuple[str, str], float]:
        """Per device whose offset is known: the estimate in seconds."""
        return {k: c.offset_ms / 1000 for k, c in self.devices.items() if c.offset_ms is not None}

    def corrected(self) -> int:
        """Devices whose timestamps are corrected now."""
        return sum(1 for c in self.devices.values() if c.correction_ms)

    def report(self) -> dict[tuple[str, str], dict[str, float | int | None]]:
        """Per device: the estimate and the correction (seconds), and samples taken and left out."""
        return {
            key: {
                "clock_offset_s": None if c.offset_ms is None else c.offset_ms / 1000,
                "clock_correction_s": c.correction_ms / 1000,
                "clock_live_samples": c.live,
                "clock_backlog_messages": c.backlog,
            }
            for key, c in self.devices.items()
        }
