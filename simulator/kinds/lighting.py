"""Physics of the `lighting` kind: photocell switching at the station's sunset, lamps, faults."""

from __future__ import annotations

from collections.abc import Sequence

from devices.lighting import LightingSizes
from devices.stations import Device
from devices.sun import SUNSET_DEG, solar_elevation_deg
from simulator.faults import Effects, Fault, Initial, Scenario
from simulator.kinds.base import Fields, KindModel, Site, rounded

H = 3600.0
LAMP_LIFE_H = 20_000.0  # LED floodlights: a failure now and then across a fleet


class LightingModel:
    """One lighting circuit: on from a little after sunset to a little after sunrise."""

    def __init__(self, site: Site, device: Device) -> None:
        assert isinstance(device.sizes, LightingSizes)
        self.site = site
        self.sizes = device.sizes
        # its own draws: adding lights to a station leaves its solar and tank readings as they were
        self.rng = site.own_rng(device.id)
        # each photocell trips at its own darkness, 0-1.5° below the sunset elevation
        self.switch_deg = SUNSET_DEG - self.rng.uniform(0.0, 1.5)
        self.failed = 0
        self.on = False
        self.fault = False

    def prepare(self) -> None:
        pass

    def start(self, t0: float, init: Initial) -> None:
        self.on = self._dark(t0)

    def _dark(self, t: float) -> bool:
        st = self.site.station
        return solar_elevation_deg(t, st.latitude, st.longitude) < self.switch_deg

    def substep(self, a: float, b: float, dt: float, fx: Effects) -> None:
        self.on = self._dark(b)
        self.fault = bool(fx.get("circuit_fault", False))
        # lamps burn out while lit, more often under a scenario's failure rate
        per_lamp_h = (1.0 / LAMP_LIFE_H if self.on else 0.0) + float(
            fx.get("lamp_failures_per_day", 0.0)
        ) / 24.0 / self.sizes.lamps
        p = per_lamp_h * dt / H
        if p > 0:
            self.failed += sum(self.rng.random() < p for _ in range(self.sizes.lamps - self.failed))

    def reading(self, prev: float, t: float, fx: Effects) -> Fields:
        lit = self.sizes.lamps - self.failed if self.on and not self.fault else 0
        load = lit * self.sizes.lamp_power_w * self.rng.uniform(0.97, 1.03) if lit else 0.0
        return {
            "lights_on": int(self.on),
            "lamps_lit": lit,
            "lamps_failed": self.failed,
            "load_power_w": rounded(load, 1),
            "circuit_fault": int(self.fault),
        }


def _circuit_fault(target: str, stations: Sequence[str]) -> Scenario:
    return Scenario(
        "lighting-circuit-fault",
        "the lighting circuit's breaker trips from +1 h to +4 h: the lamps go dark",
        (Fault(target, 1 * H, 4 * H, {"circuit_fault": True}, "lighting circuit fault"),),
    )


def _lamp_failures(target: str, stations: Sequence[str]) -> Scenario:
    return Scenario(
        "lamp-failures",
        "the lamps fail at about 4 a day from +1 h on until none is left",
        (Fault(target, 1 * H, None, {"lamp_failures_per_day": 4.0}, "lamp failures"),),
    )


MODEL = KindModel(
    "lighting",
    LightingModel,
    {"lighting-circuit-fault": _circuit_fault, "lamp-failures": _lamp_failures},
)
