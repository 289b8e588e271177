"""Physics of the `solar` kind: PV array, MPPT controller, battery bank and the station's loads."""

from __future__ import annotations

from devices.solar import SolarSizes
from devices.stations import Device
from simulator.battery import battery_spec
from simulator.faults import Effects, Initial
from simulator.kinds.base import Fields, KindModel, Site, air_temp_c, rounded
from simulator.loads import LoadProfile, demand_w
from simulator.power import PowerStep, PowerSystem
from simulator.sun import solar_elevation_deg
from simulator.timefmt import to_local
from simulator.weather import STORM_SHADE


class SolarModel:
    """One charge controller with its array and bank."""

    def __init__(self, site: Site, device: Device) -> None:
        assert isinstance(device.sizes, SolarSizes)
        self.site = site
        self.sizes = device.sizes
        self.loads = LoadProfile.draw(site.rng)
        self.spec = battery_spec(self.sizes.battery_chemistry)
        self.power: PowerSystem | None = None
        self.battery_temp_c = 0.0
        self._soc0 = 0.0
        self._charge_as = 0.0
        self._last: PowerStep | None = None

    def prepare(self) -> None:
        self._soc0 = self.site.rng.uniform(70.0, 95.0)

    def start(self, t0: float, init: Initial) -> None:
        soc = init.soc_pct if init.soc_pct is not None else self._soc0
        z = self.sizes
        self.power = PowerSystem(self.spec, z.pv_kwp, z.battery_ah, z.battery_voltage, soc)
        local = to_local(t0)
        self.power.reset_yield(local.date())
        self.battery_temp_c = _enclosure_temp(air_temp_c(local), 0.0)

    def substep(self, a: float, b: float, dt: float, fx: Effects) -> None:
        power = self.power
        assert power is not None
        power.set_capacity_factor(fx.capacity_factor)
        site, st = self.site, self.site.station
        local = to_local(b)
        power.reset_yield(local.date())
        elevation = solar_elevation_deg(b, st.latitude, st.longitude)
        g = site.weather.irradiance(b, rain_suppressed=fx.no_rain)
        if g > 0 and site.weather.day(local.date()).cloudy:
            g *= site.rng.uniform(0.6, 1.4)  # broken cloud passing over
        if fx.rain_mm_per_h > 0:
            g *= STORM_SHADE
        air = air_temp_c(local)
        cell = air + g * 0.03
        # soiled or shaded panels, a cut array cable: the share of the sun the array still sees
        pv_share = float(fx.get("pv_factor", 1.0))
        step = power.step(
            dt, g * pv_share, demand_w(self.loads, local, elevation, site.rng), cell, fx.error_code
        )
        target = _enclosure_temp(air, abs(step.battery_current_a))
        self.battery_temp_c += (target - self.battery_temp_c) * min(1.0, dt / 5400.0)
        self._charge_as += step.battery_current_a * dt
        self._last = step

    @property
    def load_connected(self) -> bool:
        """False while the controller's low-voltage disconnect has the loads (the modem) off."""
        return self.power is None or self.power.load_connected

    def reading(self, prev: float, t: float, fx: Effects) -> Fields:
        last, power = self._last, self.power
        assert last is not None and power is not None
        charge_as, self._charge_as = self._charge_as, 0.0
        return {
            "pv_voltage_v": rounded(last.pv_voltage_v, 2),
            "pv_current_a": rounded(last.pv_current_a, 3),
            "pv_power_w": rounded(last.pv_power_w, 1),
            "battery_voltage_v": rounded(last.battery_voltage_v, 3),
            # the mean over the interval, so SoC follows the integral of what is published
            "battery_current_a": rounded(charge_as / (t - prev), 3),
            "battery_soc_pct": rounded(power.soc, 3),
            "battery_temp_c": rounded(self.battery_temp_c, 2),
            "load_power_w": rounded(last.load_power_w, 1),
            "yield_today_wh": rounded(power.yield_wh, 1),
            "charge_state": last.charge_state,
            "error_code": fx.error_code,
        }


def _enclosure_temp(air_c: float, current_a: float) -> float:
    """Battery enclosure: 25–40 °C, a sun-warmed box above air temperature, a little I²R heat."""
    return min(40.0, max(25.0, 25.0 + (air_c - 20.0) * 15.0 / 13.0 + current_a * 0.01))


MODEL = KindModel("solar", SolarModel)
