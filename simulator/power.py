"""PV array → MPPT charge controller → battery bank and loads, integrated step by step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from simulator.battery import BatterySpec

_MPPT_EFFICIENCY = 0.97
_ARRAY_DERATE = 0.8  # soiling, wiring, mismatch, inverter-free DC losses
_VMP_STC, _VOC_STC = 70.0, 86.0  # two 36-cell-equivalent strings in series
_TEMP_COEFF = -0.004  # power per °C above 25 °C cell temperature
_MIN_HARVEST_W = 2.0  # below this the controller reports `off`


@dataclass(slots=True)
class PowerStep:
    """Result of one integration step; currents and powers are constant over the step."""

    pv_voltage_v: float
    pv_current_a: float
    pv_power_w: float
    battery_voltage_v: float
    battery_current_a: float
    load_power_w: float
    charge_state: str


class PowerSystem:
    """State of one station's power system: SoC, charge stage, LVD, yield counter."""

    def __init__(
        self,
        spec: BatterySpec,
        pv_kwp: float,
        capacity_ah: float,
        nominal_v: float,
        soc_pct: float,
    ) -> None:
        self.spec = spec
        self.pv_kwp = pv_kwp
        self.nominal_ah = capacity_ah
        self.nominal_v = nominal_v
        self.soc = soc_pct
        self.stage = "off"
        self.absorbed_s = 0.0
        self.absorbed_today = False
        self.load_connected = soc_pct > spec.lvd_soc
        self.yield_wh = 0.0
        self.yield_day: date | None = None
        self.capacity_factor = 1.0

    @property
    def capacity_ah(self) -> float:
        return self.nominal_ah * self.capacity_factor

    def set_capacity_factor(self, factor: float) -> None:
        """Change the usable capacity; a shrinking bank keeps its charge up to its new size."""
        if factor == self.capacity_factor:
            return
        held_ah = self.soc / 100.0 * self.capacity_ah
        old = self.capacity_factor
        self.capacity_factor = factor
        if factor < old:
            self.soc = min(100.0, held_ah / self.capacity_ah * 100.0)
        # a bigger (replaced) bank keeps its SoC: it is delivered at the charge the old one showed

    def reset_yield(self, day: date) -> None:
        """Start a new day's yield counter at local midnight."""
        if self.yield_day != day:
            self.yield_day = day
            self.yield_wh = 0.0

    def step(
        self,
        dt_s: float,
        irradiance_w_m2: float,
        demand_w: float,
        cell_temp_c: float,
        error_code: int,
    ) -> PowerStep:
        """Advance `dt_s` seconds with the given conditions and return the step's values."""
        spec, cap, dt_h = self.spec, self.capacity_ah, dt_s / 3600.0
        self._update_lvd()
        load = demand_w if self.load_connected else 0.0
        temp_factor = max(0.5, 1.0 + _TEMP_COEFF * (cell_temp_c - 25.0))
        pv_avail = self.pv_kwp * irradiance_w_m2 * _ARRAY_DERATE * temp_factor
        if error_code:
            pv_avail = 0.0
        out_avail = pv_avail * _MPPT_EFFICIENCY
        self._update_stage(out_avail, dt_s, error_code)

        v_est = spec.ocv(self.soc, self.nominal_v)
        accept_a = self._acceptance_a(cap, dt_h)
        surplus_w = out_avail - load
        current = min(accept_a, surplus_w / v_est) if surplus_w >= 0 else surplus_w / v_est
        # never beyond full, never below empty: the controller and the LVD see to that
        room_a = (100.0 - self.soc) / 100.0 * cap / (spec.charge_efficiency * dt_h)
        floor_a = -self.soc / 100.0 * cap / dt_h
        current = max(floor_a, min(current, max(0.0, room_a)))
        if current < 0 and surplus_w < 0 and current > surplus_w / v_est:
            load = out_avail - current * v_est  # the bank ran dry: the loads got what was left
        out_used = max(0.0, load + current * v_est)
        pv_used = min(pv_avail, out_used / _MPPT_EFFICIENCY) if pv_avail > 0 else 0.0

        gain = current * spec.charge_efficiency if current > 0 else current
        self.soc = min(100.0, max(0.0, self.soc + gain * dt_h / cap * 100.0))
        self.yield_wh += pv_used * dt_h

        voltage = self._terminal_voltage(current, cap)
        pv_v, pv_a = self._pv_operating_point(pv_avail, pv_used, irradiance_w_m2, cell_temp_c)
        state = "fault" if error_code else self.stage
        return PowerStep(pv_v, pv_a, pv_used, voltage, current, load, state)

    def _update_lvd(self) -> None:
        if self.load_connected and self.soc <= self.spec.lvd_soc:
            self.load_connected = False
        elif not self.load_connected and self.soc >= self.spec.lvr_soc:
            self.load_connected = True

    def _update_stage(self, out_avail: float, dt_s: float, error_code: int) -> None:
        spec = self.spec
        if error_code or out_avail < _MIN_HARVEST_W:
            if self.stage != "off":
                # a night resets the cycle: tomorrow starts in bulk and absorbs again
                self.absorbed_today = False
                self.absorbed_s = 0.0
            self.stage = "off"
            return
        if self.stage == "off":
            if self.soc < spec.absorption_start_soc:
                self.stage = "bulk"
            else:
                self.stage = "float" if self.absorbed_today else "absorption"
        if self.stage == "bulk" and self.soc >= spec.absorption_start_soc:
            self.stage = "float" if self.absorbed_today else "absorption"
        if self.stage == "absorption":
            self.absorbed_s += dt_s
            if self.absorbed_s >= spec.absorption_max_s or self.soc >= 99.5:
                self.stage, self.absorbed_today = "float", True
        if self.stage == "float" and self.soc < spec.rebulk_soc:
            self.stage, self.absorbed_today, self.absorbed_s = "bulk", False, 0.0

    def _acceptance_a(self, cap: float, dt_h: float) -> float:
        spec = self.spec
        i_max = spec.max_charge_c * cap
        if self.stage == "bulk":
            return i_max
        if self.stage == "absorption":
            taper = (100.0 - self.soc) / (100.0 - spec.absorption_start_soc)
            return i_max * max(0.03, min(1.0, taper))
        if self.stage == "float":
            return i_max * 0.02
        return 0.0

    def _terminal_voltage(self, current: float, cap: float) -> float:
        spec = self.spec
        scale = self.nominal_v / 24.0
        ocv = spec.ocv(self.soc, self.nominal_v)
        v = ocv + current * spec.resistance(cap)
        if current > 0:
            # charge polarisation: the voltage climbs towards absorption as the bank fills
            v += 2.6 * scale * (self.soc / 100.0) ** 3
            if self.stage == "absorption":
                v = spec.absorption_v * scale
            elif self.stage == "float":
                v = spec.float_v * scale
            v = min(v, spec.absorption_v * scale)
        return v

    def _pv_operating_point(
        self, pv_avail: float, pv_used: float, irradiance: float, cell_temp_c: float
    ) -> tuple[float, float]:
        if irradiance <= 0.0:
            return 0.0, 0.0
        t = cell_temp_c - 25.0
        vmp = _VMP_STC * (1.0 - 0.0035 * t)
        voc = _VOC_STC * (1.0 - 0.003 * t) * min(1.0, 0.8 + irradiance / 250.0)
        if pv_used <= 0.0 or pv_avail <= 0.0:
            return voc, 0.0
        # a controller that cannot use all the power moves off the MPP towards open circuit
        ratio = pv_used / pv_avail
        v = min(voc, vmp + (voc - vmp) * (1.0 - ratio))
        return v, pv_used / v
