"""Status parsing and the tracker's station-scope rule (a gateway's one Last Will), in memory."""

from __future__ import annotations

import pytest

from collector.ingest.status import Status, StatusError, StatusTracker, parse_status
from devices.topics import parse_topic

MPPT = parse_topic("solarwater/IBO-01/solar/mppt1/status")
TANK = parse_topic("solarwater/IBO-01/tank/tank1/status")
OTHER = parse_topic("solarwater/MUEDA-01/solar/mppt1/status")
ONLINE, OFFLINE, WILL = Status(True), Status(False), Status(False, station_scope=True)


def states(t: StatusTracker) -> dict[tuple[str, str], bool]:
    return dict(t.state)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"state":"online"}', ONLINE),
        (b'{"state":"offline"}', OFFLINE),
        (b'{"state":"offline","scope":"device"}', OFFLINE),
        (b'{"state":"offline","scope":"station"}', WILL),
    ],
)
def test_parse_accepts_the_contract(payload: bytes, expected: Status) -> None:
    assert parse_status(MPPT, payload, 1024) == expected


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (MPPT, b'{"state":"online","pad":"' + b"x" * 1024 + b'"}', "status_too_large"),
        (MPPT, b"\xff" * (10 << 20), "status_too_large"),  # refused before any parsing
        (parse_topic("solarwater/IBO-01/pump/p1/status"), b'{"state":"online"}', "unknown_kind"),
        (MPPT, b"not json", "bad_status"),
        (MPPT, b'{"state":"sleepy"}', "bad_status"),
        (MPPT, b'["online"]', "bad_status"),
        (MPPT, b'{"state":"offline","scope":"fleet"}', "bad_status"),
        (MPPT, b'{"state":"online","scope":"station"}', "bad_status"),
    ],
)
def test_parse_refuses_with_a_reason(topic: object, payload: bytes, reason: str) -> None:
    with pytest.raises(StatusError) as err:
        parse_status(topic, payload, 1024)  # type: ignore[arg-type]
    assert err.value.reason == reason


def test_the_will_marks_every_known_device_of_the_station_offline() -> None:
    t = StatusTracker()
    for topic in (MPPT, TANK, OTHER):
        assert len(t.update(topic, ONLINE, 1000)) == 1
    changes = t.update(MPPT, WILL, 2000)
    assert sorted((d, online) for d, online, _ in changes) == [("mppt1", False), ("tank1", False)]
    assert all(
        "station_status,device=" in line and "online=0i 2000" in line for *_, line in changes
    )
    assert states(t) == {
        ("IBO-01", "mppt1"): False, ("IBO-01", "tank1"): False, ("MUEDA-01", "mppt1"): True,
    }  # fmt: skip


@pytest.mark.parametrize("will_first", [True, False])
def test_retained_online_of_another_device_does_not_undo_the_will(will_first: bool) -> None:
    # on resubscribe the broker hands over both retained messages, in an order of its choosing
    t = StatusTracker()
    order = [(MPPT, WILL), (TANK, ONLINE)] if will_first else [(TANK, ONLINE), (MPPT, WILL)]
    for topic, status in order:
        t.update(topic, status, 1000)
    assert states(t) == {("IBO-01", "mppt1"): False, ("IBO-01", "tank1"): False}
    # the gateway is back: its first device's online clears the latch, then the others follow
    assert [(d, o) for d, o, _ in t.update(MPPT, ONLINE, 3000)] == [("mppt1", True)]
    assert [(d, o) for d, o, _ in t.update(TANK, ONLINE, 3001)] == [("tank1", True)]


def test_repeats_write_nothing_and_timestamps_rise() -> None:
    t = StatusTracker()
    assert t.update(MPPT, ONLINE, 1000)
    assert t.update(MPPT, ONLINE, 1000) == []
    ((_, _, line),) = t.update(MPPT, OFFLINE, 1000)
    assert line.endswith(" 1001")


def test_a_full_table_refuses_new_devices_but_serves_known_ones() -> None:
    t = StatusTracker(max_devices=2)
    t.update(MPPT, ONLINE, 1)
    t.update(TANK, ONLINE, 1)
    with pytest.raises(StatusError) as err:
        t.update(OTHER, ONLINE, 1)
    assert err.value.reason == "status_table_full"
    assert t.update(MPPT, OFFLINE, 2)
    assert ("MUEDA-01", "mppt1") not in t.state
