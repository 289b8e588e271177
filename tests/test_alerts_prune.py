"""The alert history is pruned while the collector runs (hourly, in the store's thread)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from collector.alerts import service as alert_service
from collector.alerts.model import Alert
from collector.alerts.service import AlertService
from collector.alerts.settings import AlertSettings
from collector.alerts.store import AlertStore
from devices.stations import EMPTY_FLEET

DAY_MS = 86_400_000


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def resolved(resolved_ms: int) -> Alert:
    return Alert(
        id=0, station="S1", district=None, device="d", rule="r", severity="warning",
        state="resolved", since_ms=resolved_ms - 1000, fired_ms=resolved_ms - 1000,
        value=1.0, threshold="< 2", message="m", resolved_ms=resolved_ms,
    )  # fmt: skip


async def test_old_history_is_pruned_while_running(tmp_path: Path) -> None:
    clock = Clock()
    settings = AlertSettings.model_validate(
        {"evaluate_interval_s": 0.02, "history_keep": "7d", "rules": {}, "notifiers": {}}
    )
    svc = AlertService(
        settings, EMPTY_FLEET, tmp_path, write_lines=lambda lines: None, mqtt_publish=None,
        clock=clock,
    )  # fmt: skip
    await svc.start()
    try:
        now_ms = int(clock.t * 1000)
        ages = [30 * DAY_MS, 8 * DAY_MS, 6 * DAY_MS, DAY_MS]

        def insert(s: AlertStore) -> list[int]:
            return [s.insert_alert(resolved(now_ms - age)) for age in ages]

        ids = await svc.store.call(insert)
        threads: list[str] = []
        real_prune = AlertStore.prune

        def watched(store: AlertStore, before_ms: int) -> int:
            threads.append(threading.current_thread().name)
            return real_prune(store, before_ms)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(AlertStore, "prune", watched)
            await asyncio.sleep(0.2)
            assert threads == [], "not before an hour has passed"
            clock.t += alert_service.PRUNE_EVERY_S + 1
            for _ in range(100):
                if threads:
                    break
                await asyncio.sleep(0.02)
        assert threads and threads[0].startswith("alert-store"), "off the event loop"
        left = await svc.store.call(lambda s: [a.id for a in s.history(10, None, None, None)])
        # 7 days are kept, counted from the prune (an hour after the inserts).
        assert sorted(left) == ids[2:]
    finally:
        await svc.stop()
