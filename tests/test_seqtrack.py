"""A seq restarting near zero is a reboot after a gap or a return online; otherwise a duplicate."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from collector.config import load_settings
from collector.ingest.pipeline import Ingest
from collector.ingest.quarantine import Quarantine
from collector.ingest.seqtrack import RESET_GAP_MS, SeqTracker
from collector.metrics import Metrics
from devices.stations import load_fleet

T0 = 1_790_000_000_000


def test_restart_after_a_gap_is_a_reboot_and_rebases() -> None:
    seq = SeqTracker()
    for i in range(95, 101):
        seq.observe_message("S", "d", [i], T0 + i * 1000, T0 + i * 1000)
    later = T0 + 100_000 + RESET_GAP_MS
    assert seq.observe_message("S", "d", [5], later, later) == (0, 0, 1)
    assert seq.observe_message("S", "d", [6, 7], later + 1000, later + 1000) == (0, 0, 0)
    row = seq.report()[0]
    assert (row["last_seq"], row["duplicates"], row["gaps"], row["seq_resets"]) == (7, 0, 0, 1)


def test_a_low_seq_without_a_gap_or_with_an_old_time_is_a_duplicate() -> None:
    seq = SeqTracker()
    seq.observe_message("S", "d", [3, 4, 100], T0, T0)
    # at once: a duplicate, as in a redelivery
    assert seq.observe_message("S", "d", [5], T0 + 1000, T0 + 1000) == (1, 0, 0)
    # after a gap, but its device time is no newer: a message redelivered late
    assert seq.observe_message("S", "d", [4], T0 + 10 * RESET_GAP_MS, T0) == (1, 0, 0)
    # close to the last one, or far from zero: not a restart either
    late = T0 + 20 * RESET_GAP_MS
    assert seq.observe_message("S", "d", [99], late, late) == (1, 0, 0)
    assert seq.report()[0]["last_seq"] == 100


def test_restart_after_the_device_came_back_online() -> None:
    seq = SeqTracker()
    seq.observe_message("S", "d", [100], T0, T0)
    seq.online("S", "d")
    assert seq.observe_message("S", "d", [0], T0 + 1000, T0 + 1000) == (0, 0, 1)
    assert seq.observe_message("S", "d", [0], T0 + 2000, T0 + 2000) == (1, 0, 0)
    assert seq.report()[0]["seq_resets"] == 1


async def test_the_ingest_counts_a_reboot_announced_by_status(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path, 1 << 20, 100, 2048)
    quarantine.start()
    ingest = Ingest(load_settings(None, {"mqtt.prefix": "sw"}), load_fleet(), Metrics(), quarantine)
    base = "sw/PEMBA-01/solar/mppt1"
    now = int(time.time() * 1000)

    def telemetry(seq: int, at: int) -> None:
        payload = orjson.dumps({"ts": at / 1000, "seq": seq, "battery_soc_pct": 70.0})
        assert len(ingest.handle(f"{base}/telemetry", payload, at, at).readings) == 1

    telemetry(100, now - 3000)
    for state, at in (("offline", now - 2000), ("online", now - 1000)):
        ingest.handle(f"{base}/status", orjson.dumps({"state": state}), at, at)
    telemetry(0, now)
    telemetry(0, now + 1)  # the same seq again right after: a duplicate
    counters = ingest.metrics.counters
    assert (counters["seq_resets"], counters["seq_duplicates"]) == (1, 1)
    await quarantine.stop()
