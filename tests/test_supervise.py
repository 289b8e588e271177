"""Supervised background tasks: a crash is logged with its traceback, counted, shown, restarted."""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from collector import service
from collector.stats_points import collector_point
from collector.store.spool import Chunk, Spool
from collector.supervise import Supervisor
from devstack import Influxd, Mosquitto, collector_http
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)


async def test_crash_is_counted_and_restarted_with_a_capped_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    restarted: list[str] = []
    sup = Supervisor(min_backoff_s=0.1, max_backoff_s=0.4, on_restart=restarted.append)
    runs: list[float] = []

    async def flaky() -> None:
        runs.append(time.monotonic())
        if len(runs) <= 5:
            raise ValueError(f"fault {len(runs)}")

    caplog.set_level(logging.ERROR, "collector.supervise")
    await asyncio.wait_for(sup.spawn("flaky", flaky), 10)
    assert len(runs) == 6 and restarted == ["flaky"] * 5
    delays = [r.getMessage().rsplit(" in ", 1)[1] for r in caplog.records]
    assert delays == ["0.1 s", "0.2 s", "0.4 s", "0.4 s", "0.4 s"], "doubling, capped"
    assert all(r.exc_info is not None for r in caplog.records), "each with its traceback"
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert all(g >= d - 0.01 for g, d in zip(gaps, (0.1, 0.2, 0.4, 0.4, 0.4), strict=True))
    report = sup.report()["flaky"]
    assert report == {"restarts": 5, "last_error": "ValueError: fault 5", "failing": True}
    assert sup.failing() == {"flaky": "ValueError: fault 5"}


async def test_cancellation_is_a_normal_stop() -> None:
    sup = Supervisor(on_restart=lambda name: pytest.fail(f"{name} counted as a crash"))
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = sup.spawn("forever", forever)
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sup.failing() == {} and sup.report()["forever"]["restarts"] == 0


async def test_close_ends_a_task_waiting_to_restart() -> None:
    sup = Supervisor(min_backoff_s=30)

    async def broken() -> None:
        raise RuntimeError("always")

    task = sup.spawn("broken", broken)
    await asyncio.sleep(0.05)
    sup.close()
    await asyncio.wait_for(task, 2)  # not after the 30 s backoff
    assert sup.report()["broken"]["restarts"] == 1


async def test_a_crashed_collector_task_is_logged_counted_shown_and_restarted(
    mosquitto: Mosquitto,
    influxd: Influxd,
    fresh_db: str,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_point = collector_point
    faults = {"left": 0}

    def faulty_point(*args: Any) -> str:
        if faults["left"] > 0:
            faults["left"] -= 1
            raise RuntimeError("injected fault in the stats loop")
        return real_point(*args)

    monkeypatch.setattr(service, "collector_point", faulty_point)
    overrides = collector_overrides(
        mosquitto, influxd, fresh_db, prefix, tmp_path, stats_interval_s=0.2
    )
    async with running_collector(overrides) as collector:
        port = collector.http_port
        assert port is not None
        assert (await asyncio.to_thread(collector_http.health, port))["status"] == "ok"
        caplog.set_level(logging.ERROR, "collector.supervise")
        faults["left"] = 1
        await wait_until(lambda: collector.metrics.task_restarts_by.get("stats") == 1, 10)
        health = await asyncio.to_thread(collector_http.health, port)
        assert health["status"] == "failing"
        assert health["tasks"]["stats"] == {
            "restarts": 1,
            "last_error": "RuntimeError: injected fault in the stats loop",
            "failing": True,
        }
        assert any("task stats failed" in p for p in health["problems"])
        text = await asyncio.to_thread(collector_http.metrics, port)
        assert 'solarwater_task_restarts_total{task="stats"} 1' in text
        crash = [r for r in caplog.records if "task stats failed" in r.getMessage()]
        assert crash and crash[0].exc_info is not None, "logged with its traceback"
        # Restarted: the stats loop writes its points again, and readings still land.
        before = influxd.count("collector", fresh_db)
        await wait_until(lambda: influxd.count("collector", fresh_db) > before, 15)
        client = publisher(mosquitto)
        topic = f"{prefix}/PEMBA-01/solar/mppt1/telemetry"
        now = int(time.time())
        msgs = [(topic, f'{{"ts": {now - i}, "battery_soc_pct": 50}}'.encode()) for i in range(5)]
        await asyncio.to_thread(publish_all, client, msgs)
        client.loop_stop()
        await wait_until(lambda: influxd.count("solar", fresh_db) == 5, 15)
        assert collector.metrics.task_restarts_by == {"stats": 1}


async def test_a_crashed_spool_replay_restarts_and_the_spool_drains(
    mosquitto: Mosquitto,
    influxd: Influxd,
    fresh_db: str,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Readings spooled by an earlier run (InfluxDB was down then).
    now_ms = int(time.time() * 1000)
    lines = [
        f"solar,station=PEMBA-01,device=mppt1 battery_soc_pct=50 {now_ms - i}" for i in range(50)
    ]
    old = Spool(tmp_path / "spool", 1 << 20, 1 << 16)
    assert old.append(lines, 50)
    old.close()
    real_read = Spool.read_chunk
    faults = {"left": 1}

    def failing_read(self: Spool, max_lines: int) -> Chunk | None:
        if faults["left"] > 0:
            faults["left"] -= 1
            raise OSError(errno.EIO, "Input/output error")
        return real_read(self, max_lines)

    monkeypatch.setattr(Spool, "read_chunk", failing_read)
    overrides = collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path)
    async with running_collector(overrides) as collector:
        await wait_until(lambda: influxd.count("solar", fresh_db) == 50, 15)
        assert collector.metrics.task_restarts_by == {"spool-replay": 1}
        assert collector.supervisor.failing() == {
            "spool-replay": "OSError: [Errno 5] Input/output error"
        }
        await wait_until(lambda: collector.spool.empty, 10)
