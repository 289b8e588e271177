"""The grouping and digest tables on their own: waits, intervals, bounds, and a restart."""

from __future__ import annotations

import orjson

from collector.alerts.digest import DigestBook, Entry
from collector.alerts.grouping import Grouper
from collector.alerts.messages import Messages
from collector.alerts.model import Notification
from collector.alerts.settings import AlertSettings
from devices.stations import load_fleet

MIN = 60_000
MESSAGES = Messages(AlertSettings(), load_fleet())


def note(station: str, event: str = "firing", rule: str = "station_silent") -> Notification:
    return Notification(
        event=event, alert_id=len(station), station=station, station_name=None,
        district="Pemba", device="", rule=rule, severity="warning", value=31.0,
        threshold="30 min", since_ms=0, ts_ms=0, duration_s=0.0, text=f"{station} {event}",
        sms=f"{station} {event}", route="pemba", phones=("+258841110001",),
    )  # fmt: skip


def grouper(max_held: int = 100) -> Grouper:
    return Grouper(["station_silent"], 2 * MIN, 5 * MIN, MESSAGES.group, max_held)


def test_a_group_waits_then_goes_as_one_and_the_next_waits_the_interval() -> None:
    g = grouper()
    assert not g.wants(note("PEMBA-01", rule="battery_low"))
    assert g.hold("sms", note("PEMBA-01"), 0) and g.hold("sms", note("PEMBA-02"), MIN)
    assert g.due(2 * MIN - 1) == []
    [(name, n)] = g.due(2 * MIN)
    assert name == "sms" and n.stations == ("PEMBA-01", "PEMBA-02") and n.station == ""
    assert n.text.startswith("AVISO Estação sem dados: 2 estações (pemba)")
    assert g.merged == 2 and g.held == 0
    # a latecomer of the same group waits for group_interval after the first send
    g.hold("sms", note("METUGE-01"), 3 * MIN)
    assert g.due(6 * MIN) == []
    [(_, alone)] = g.due(7 * MIN)
    assert alone == note("METUGE-01")  # a group of one is the plain notification


def test_full_groups_send_at_once_and_held_groups_survive_a_restart() -> None:
    g = grouper(max_held=1)
    assert g.hold("sms", note("PEMBA-01"), 0)
    assert not g.hold("sms", note("PEMBA-02"), 0) and g.full == 1
    again = grouper()
    again.restore(orjson.loads(orjson.dumps(g.snapshot())))
    assert again.held == 1 and again.due(2 * MIN) == [("sms", note("PEMBA-01"))]


def test_a_digest_collects_while_silent_and_closes_after_the_return() -> None:
    book = DigestBook(2 * MIN, max_stations=1, max_entries=1)
    entry = Entry("mppt1", "battery_low", "warning", 0, 60 * MIN)
    assert not book.add("PEMBA-01", entry)  # not silent: nothing to collect
    book.silent("PEMBA-01")
    book.silent("PEMBA-02")
    assert book.refused == 1
    assert book.add("PEMBA-01", entry) and book.add("PEMBA-01", entry)
    assert book.due(10**9) == []  # still silent
    book.back("PEMBA-01", 100 * MIN)
    restored = DigestBook(2 * MIN, 1, 1)
    restored.restore(orjson.loads(orjson.dumps(book.snapshot())))
    assert restored.due(102 * MIN - 1) == []
    [(station, d)] = restored.due(102 * MIN)
    assert station == "PEMBA-01" and d.entries == [entry] and d.more == 1
    assert MESSAGES.digest(station, d, 0).endswith("Bateria fraca 02:00-03:00 (mppt1); +1")
