"""One station's physics: sun, weather, power system and water, stepped on a simulated clock."""

from __future__ import annotations

import math
import random
from datetime import datetime

from pydantic import ValidationError

from devices.catalogue import KINDS
from devices.errors import ConfigError
from devices.kind import FieldValue
from devices.stations import Station
from simulator.battery import battery_spec
from simulator.faults import Effects, Initial
from simulator.loads import LoadProfile, demand_w
from simulator.power import PowerStep, PowerSystem
from simulator.scenarios import Scenario, build_scenario
from simulator.sun import solar_elevation_deg
from simulator.timefmt import epoch_of, to_local
from simulator.water import HOURLY_USE_SHARE, TankSystem, daily_demand_l
from simulator.weather import STORM_SHADE, Storm, Weather, is_dry_season

Fields = dict[str, FieldValue]
MAX_SUBSTEP_S = 300.0


class ModelError(ConfigError):
    """The model made a reading its kind refuses (a fleet sized beyond the kind's ranges)."""


def air_temp_c(local: datetime) -> float:
    """Shade air temperature: 20–33 °C, coolest near dawn, warmest mid-afternoon."""
    hour = local.hour + local.minute / 60.0
    mean = 25.5 if is_dry_season(local.month) else 27.5
    return mean + 5.5 * math.cos(2 * math.pi * (hour - 14.5) / 24.0)


