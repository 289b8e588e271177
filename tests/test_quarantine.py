"""The quarantine: one bounded entry per message, and a disk error counted, never fatal."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import orjson
import pytest

from collector.ingest import quarantine as quarantine_mod
from collector.ingest.quarantine import MAX_REJECTS_PER_ENTRY, Quarantine
from collector.private_files import open_private


def bad_message(n: int) -> bytes:
    """A 1,000-reading backlog of out-of-range readings (~55 bytes each)."""
    items = [{"ts": 1_750_000_000 + i, "battery_soc_pct": 900.0 + i} for i in range(n)]
    return orjson.dumps({"readings": items})


async def test_a_message_of_1000_bad_readings_is_one_entry(tmp_path: Path) -> None:
    q = Quarantine(tmp_path, 1 << 20, 100, 2048)
    q.start()
    payload = bad_message(1000)
    assert len(payload) > 40_000
    for i in range(1000):  # as the collector calls it: once per rejected reading
        q.add("out_of_range", f"battery_soc_pct {900 + i} > 100", "sw/S/solar/m/telemetry",
              payload, 1, i)  # fmt: skip
    q.add("malformed_json", "not JSON", "sw/S/solar/m/telemetry", b"{", 2, -1)
    await q.stop()
    lines = q.path.read_bytes().splitlines()
    assert len(lines) == 2
    # About one entry's worth: the excerpt plus a capped list, not 1,000 copies of it.
    assert len(lines[0]) < 2048 + 3000, len(lines[0])
    entry = orjson.loads(lines[0])
    assert entry["rejected"] == 1000 and len(entry["rejects"]) == MAX_REJECTS_PER_ENTRY
    assert entry["rejects"][3] == {
        "index": 3, "reason": "out_of_range", "detail": "battery_soc_pct 903 > 100",
    }  # fmt: skip
    assert q.total == 1001
    # The API still lists each listed rejection with its reason, newest message first.
    shown = q.query(100)
    assert shown[0]["reason"] == "malformed_json" and shown[0]["index"] == -1
    assert [e["index"] for e in shown[1:]] == list(range(MAX_REJECTS_PER_ENTRY))
    assert all(e["rejected"] == 1000 and "rejects" not in e for e in shown[1:])
    assert [e["index"] for e in q.query(5, "out_of_range")] == [0, 1, 2, 3, 4]


async def test_separate_messages_are_separate_entries(tmp_path: Path) -> None:
    q = Quarantine(tmp_path, 1 << 20, 100, 256)
    q.start()
    for m in range(3):
        payload = bad_message(2)  # a new object per message, even with equal bytes
        for i in range(2):
            q.add("out_of_range", "x", "t", payload, m, i)
        await asyncio.sleep(0)
    await q.stop()
    assert [e["received_ms"] for e in map(orjson.loads, q.path.read_bytes().splitlines())] == [
        0, 1, 2,
    ]  # fmt: skip


async def test_a_write_error_is_counted_and_nothing_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quarantine_mod, "RETRY_S", 0.05)
    errors: list[int] = []
    q = Quarantine(tmp_path, 1 << 20, 100, 256, on_write_error=lambda: errors.append(1))
    q.start()
    real_open = open_private

    def full(path: Path, flags: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(quarantine_mod, "open_private", full)
    q.add("malformed_json", "not JSON", "t", b"{", 1, -1)
    for _ in range(100):
        if errors:
            break
        await asyncio.sleep(0.01)
    assert errors == [1] and q.write_errors == 1
    assert "No space left" in q.last_error
    assert q._task is not None and not q._task.done(), "the writer is still running"
    assert q.query(10)[0]["reason"] == "malformed_json", "kept in memory for the API"
    monkeypatch.setattr(quarantine_mod, "open_private", real_open)
    # Space is back: what the disk refused is written on the next retry, without new input.
    for _ in range(100):
        if q.path.exists() and not q.last_error:
            break
        await asyncio.sleep(0.02)
    assert q.last_error == "" and len(q.path.read_bytes().splitlines()) == 1
    q.add("malformed_json", "again", "t", b"{{", 2, -1)
    await q.stop()  # no exception
    details = [orjson.loads(line)["detail"] for line in q.path.read_bytes().splitlines()]
    assert details == ["not JSON", "again"]
