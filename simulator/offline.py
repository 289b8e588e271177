"""A run's readings and truth computed without a broker: the physics alone, for tests and tools.

Each reading says whether it would have reached the collector live or only in a backlog
(buffered while the link was down); a hung device's readings are never made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from devices.stations import Station
from simulator.scenarios import build_scenario
from simulator.station_model import StationModel
from simulator.summary import RecordedReading
from simulator.truth import Truth


@dataclass
class OfflineRun:
    """The readings of a run in time order, and its truth."""

    start: float
    interval_s: int
    readings: list[RecordedReading] = field(default_factory=list)
    backlog: set[int] = field(default_factory=set)  # indexes of readings sent only late
    truth: Truth = field(default_factory=Truth)


def simulate(
    stations: Sequence[Station],
    scenario: str,
    start: float,
    ticks: int,
    *,
    interval_s: int = 300,
    seed: int = 1,
    target: str | None = None,
) -> OfflineRun:
    """Step every station `ticks` times from `start`, as the simulator's runner does."""
    ids = [s.id for s in stations]
    sc = build_scenario(scenario, ids, target, {s.id: s.district for s in stations})
    run = OfflineRun(start, interval_s)
    run.truth.facts = dict(sc.facts)
    models = [StationModel(s, seed, sc, interval_s=interval_s, start=start) for s in stations]
    for k in range(ticks):
        ts = start + k * interval_s
        for model in models:
            st = model.station
            fx = model.effects(ts)
            by_device = model.step_devices(ts)
            cause = sc.silence_cause(st.id, fx, model.modem_powered())
            run.truth.observe(st, ts, {d.kind: by_device[d.id] for d in st.devices}, cause)
            if fx.silent:
                continue
            for dev in st.devices:
                if cause is not None:
                    run.backlog.add(len(run.readings))
                run.readings.append(
                    RecordedReading(st.id, dev.kind, dev.id, int(ts * 1000), by_device[dev.id])
                )
    run.truth.finish(start + ticks * interval_s)
    return run
