"""Device clock offsets: estimated from live messages only, robust, applied in steps."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from collector.alerts.clockwatch import SkewWatch
from collector.alerts.engine import RuleEngine
from collector.alerts.settings import AlertSettings
from collector.config import load_settings
from collector.ingest.clockskew import MIN_SAMPLES, ClockSkew, is_live, next_correction
from collector.ingest.pipeline import Ingest
from collector.ingest.quarantine import Quarantine
from collector.ingest.readings import Reading
from collector.metrics import Metrics
from devices.stations import load_fleet

T0 = 1_790_000_000_000  # a receive time, ms
MIN = 60_000
H = 3_600_000


def sample(clock: ClockSkew, device_ms: int, received_ms: int) -> None:
    clock.sample(("S", "d"), device_ms, received_ms, clock.devices.get(("S", "d")))


def feed(clock: ClockSkew, offset_ms: int, n: int, start: int = T0, step: int = MIN) -> int:
    """`n` live messages a minute apart from a device whose clock is `offset_ms` slow."""
    for i in range(n):
        received = start + i * step
        sample(clock, received - offset_ms, received + (i * 7919) % 3000)  # 0-3 s late
    return start + n * step


def test_live_messages_give_the_offset_either_way() -> None:
    for offset in (2 * H, -2 * H, 45_000):
        clock = ClockSkew()
        feed(clock, offset, MIN_SAMPLES)  # the first message has nothing to compare with
        assert clock.offset("S", "d") is None
        feed(clock, offset, 2, T0 + MIN_SAMPLES * MIN)
        est = clock.offset("S", "d")
        assert est is not None and offset <= est <= offset + 3000
    # 45 s of latency and drift is no correction; two hours is
    assert clock.correction("S", "d") == 0
    slow = ClockSkew()
    feed(slow, 2 * H, 10)
    assert abs(slow.correction("S", "d") - 2 * H) < 3000


def test_a_backlog_flushed_after_an_outage_is_left_out() -> None:
    clock = ClockSkew()
    t = feed(clock, 0, 10)
    before = clock.offset("S", "d")
    assert before is not None
    # six hours down: 360 buffered readings, a minute apart in device time, come in one second
    outage_end = t + 6 * H
    for i in range(360):
        sample(clock, t + i * MIN, outage_end + i * 3)
    assert clock.offset("S", "d") == before and clock.correction("S", "d") == 0
    assert clock.devices[("S", "d")].backlog == 360
    # an accelerated simulation looks the same: device time far ahead of receive time
    sim = ClockSkew()
    for i in range(100):
        sample(sim, T0 - 6 * H + i * MIN, T0 + i * 1000)
    assert sim.offset("S", "d") is None


def test_outliers_do_not_move_the_estimate() -> None:
    clock = ClockSkew()
    t = feed(clock, 2 * H, 12)
    est = clock.offset("S", "d")
    # one reading a day ahead, then one hour late in the network: neither is a live sample
    sample(clock, t - 2 * H + 86_400_000, t)
    sample(clock, t + MIN - 2 * H, t + MIN + H)
    t = feed(clock, 2 * H, 3, t + 2 * MIN + H)
    assert clock.offset("S", "d") == est
    # a median: a third of the window jittered by ±20 s leaves it where it was
    for i in range(5):
        r = t + i * MIN
        sample(clock, r - 2 * H + (20_000 if i % 2 else -20_000), r)
    assert abs((clock.offset("S", "d") or 0) - 2 * H) < 3000


def test_a_clock_that_was_set_moves_the_estimate_within_a_window() -> None:
    clock = ClockSkew()
    t = feed(clock, 2 * H, 15)
    feed(clock, 0, 9, t)  # somebody set it right: 8 live samples out of 15 flip the median
    assert abs(clock.offset("S", "d") or 0) < 3000 and clock.correction("S", "d") == 0


def test_the_correction_moves_in_steps() -> None:
    assert next_correction(0, 59_000) == 0
    assert next_correction(0, 61_000) == 60_000  # whole QUANTUM_MS: workers agree
    assert next_correction(60_000, 80_000) == 60_000  # within a step: redeliveries land alike
    assert next_correction(60_000, 96_000) == 100_000
    assert next_correction(60_000, 20_000) == 0
    assert is_live(0, 0, MIN, MIN + 2000) and not is_live(0, 0, MIN, 10)
    assert not is_live(MIN, 0, 0, MIN)


def test_the_table_is_bounded_and_counts_what_it_refuses() -> None:
    clock = ClockSkew(max_devices=2)
    for d in ("a", "b", "c", "c"):
        clock.sample(("S", d), T0, T0, clock.devices.get(("S", d)))
    assert len(clock.devices) == 2 and clock.table_full == 2


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[Ingest]:
    quarantine = Quarantine(tmp_path, 1 << 20, 100, 2048)
    quarantine.start()
    settings = load_settings(None, {"mqtt.prefix": "sw"})
    yield Ingest(settings, load_fleet(), Metrics(), quarantine)
    await quarantine.stop()


def test_a_fast_clock_is_refused_until_known_then_stored_on_corrected_time(
    ingest: Ingest,
) -> None:
    topic = "sw/PEMBA-01/solar/mppt1/telemetry"
    now = int(time.time() * 1000)
    outs = []
    for i in range(10):
        received = now - 10 * MIN + i * MIN
        payload = orjson.dumps({"ts": (received + 2 * H) / 1000, "battery_soc_pct": 20.0})
        out = ingest.handle(topic, payload, received, received)
        outs.append((out.refused, len(out.readings), [r.ts_ms - received for r in out.readings]))
        clock_line = [line for line in out.lines if line.startswith("device_clock,")]
        if i == MIN_SAMPLES:
            assert out.clock is not None and out.clock[2] == -2 * H  # the correction came
            assert clock_line and "correction_s=-7200" in clock_line[0]
    # the first readings are an unknown clock 2 h ahead: refused, as before; then corrected
    assert [n for _, n, _ in outs] == [0] * (MIN_SAMPLES + 1) + [1] * (9 - MIN_SAMPLES)
    assert all(d == [0] for _, n, d in outs if n)
    assert ingest.metrics.readings_rejected_by["ts_in_future"] == MIN_SAMPLES + 1


def reading(ts: int, soc: float = 20.0) -> Reading:
    return Reading("PEMBA-01", "Pemba", "solar", "mppt1", ts, None, {"battery_soc_pct": soc})


def test_the_engine_moves_a_device_onto_its_corrected_time_base() -> None:
    settings = AlertSettings.model_validate({"rules": {"battery_critical": {"for": "5m"}}})
    engine = RuleEngine(settings.rules, load_fleet(), settings.stale_after)
    now = T0
    # before the offset is known a slow device's readings come at its own time, 2 h back
    for i in range(3):
        engine.observe(reading(now - 2 * H + i * 1000))
    engine.observe_clock("PEMBA-01", "mppt1", None, 0, True, now)  # estimate pending
    assert [t.rule.name for t in engine.evaluate(now / 1000)] == []  # silence waits for it
    engine.observe_clock("PEMBA-01", "mppt1", 2 * H, 2 * H, False, now)
    engine.observe(reading(now + 3000))
    fired = [t for t in engine.evaluate(now / 1000 + 3) if t.rule.name == "battery_critical"]
    assert fired == []  # `for` counts from the condition's start on the new base, not 2 h back
    engine.observe(reading(now + 5 * MIN))
    fired = [t for t in engine.evaluate(now / 1000 + 300) if t.rule.name == "battery_critical"]
    assert [t.since_ms for t in fired] == [now]


def test_skew_fires_after_for_and_resolves_back_within_the_limit() -> None:
    rules = AlertSettings.model_validate({"rules": {"device_clock_skew": {"for": "30m"}}}).rules
    watch = SkewWatch(rules, load_fleet())
    watch.observe("PEMBA-01", "mppt1", 2 * H, T0)
    assert watch.evaluate(T0) == []
    watch.observe("PEMBA-01", "mppt1", 2 * H, T0 + 29 * MIN)
    assert watch.evaluate(T0 + 29 * MIN) == []
    fired = watch.evaluate(T0 + 30 * MIN)  # no new estimate needed: the `for` ran out
    assert [(t.state, t.device, t.value, t.since_ms) for t in fired] == [
        ("firing", "mppt1", 120.0, T0)
    ]
    watch.observe("PEMBA-01", "mppt1", 4 * MIN, T0 + 40 * MIN)
    assert [t.state for t in watch.evaluate(T0 + 40 * MIN)] == ["resolved"]
    # a clock four minutes off never fires
    watch.observe("PEMBA-01", "tank1", -4 * MIN, T0)
    assert watch.evaluate(T0 + 2 * H) == []


def test_a_restart_keeps_the_time_base_until_the_new_estimate() -> None:
    settings = AlertSettings()
    engine = RuleEngine(settings.rules, load_fleet(), settings.stale_after)
    engine.observe(reading(T0))
    engine.observe_clock("PEMBA-01", "mppt1", 2 * H, 2 * H, False, T0)
    again = RuleEngine(settings.rules, load_fleet(), settings.stale_after)
    again.restore(engine.snapshot())
    # after the restart the ingest knows nothing yet: the engine's times stay where they were
    again.observe_clock("PEMBA-01", "mppt1", None, 0, True, T0 + MIN)
    again.observe_clock("PEMBA-01", "mppt1", 2 * H, 2 * H, False, T0 + 2 * MIN)
    assert again._devices[("PEMBA-01", "mppt1")].last_ts == T0 + 2 * H


def test_the_offset_gauge_is_bounded_to_the_largest_offsets() -> None:
    metrics = Metrics()
    metrics.clock_offsets = lambda: {("S", f"d{i}"): float(i - 750) for i in range(1500)}
    lines = [
        x
        for x in metrics.prometheus().decode().splitlines()
        if x.startswith("solarwater_device_clock_offset_seconds{")
    ]
    assert len(lines) == 1000
    assert 'solarwater_device_clock_offset_seconds{device="d0",station="S"} -750.0' in lines
    assert not any('device="d750"' in x for x in lines)  # offset 0: among the smallest


def test_two_workers_sharing_a_device_apply_the_same_correction() -> None:
    """Each ingest worker sees every other message of a device (a shared subscription)."""
    a, b = ClockSkew(), ClockSkew()
    key = ("S", "mppt1")
    for i in range(40):  # 2 h slow, a message a minute, a little network jitter
        device, received = T0 + i * MIN, T0 + i * MIN + 7_200_000 + (i * 37) % 900
        est = a if i % 2 else b
        est.sample(key, device, received, est.devices.get(key))
    assert a.devices[key].offset_ms != b.devices[key].offset_ms  # different samples...
    assert a.correction(*key) == b.correction(*key) == 7_200_000  # ...one correction


def test_a_runaway_estimate_moves_the_correction_at_most_every_ten_minutes() -> None:
    """A device replaying faster than real time must not shift its points onto each other."""
    clock = ClockSkew()
    key = ("S", "mppt1")
    changes = []
    for i in range(2000):  # device time runs 10 ms ahead per 100 ms: the estimate drifts
        device, received = T0 + i * 110, T0 + 3_600_000 + i * 100
        clock.sample(key, device, received, clock.devices.get(key))
        c = clock.correction(*key)
        if not changes or changes[-1][1] != c:
            changes.append((received, c))
    assert len(changes) == 2  # applied once, then held: 200 s is under CHANGE_EVERY_MS
