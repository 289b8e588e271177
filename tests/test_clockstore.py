"""Device clock estimates on disk: kept across a restart, bounded, and not trusted when old."""

from __future__ import annotations

from pathlib import Path

from collector.alerts.engine import RuleEngine
from collector.alerts.settings import AlertSettings
from collector.ingest import clockstore
from collector.ingest.clockskew import MIN_SAMPLES, ClockSkew
from collector.ingest.clockstore import ClockStore
from devices.stations import load_fleet

T0 = 1_790_000_000_000  # a receive time, ms
MIN = 60_000
H = 3_600_000
DAY = 24 * H


def live(skew: ClockSkew, key: tuple[str, str], offset_ms: int, n: int, start: int) -> int:
    """`n` live messages a minute apart from a device `offset_ms` slow; the next receive time."""
    for i in range(n):
        received = start + i * MIN
        skew.sample(key, received - offset_ms, received, skew.devices.get(key))
    return start + n * MIN


async def test_an_estimate_survives_a_restart_and_goes_on_from_its_samples(tmp_path: Path) -> None:
    before = ClockSkew()
    t = live(before, ("S", "slow"), 2 * H, MIN_SAMPLES + 3, T0)
    live(before, ("S", "fast"), -2 * H, MIN_SAMPLES + 3, T0)
    live(before, ("S", "new"), 0, 2, T0)  # no estimate yet: nothing to keep
    store = ClockStore(tmp_path, 7 * 86400, 100)
    await store.save(clockstore.unsaved(before), t)
    assert clockstore.unsaved(before) == []  # taken once until estimated again
    await store.close()

    after = ClockSkew()
    reopened = ClockStore(tmp_path, 7 * 86400, 100)
    restored = clockstore.restore(after, await reopened.load(t + 5 * MIN))
    await reopened.close()
    assert sorted(k for k, _ in restored) == [("S", "fast"), ("S", "slow")]
    # corrected from the first message after the restart, not after MIN_SAMPLES of them
    assert after.correction("S", "slow") == before.correction("S", "slow") == 2 * H
    assert after.correction("S", "fast") == -2 * H
    assert after.devices[("S", "slow")].pending is False
    # the next live message (five minutes on, against the saved previous one) is a sample of
    # the same window: one jittery sample does not become the estimate
    slow = after.devices[("S", "slow")]
    received = slow.received_ms + 5 * MIN
    after.sample(("S", "slow"), received - 2 * H - 20_000, received, slow)
    assert slow.live == 1 and len(slow.samples) == MIN_SAMPLES + 3
    assert after.offset("S", "slow") == 2 * H and after.correction("S", "slow") == 2 * H


async def test_old_estimates_are_not_trusted_and_the_table_stays_bounded(tmp_path: Path) -> None:
    skew = ClockSkew()
    for i in range(5):
        live(skew, ("S", f"d{i}"), 2 * H, MIN_SAMPLES + 1, T0 + i * DAY)
    store = ClockStore(tmp_path, 3 * 86400, 4)
    await store.save(clockstore.unsaved(skew), T0)  # none too old yet; the oldest is one too many
    assert [r[1] for r in await store.load(T0)] == ["d4", "d3", "d2", "d1"]
    # four days on, with a 3-day limit: the device last estimated on day 1 is too old
    rows = await store.load(T0 + 4 * DAY + H)
    assert [r[1] for r in rows] == ["d4", "d3", "d2"] and store.too_old == 1
    await store.save([], T0 + 4 * DAY + H)  # a save drops it from the file
    assert len(await store.load(T0)) == 3 and store.too_old == 0
    # the in-memory table's bound holds for what is restored
    small = ClockSkew(max_devices=2)
    assert len(clockstore.restore(small, rows)) == 2 and small.table_full == 1
    await store.close()


def test_the_engine_takes_the_restored_time_base_over_its_own_snapshot() -> None:
    # the engine's snapshot was saved before the device's correction was known; the clock
    # store after: told of the restored estimate, the engine moves the device's times onto it
    fleet = load_fleet()
    settings = AlertSettings()
    engine = RuleEngine(settings.rules, fleet, settings.stale_after)
    engine.restore({"device_ts": [["PEMBA-01", "mppt1", T0 - 2 * H]], "seen": {}})
    engine.observe_clock("PEMBA-01", "mppt1", 2 * H, 2 * H, False, T0)
    assert engine.bases.bases == {("PEMBA-01", "mppt1"): 2 * H}
    assert engine._devices[("PEMBA-01", "mppt1")].last_ts == T0
