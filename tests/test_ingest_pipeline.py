"""The ingest entry: a message in; lines to write, readings for alerts, refusals recorded."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.config import load_settings
from collector.ingest.pipeline import Ingest
from collector.ingest.quarantine import Quarantine
from collector.metrics import Metrics
from devices.stations import load_fleet

PREFIX = "solarwater"
SOLAR = f"{PREFIX}/PEMBA-01/solar/mppt1/telemetry"


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[Ingest]:
    quarantine = Quarantine(tmp_path, 1 << 20, 100, 2048)
    quarantine.start()
    settings = load_settings(None, {"mqtt.prefix": PREFIX})
    yield Ingest(settings, load_fleet(), Metrics(), quarantine)
    await quarantine.stop()


def _msg(ts: float, **fields: Any) -> bytes:
    return orjson.dumps({"ts": ts, **fields})


def test_a_valid_reading_gives_its_line_and_the_reading(ingest: Ingest) -> None:
    now = time.time()
    out = ingest.handle(
        SOLAR, _msg(now - 5, seq=1, battery_soc_pct=71.5), int(now * 1000), int(now * 1000)
    )
    assert not out.refused
    assert len(out.readings) == 1 and out.readings[0].fields["battery_soc_pct"] == 71.5
    assert len(out.lines) == 1 and out.lines[0].startswith("solar,")
    assert "battery_soc_pct=71.5" in out.lines[0]
    assert ingest.metrics.counters["readings_received"] == 1
    assert ingest.stations_seen == {"PEMBA-01"}


def test_refusals_are_counted_and_quarantined_and_leave_nothing_to_write(ingest: Ingest) -> None:
    now_ms = int(time.time() * 1000)
    cases = [
        (SOLAR, b"{not json", "malformed_json"),
        (f"{PREFIX}/PEMBA-01/pump/p1/telemetry", b"{}", "unknown_kind"),
        ("elsewhere/PEMBA-01/solar/mppt1/telemetry", b"{}", None),
    ]
    for topic, payload, reason in cases:
        out = ingest.handle(topic, payload, now_ms, now_ms)
        assert out.refused and out.lines == [] and out.readings == [], topic
        if reason is not None:
            assert ingest.metrics.rejected_by_reason()[reason] == 1
    assert ingest.quarantine.total == 3
    assert ingest.metrics.counters["messages_received"] == 3


def test_the_outcome_is_reset_between_messages(ingest: Ingest) -> None:
    now = time.time()
    first = ingest.handle(
        SOLAR, _msg(now - 5, battery_soc_pct=70.0), int(now * 1000), int(now * 1000)
    )
    assert first.lines
    second = ingest.handle(SOLAR, b"[", int(now * 1000), int(now * 1000))
    assert second is first  # refilled, not allocated
    assert second.refused and second.lines == [] and second.readings == []


def test_a_status_message_gives_its_change(ingest: Ingest) -> None:
    topic = f"{PREFIX}/PEMBA-01/solar/mppt1/status"
    out = ingest.handle(topic, b'{"state":"online"}', 1_700_000_000_000, 1_700_000_000_000)
    assert not out.refused and out.readings == []
    assert out.station == "PEMBA-01"
    assert [(d, online) for d, online, _ in out.status] == [("mppt1", True)]
    assert len(out.lines) == 1 and out.lines[0].startswith("station_status,")


def test_a_bug_costs_one_message_as_internal_error(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise KeyError("injected")

    monkeypatch.setattr(ingest.decoder, "decode", broken)
    now = time.time()
    out = ingest.handle(SOLAR, _msg(now, battery_soc_pct=70.0), int(now * 1000), int(now * 1000))
    assert out.refused and out.lines == [] and out.readings == []
    assert ingest.metrics.rejected_by_reason()["internal_error"] == 1
    (entry,) = ingest.quarantine.query(10, "internal_error")
    assert "KeyError" in entry["detail"]