def _r(value: float, digits: int) -> float:
    return round(value, digits) + 0.0  # + 0.0 turns -0.0 into 0.0


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
        # every random draw of this station comes from here or from Weather's per-day RNGs
        self.rng = random.Random(f"{seed}:{station.id}")
        self.weather = Weather(seed, station.id, station.latitude, station.longitude)
        self.loads = LoadProfile.draw(self.rng)
        self.litres_per_person = self.rng.uniform(20.0, 50.0)
        self.visitors = self.rng.uniform(5.0, 20.0)
        self.runoff = self.rng.uniform(0.8, 0.9)
        self._soc0 = self.rng.uniform(70.0, 95.0)
        self._tank_draw = self.rng.random()
        self.spec = battery_spec(station.battery_chemistry)
        self.power: PowerSystem | None = None
        self.tank: TankSystem | None = None
        self.battery_temp_c = 0.0
        self.water_temp_c = 0.0
        self.last_ts: float | None = None
        self._storm_start: float | None = None  # when the scenario's current storm began

    def effects(self, ts: float | datetime) -> Effects:
        """The scenario's effects on this station at `ts`."""
        t = _epoch(ts)
        start = self.start if self.start is not None else t
        return self.scenario.effects(self.station.id, t - start)

    def step(self, ts: float | datetime) -> dict[str, Fields]:
        """Advance the clock to `ts` and return the readings {"solar": fields, "tank": fields}."""
        t = _epoch(ts)
        prev = self.last_ts if self.last_ts is not None else t - self.interval_s
        if t <= prev:
            raise ValueError("the simulated clock only moves forward")
        if self.start is None:
            self.start = t
        effects = self.effects(t)
        power, tank = self._state(prev)
        power.set_capacity_factor(effects.capacity_factor)

        n = max(1, math.ceil((t - prev) / MAX_SUBSTEP_S - 1e-9))
        dt = (t - prev) / n
        charge_as = rain = inflow = outflow = 0.0
        last: PowerStep | None = None
        for i in range(n):
            a, b = prev + i * dt, prev + (i + 1) * dt
            last = self._power_substep(power, b, dt, effects)
            charge_as += last.battery_current_a * dt
            r, inn, out = self._water_substep(tank, a, b, effects)
            rain, inflow, outflow = rain + r, inflow + inn, outflow + out
        assert last is not None
        self.last_ts = t
        minutes = (t - prev) / 60.0
        solar: Fields = {
            "pv_voltage_v": _r(last.pv_voltage_v, 2),
            "pv_current_a": _r(last.pv_current_a, 3),
            "pv_power_w": _r(last.pv_power_w, 1),
            "battery_voltage_v": _r(last.battery_voltage_v, 3),
            # the mean over the interval, so SoC follows the integral of what is published
            "battery_current_a": _r(charge_as / (t - prev), 3),
            "battery_soc_pct": _r(power.soc, 3),
            "battery_temp_c": _r(self.battery_temp_c, 2),
            "load_power_w": _r(last.load_power_w, 1),
            "yield_today_wh": _r(power.yield_wh, 1),
            "charge_state": last.charge_state,
            "error_code": effects.error_code,
        }
        level = tank.sensed_level_pct(self.rng)
        water: Fields = {
            "level_pct": _r(level, 2),
            "volume_l": _r(tank.volume_l, 2),
            "inflow_lpm": _r(inflow / minutes, 3),
            "outflow_lpm": _r(outflow / minutes, 3),
            "rain_mm": _r(rain, 2),
            "water_temp_c": _r(self.water_temp_c, 2),
        }
        result = {"solar": solar, "tank": water}
        for kind, kind_fields in result.items():
            try:
                KINDS[kind].validate(kind_fields)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise ModelError(
                    f"station {self.station.id}: {kind} reading out of range "
                    f"({'.'.join(map(str, err['loc']))}: {err['msg']}); check the fleet's sizes"
                ) from None
        return result

    def _state(self, t0: float) -> tuple[PowerSystem, TankSystem]:
        if self.power is None or self.tank is None:
            init = self.scenario.initial_for(self.station.id)
            self.power, self.tank = self._initial_systems(t0, init)
        return self.power, self.tank

    def _initial_systems(self, t0: float, init: Initial) -> tuple[PowerSystem, TankSystem]:
        st = self.station
        local = to_local(t0)
        soc = init.soc_pct if init.soc_pct is not None else self._soc0
        power = PowerSystem(self.spec, st.pv_kwp, st.battery_ah, st.battery_voltage, soc)
        power.reset_yield(local.date())
        if init.tank_pct is not None:
            tank_pct = init.tank_pct
        elif is_dry_season(local.month):
            tank_pct = 25.0 + 35.0 * self._tank_draw
        else:
            tank_pct = 55.0 + 35.0 * self._tank_draw
        tank = TankSystem(
            st.tank_litres, st.roof_area_m2, self.runoff, st.tank_litres * tank_pct / 100
        )
        air = air_temp_c(local)
        self.battery_temp_c = _enclosure_temp(air, 0.0)
        self.water_temp_c = 24.0 + (air - 26.0) * 0.3
        return power, tank

    def _power_substep(self, power: PowerSystem, b: float, dt: float, fx: Effects) -> PowerStep:
        st = self.station
        local = to_local(b)
        power.reset_yield(local.date())
        elevation = solar_elevation_deg(b, st.latitude, st.longitude)
        g = self.weather.irradiance(b, rain_suppressed=fx.no_rain)
        if g > 0 and self.weather.day(local.date()).cloudy:
            g *= self.rng.uniform(0.6, 1.4)  # broken cloud passing over
        if fx.rain_mm_per_h > 0:
            g *= STORM_SHADE
        air = air_temp_c(local)
        cell = air + g * 0.03
        step = power.step(
            dt, g, demand_w(self.loads, local, elevation, self.rng), cell, fx.error_code
        )
        target = _enclosure_temp(air, abs(step.battery_current_a))
        self.battery_temp_c += (target - self.battery_temp_c) * min(1.0, dt / 5400.0)
        return step

    def _water_substep(
        self, tank: TankSystem, a: float, b: float, fx: Effects
    ) -> tuple[float, float, float]:
        storms = [] if fx.no_rain else self.weather.storms_between(a, b)
        storms += self._scenario_storm(a, b, fx)
        rain, inflow = tank.catchment_l(storms, a, b)
        local = to_local(b)
        dt_h = (b - a) / 3600.0
        daily = daily_demand_l(self.station.people, self.litres_per_person, self.visitors)
        demand = daily * HOURLY_USE_SHARE[local.hour] * dt_h * fx.consumption_factor
        demand *= self.rng.uniform(0.7, 1.3)
        demand += fx.leak_pct_per_h / 100.0 * tank.capacity_l * dt_h  # a tap left running
        moved = tank.step(rain, inflow, demand)
        target = 24.0 + (air_temp_c(local) - 26.0) * 0.3
        self.water_temp_c += (target - self.water_temp_c) * min(1.0, (b - a) / 21600.0)
        return rain, moved.inflow_l, moved.outflow_l

    def _scenario_storm(self, a: float, b: float, fx: Effects) -> list[Storm]:
        # one storm from its first substep on, so the first-flush diverter takes its share once
        if fx.rain_mm_per_h <= 0:
            self._storm_start = None
            return []
        if self._storm_start is None:
            self._storm_start = a
        depth = fx.rain_mm_per_h * (b - self._storm_start) / 3600.0
        return [Storm(self._storm_start, b, depth)]


def _enclosure_temp(air_c: float, current_a: float) -> float:
    """Battery enclosure: 25–40 °C, a sun-warmed box above air temperature, a little I²R heat."""
    return min(40.0, max(25.0, 25.0 + (air_c - 20.0) * 15.0 / 13.0 + current_a * 0.01))


def _epoch(ts: float | datetime) -> float:
    return epoch_of(ts) if isinstance(ts, datetime) else float(ts)
