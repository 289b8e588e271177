"""Leak suspicion: water the tank loses beyond what its meters record, or use in the small hours.

Two signs, each in litres per hour:
- the level falls faster than recorded outflow minus inflow explains, over the last hours
  (a leaking tank or fitting past the meters); skipped while the tank is nearly full,
  where an overflow spills recorded inflow;
- recorded outflow between 02:00 and 05:00 local, when a station uses almost nothing,
  above a threshold (a tap left running, a burst pipe after the meter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from collector.insight.samples import HOUR_MS

NEARLY_FULL = 0.98


@dataclass(frozen=True, slots=True)
class TankSample:
    ts_ms: int
    volume_l: float | None
    inflow_lpm: float | None
    outflow_lpm: float | None


@dataclass(frozen=True, slots=True)
class LeakEstimate:
    unexplained_lph: float | None  # level loss beyond recorded flows (None: not measurable)
    night_outflow_lph: float | None  # mean recorded outflow 02:00-05:00 of the last night
    leak_lph: float  # what the alert rule sees


def unexplained_loss_lph(
    samples: Sequence[TankSample], now_ms: int, window_ms: int, interval_ms: int, capacity_l: float
) -> float | None:
    """Litres per hour lost beyond the recorded flows over the window ending at `now_ms`."""
    inside = [s for s in samples if now_ms - window_ms <= s.ts_ms <= now_ms]
    with_volume = [s for s in inside if s.volume_l is not None]
    if len(with_volume) < 2 or len(inside) < 0.8 * window_ms / interval_ms:
        return None
    if any(s.volume_l is not None and s.volume_l >= NEARLY_FULL * capacity_l for s in inside):
        return None
    first, last = with_volume[0], with_volume[-1]
    assert first.volume_l is not None and last.volume_l is not None
    minutes = interval_ms / 60_000
    # each reading's flows cover the interval before it: the first one's lies before the window
    after = [s for s in inside if first.ts_ms < s.ts_ms <= last.ts_ms]
    recorded = sum(((s.outflow_lpm or 0.0) - (s.inflow_lpm or 0.0)) * minutes for s in after)
    lost = first.volume_l - last.volume_l - recorded
    hours = (last.ts_ms - first.ts_ms) / HOUR_MS
    return max(0.0, lost / hours) if hours > 0 else None


def night_outflow_lph(
    samples: Sequence[TankSample], now_ms: int, tz: tzinfo, interval_ms: int
) -> float | None:
    """Mean recorded outflow (L/h) from 02:00 to 05:00 local of the latest night before now."""
    local = datetime.fromtimestamp(now_ms / 1000, tz)
    end = local.replace(hour=5, minute=0, second=0, microsecond=0)
    if end > local:
        end -= timedelta(days=1)
    end_ms = int(end.timestamp() * 1000)
    start_ms = end_ms - 3 * HOUR_MS
    flows = [
        s.outflow_lpm for s in samples if start_ms < s.ts_ms <= end_ms and s.outflow_lpm is not None
    ]
    if len(flows) < 0.8 * 3 * HOUR_MS / interval_ms:
        return None
    return sum(flows) / len(flows) * 60


def estimate_leak(
    samples: Sequence[TankSample],
    now_ms: int,
    tz: tzinfo,
    *,
    interval_ms: int,
    capacity_l: float,
    window_ms: int,
    night_threshold_lph: float,
) -> LeakEstimate:
    """Both signs; `leak_lph` is the larger of the unexplained loss and a night outflow
    above its threshold (night use below it is taken as normal)."""
    lost = unexplained_loss_lph(samples, now_ms, window_ms, interval_ms, capacity_l)
    night = night_outflow_lph(samples, now_ms, tz, interval_ms)
    leak = lost or 0.0
    if night is not None and night > night_threshold_lph:
        leak = max(leak, night)
    return LeakEstimate(lost, night, round(leak, 2))
