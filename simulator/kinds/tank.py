"""Physics of the `tank` kind: roof catchment, the tank, the station's water use, the sensor."""

from __future__ import annotations

from devices.stations import Device
from devices.tank import TankSizes
from simulator.faults import Effects, Initial
from simulator.kinds.base import Fields, KindModel, Site, air_temp_c, rounded
from simulator.timefmt import to_local
from simulator.water import HOURLY_USE_SHARE, TankSystem, daily_demand_l
from simulator.weather import Storm, is_dry_season


class TankModel:
    """One tank fed by the station's roof."""

    def __init__(self, site: Site, device: Device) -> None:
        assert isinstance(device.sizes, TankSizes)
        self.site = site
        self.sizes = device.sizes
        rng = site.rng
        self.litres_per_person = rng.uniform(20.0, 50.0)
        self.visitors = rng.uniform(5.0, 20.0)
        self.runoff = rng.uniform(0.8, 0.9)
        self._tank_draw = 0.0
        self.tank: TankSystem | None = None
        self.water_temp_c = 0.0
        self._storm_start: float | None = None  # when the scenario's current storm began
        self._rain = self._inflow = self._outflow = 0.0

    def prepare(self) -> None:
        self._tank_draw = self.site.rng.random()

    def start(self, t0: float, init: Initial) -> None:
        local = to_local(t0)
        if init.tank_pct is not None:
            tank_pct = init.tank_pct
        elif is_dry_season(local.month):
            tank_pct = 25.0 + 35.0 * self._tank_draw
        else:
            tank_pct = 55.0 + 35.0 * self._tank_draw
        litres = self.sizes.tank_litres
        self.tank = TankSystem(
            litres, self.sizes.roof_area_m2, self.runoff, litres * tank_pct / 100
        )
        self.water_temp_c = 24.0 + (air_temp_c(local) - 26.0) * 0.3

    def substep(self, a: float, b: float, dt: float, fx: Effects) -> None:
        tank = self.tank
        assert tank is not None
        site = self.site
        storms = [] if fx.no_rain else site.weather.storms_between(a, b)
        storms += self._scenario_storm(a, b, fx)
        rain, inflow = tank.catchment_l(storms, a, b)
        inflow *= float(fx.get("gutter_factor", 1.0))  # a blocked gutter or diverter spills
        local = to_local(b)
        dt_h = (b - a) / 3600.0
        daily = daily_demand_l(site.station.people, self.litres_per_person, self.visitors)
        demand = daily * HOURLY_USE_SHARE[local.hour] * dt_h * fx.consumption_factor
        demand *= site.rng.uniform(0.7, 1.3)
        demand += fx.leak_pct_per_h / 100.0 * tank.capacity_l * dt_h  # a tap left running
        moved = tank.step(rain, inflow, demand)
        # a leaking tank or fitting: water lost past the meters, only the level shows it
        tank.volume_l = max(0.0, tank.volume_l - float(fx.get("leak_lph", 0.0)) * dt_h)
        target = 24.0 + (air_temp_c(local) - 26.0) * 0.3
        self.water_temp_c += (target - self.water_temp_c) * min(1.0, (b - a) / 21600.0)
        self._rain += rain
        self._inflow += moved.inflow_l
        self._outflow += moved.outflow_l

    def _scenario_storm(self, a: float, b: float, fx: Effects) -> list[Storm]:
        # one storm from its first substep on, so the first-flush diverter takes its share once
        if fx.rain_mm_per_h <= 0:
            self._storm_start = None
            return []
        if self._storm_start is None:
            self._storm_start = a
        depth = fx.rain_mm_per_h * (b - self._storm_start) / 3600.0
        return [Storm(self._storm_start, b, depth)]

    def reading(self, prev: float, t: float, fx: Effects) -> Fields:
        tank = self.tank
        assert tank is not None
        minutes = (t - prev) / 60.0
        rain, inflow, outflow = self._rain, self._inflow, self._outflow
        self._rain = self._inflow = self._outflow = 0.0
        level = tank.sensed_level_pct(self.site.rng)
        return {
            "level_pct": rounded(level, 2),
            "volume_l": rounded(tank.volume_l, 2),
            "inflow_lpm": rounded(inflow / minutes, 3),
            "outflow_lpm": rounded(outflow / minutes, 3),
            "rain_mm": rounded(rain, 2),
            "water_temp_c": rounded(self.water_temp_c, 2),
            "sensor_status": 0,  # a sound level sensor (Venus /Status codes)
        }


MODEL = KindModel("tank", TankModel)
