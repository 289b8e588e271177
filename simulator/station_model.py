"""One station's physics: its weather, and one model per listed device, on a simulated clock."""

from __future__ import annotations

import math
import random
from datetime import datetime

from pydantic import ValidationError

from devices.catalogue import KINDS
from devices.errors import ConfigError
from devices.stations import Device, Station
from simulator.faults import Effects, Scenario
from simulator.kinds import model_for
from simulator.kinds.base import DeviceModel, Fields, Site, air_temp_c
from simulator.scenarios import build_scenario
from simulator.timefmt import epoch_of
from simulator.weather import Weather

__all__ = ["Fields", "ModelError", "StationModel", "air_temp_c"]
MAX_SUBSTEP_S = 300.0


class ModelError(ConfigError):
    """The model made a reading its kind refuses (a fleet sized beyond the kind's ranges)."""


class StationModel:
    """Deterministic telemetry of one station: same station, seed and scenario → same readings."""

    def __init__(
        self,
        station: Station,
        seed: int,
        scenario: Scenario | None = None,
        *,
        interval_s: float = 300.0,
        start: float | datetime | None = None,
    ) -> None:
        self.station = station
        self.seed = seed
        self.scenario = scenario or build_scenario("none", [station.id])
        self.interval_s = float(interval_s)
        self.start: float | None = _epoch(start) if start is not None else None
        # every random draw of this station comes from here, the devices' own RNGs or
        # Weather's per-day RNGs
        self.site = Site(
            station,
            seed,
            random.Random(f"{seed}:{station.id}"),
            Weather(seed, station.id, station.latitude, station.longitude),
        )
        self.devices: list[tuple[Device, DeviceModel]] = [
            (d, model_for(d.kind).make(self.site, d)) for d in station.devices
        ]
        for _, model in self.devices:
            model.prepare()
        self.started = False
        self.last_ts: float | None = None

    def effects(self, ts: float | datetime) -> Effects:
        """The scenario's effects on this station at `ts`."""
        t = _epoch(ts)
        start = self.start if self.start is not None else t
        return self.scenario.effects(self.station.id, t - start)

    def step(self, ts: float | datetime) -> dict[str, Fields]:
        """Advance the clock to `ts` and return the readings by kind (the last device of each)."""
        by_device = self.step_devices(ts)
        return {d.kind: by_device[d.id] for d in self.station.devices}

    def step_devices(self, ts: float | datetime) -> dict[str, Fields]:
        """Advance the clock to `ts` and return the readings by device id, in registry order."""
        t = _epoch(ts)
        prev = self.last_ts if self.last_ts is not None else t - self.interval_s
        if t <= prev:
            raise ValueError("the simulated clock only moves forward")
        if self.start is None:
            self.start = t
        effects = self.effects(t)
        if not self.started:
            init = self.scenario.initial_for(self.station.id)
            for _, model in self.devices:
                model.start(prev, init)
            self.started = True
        n = max(1, math.ceil((t - prev) / MAX_SUBSTEP_S - 1e-9))
        dt = (t - prev) / n
        for i in range(n):
            a, b = prev + i * dt, prev + (i + 1) * dt
            for _, model in self.devices:
                model.substep(a, b, dt, effects)
        self.last_ts = t
        out: dict[str, Fields] = {}
        for dev, model in self.devices:
            fields = out[dev.id] = model.reading(prev, t, effects)
            try:
                KINDS[dev.kind].validate(fields)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise ModelError(
                    f"station {self.station.id}: {dev.kind} reading out of range "
                    f"({'.'.join(map(str, err['loc']))}: {err['msg']}); check the fleet's sizes"
                ) from None
        return out

    def modem_powered(self) -> bool:
        """False while a device has cut the loads the modem hangs on (a brown-out)."""
        return all(getattr(model, "load_connected", True) for _, model in self.devices)


def _epoch(ts: float | datetime) -> float:
    return epoch_of(ts) if isinstance(ts, datetime) else float(ts)
