"""One station's figures at one moment of fleet time, from its fetched readings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from collector.insight.autonomy import BatteryForecast, forecast_battery, soc_from_voltage
from collector.insight.catchment import Storm, last_efficiency
from collector.insight.fetch import StationData
from collector.insight.leak import LeakEstimate, estimate_leak
from collector.insight.samples import DAY_MS, last_noon
from collector.insight.settings import InsightSettings
from collector.insight.silence_cause import Cause
from collector.insight.water import WaterForecast, forecast_water
from devices.chemistry import facts_of
from devices.insight import HORIZON_DAYS
from devices.stations import Station

HISTORY_MS = 8 * DAY_MS  # 7 whole noon-to-noon days and the part of today


@dataclass(frozen=True, slots=True)
class Silence:
    since_ms: int  # the station's last reading
    cause: Cause


@dataclass(frozen=True, slots=True)
class Figures:
    """What the forecast point, the alert engine and the API say of one station."""

    station: str
    ts_ms: int
    battery: BatteryForecast | None
    water: WaterForecast | None
    leak: LeakEstimate | None
    storm: Storm | None
    silence: Silence | None = None

    def forecast_fields(self) -> dict[str, float]:
        """The `forecast` point's fields: each left out when its trend is not falling."""
        out: dict[str, float] = {}
        b, w = self.battery, self.water
        if b is not None and b.days_to_low is not None:
            out["battery_days"] = round(min(b.days_to_low, HORIZON_DAYS), 3)
        if b is not None and b.days_to_lvd is not None:
            out["battery_lvd_days"] = round(min(b.days_to_lvd, HORIZON_DAYS), 3)
        if w is not None and w.days_left is not None:
            out["water_days"] = round(min(w.days_left, HORIZON_DAYS), 3)
        return out

    def rule_fields(self) -> dict[str, float]:
        """What the alert rules see: a forecast not falling is the horizon, so alerts clear."""
        out: dict[str, float] = {}
        if self.battery is not None:
            b = self.battery
            out["battery_days"] = min(b.days_to_low or HORIZON_DAYS, HORIZON_DAYS)
            out["battery_lvd_days"] = min(b.days_to_lvd or HORIZON_DAYS, HORIZON_DAYS)
        if self.water is not None:
            out["water_days"] = min(self.water.days_left or HORIZON_DAYS, HORIZON_DAYS)
        if self.leak is not None and self.leak.unexplained_lph is not None:
            out["leak_lph"] = self.leak.leak_lph
        if self.storm is not None:
            out["catchment_pct"] = round(min(1000.0, self.storm.efficiency_pct), 1)
        return {k: round(v, 3) for k, v in out.items()}

    def to_json(self) -> dict[str, Any]:
        """The API's view: the figures, their inputs and their uncertainty."""
        b, w, leak, s = self.battery, self.water, self.leak, self.storm
        return {
            "station": self.station,
            "ts_ms": self.ts_ms,
            "forecast": self.forecast_fields(),
            "battery": None if b is None else {
                "soc_pct": b.soc_pct, "daily_low_pct": b.daily_low_pct,
                "fall_pct_per_day": round(b.rate_pct_per_day, 3),
                "fall_spread_pct": round(b.rate_spread_pct, 3), "days_used": b.days_used,
                "soc_estimated": b.estimated, "days_to_low_range": b.days_to_low_range,
            },
            "water": None if w is None else {
                "volume_l": w.volume_l, "net_loss_l_per_day": round(w.net_loss_l_per_day, 1),
                "loss_spread_l": round(w.loss_spread_l, 1), "days_used": w.days_used,
            },
            "leak": None if leak is None else {
                "unexplained_lph": leak.unexplained_lph,
                "night_outflow_lph": leak.night_outflow_lph, "leak_lph": leak.leak_lph,
            },
            "storm": None if s is None else {
                "start_ms": s.start_ms, "end_ms": s.end_ms, "rain_mm": s.rain_mm,
                "collected_l": round(s.collected_l, 1), "expected_l": round(s.expected_l, 1),
                "efficiency_pct": round(s.efficiency_pct, 1),
            },
            "silence": None if self.silence is None else {
                "since_ms": self.silence.since_ms, "cause": self.silence.cause,
            },
        }  # fmt: skip


def compute(
    station: Station, data: StationData, now_ms: int, settings: InsightSettings, tz: tzinfo
) -> Figures:
    """The figures of `station` at `now_ms`, from readings up to then only (fleet time)."""
    interval_ms = station.report_interval_s * 1000
    noon = last_noon(now_ms, tz)
    battery = None
    chem = station.size("battery_chemistry")
    facts = facts_of(chem)
    if facts is not None:
        low = settings.low_soc(str(chem))
        power = [p for p in data.power if p.ts_ms <= now_ms]
        soc = [(p.ts_ms, p.soc_pct) for p in power if p.soc_pct is not None]
        battery = forecast_battery(soc, now_ms, noon, facts, low, interval_ms)
        if battery is None and not soc:
            nominal, ah = station.size("battery_voltage"), station.size("battery_ah")
            volts = [(p.ts_ms, p.voltage_v) for p in power if p.voltage_v is not None]
            if isinstance(nominal, float | int) and isinstance(ah, float | int) and volts:
                est = soc_from_voltage(volts, data.current, facts, float(nominal), float(ah))
                # only the discharging readings count: a day needs 40% of its readings
                battery = forecast_battery(
                    est, now_ms, noon, facts, low, interval_ms * 2, estimated=True
                )
    water = leak = storm = None
    tanks = station.devices_of("tank")
    litres = tanks[0].size("tank_litres") if tanks else None
    roof = tanks[0].size("roof_area_m2") if tanks else None
    if isinstance(litres, float | int) and data.tank:
        vol = [(s.ts_ms, s.volume_l) for s in data.tank if s.volume_l is not None]
        water = forecast_water(vol, now_ms, interval_ms, float(litres))
        leak = estimate_leak(
            data.tank,
            now_ms,
            tz,
            interval_ms=interval_ms,
            capacity_l=float(litres),
            window_ms=int(settings.leak_window * 1000),
            night_threshold_lph=settings.night_outflow_lph,
        )
    if isinstance(roof, float | int) and data.rain:
        storm = last_efficiency(
            [r for r in data.rain if now_ms - 2 * DAY_MS < r.ts_ms <= now_ms],
            now_ms,
            interval_ms,
            float(roof),
            settings.runoff_coefficient,
            settings.min_storm_litres,
        )
    return Figures(station.id, now_ms, battery, water, leak, storm)
