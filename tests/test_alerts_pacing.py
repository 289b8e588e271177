"""Paging limits on the AlertService: flap damping, the page budget, fair queues, alert caps.

The harness of test_alerts_service (a fake wall clock, the real evaluation loop, a real
webhook receiver); the fake clock moves the page interval and the budget window by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from collector.alerts import AlertSettings
from collector.alerts.dispatch import Dispatcher
from collector.alerts.messages import Messages
from collector.alerts.model import Notification
from collector.alerts.notifiers.webhook import WebhookNotifier
from collector.alerts.settings import WebhookSettings
from collector.ingest.readings import Reading
from devices.stations import load_fleet
from tests.alert_support import Hook
from tests.test_alerts_service import (  # noqa: F401  (fixtures, used by name)
    NO_SILENCE,
    T0,
    TICK,
    Harness,
    make,
    mqtt_watch,
    wait_for,
)

FLEET = load_fleet()


def fault(station: str, device: str, ts: int, code: int = 17) -> Reading:
    return Reading(station, FLEET.district_of(station), "solar", device, ts, None,
                   {"error_code": code})  # fmt: skip


def transitions(h: Harness) -> float:
    stats = h.svc.stats()
    return stats["alerts_fired"] + stats["alerts_resolved"]


async def step(h: Harness, readings: list[Reading], wall_s: float = 1.0) -> None:
    """Feed readings (one transition), wait until it is applied, move the wall clock."""
    before = transitions(h)
    h.feed(readings)
    await wait_for(lambda: transitions(h) > before, 3)
    await asyncio.sleep(TICK * 2)  # and its notifications decided
    h.clock.t += wall_s


async def test_flapping_controller_pages_once_each_way(
    make: Callable[..., Any],  # noqa: F811
    hook: Hook,
) -> None:
    h: Harness = await make(min_page_interval="5m", rules=NO_SILENCE)  # the default interval
    # 30 s: fault at even seconds, healthy at odd ones (15 transitions each way)
    for k in range(30):
        await step(h, [fault("PEMBA-01", "mppt1", T0 + k * 1000, 17 if k % 2 == 0 else 0)])
    await h.settle()
    assert [p["event"] for p in hook.posts] == ["firing"]
    assert h.svc.stats()["alerts_fired"] == 15 and h.svc.stats()["alerts_resolved"] == 15
    assert h.svc.stats()["notifications_damped"] == 14
    lines = [ln for ln in h.lines if "PEMBA-01" in ln]
    assert len(lines) == 30  # every transition is an alert point

    h.clock.t += 300  # the interval ends: the newest state (healthy) differs from "firing"
    await h.settle()
    assert [p["event"] for p in hook.posts] == ["firing", "resolved"]
    assert hook.posts[1]["alert_id"] == hook.posts[0]["alert_id"]

    # flapping again, ending in a fault: held, then paged once the interval ends
    for k in range(30, 61):
        await step(h, [fault("PEMBA-01", "mppt1", T0 + k * 1000, 17 if k % 2 == 0 else 0)])
    await h.settle()
    assert len(hook.posts) == 2
    h.clock.t += 300
    await h.settle()
    assert [p["event"] for p in hook.posts] == ["firing", "resolved", "firing"]
    h.clock.t += 300  # still faulty: nothing more to say
    await h.settle()
    assert len(hook.posts) == 3


async def test_fault_then_back_inside_the_interval_is_not_paged_twice(
    make: Callable[..., Any],  # noqa: F811
    hook: Hook,
) -> None:
    h: Harness = await make(min_page_interval="5m", rules=NO_SILENCE)
    await step(h, [fault("MONTEPUEZ-01", "mppt1", T0)])
    await wait_for(lambda: len(hook.posts) == 1, 3)
    # healthy, then faulty again, all inside the interval: the technician's picture holds
    await step(h, [fault("MONTEPUEZ-01", "mppt1", T0 + 1000, 0)])
    await step(h, [fault("MONTEPUEZ-01", "mppt1", T0 + 2000, 17)])
    h.clock.t += 300
    await h.settle()
    assert [p["event"] for p in hook.posts] == ["firing"]
    # the still-active alert is the one whose end is paged
    await step(h, [fault("MONTEPUEZ-01", "mppt1", T0 + 3000, 0)])
    await wait_for(lambda: len(hook.posts) == 2, 3)
    assert hook.posts[1]["event"] == "resolved"
    assert hook.posts[1]["alert_id"] == h.svc.stats()["alerts_fired"]  # ids count from 1


async def test_over_the_budget_is_dropped_counted_and_announced_once(
    make: Callable[..., Any],  # noqa: F811
    hook: Hook,
) -> None:
    h: Harness = await make(language="en", min_page_interval=0, page_budget=3, rules=NO_SILENCE)
    for i in range(6):  # the montepuez route pages through the webhook only
        h.feed([fault("MONTEPUEZ-01", f"dev{i}", T0 + i * 1000)])
    await h.settle()
    assert [p["event"] for p in hook.posts] == ["firing"] * 3 + ["budget"]
    notice = hook.posts[3]
    assert notice["sms"] == (
        "Notification budget exceeded for MONTEPUEZ-01: 3 alerts not paged (max 3 per 1 h)"
    )
    assert notice["route"] == "montepuez" and notice["phones"] == ["+258842220000"]
    paged = {p["device"] for p in hook.posts[:3]}

    for i in range(6, 8):  # more over the budget: counted, not announced again
        h.feed([fault("MONTEPUEZ-01", f"dev{i}", T0 + i * 1000)])
    await h.settle()
    assert len(hook.posts) == 4
    assert h.svc.stats()["notifications_over_budget"] == 5
    assert h.svc.budget.over == {"MONTEPUEZ-01": 5}
    assert 'over_budget_total{station="MONTEPUEZ-01"} 5' in h.svc.prometheus()

    # an end is paged when its start was (it closes what the technician heard), else not
    unpaged = next(f"dev{i}" for i in range(8) if f"dev{i}" not in paged)
    for dev in (sorted(paged)[0], unpaged):
        h.feed([fault("MONTEPUEZ-01", dev, T0 + 20_000, 0)])
    await h.settle()
    assert [(p["event"], p["device"]) for p in hook.posts[4:]] == [("resolved", sorted(paged)[0])]

    # a new window: the dropped ones come back as reminders, up to the budget, one notice
    hook.posts.clear()
    h.clock.t += 3600
    await h.settle()
    assert [p["event"] for p in hook.posts] == ["reminder"] * 3 + ["budget"]
    assert h.svc.stats()["notification_budget_announcements"] == 2


async def test_a_station_holds_a_bounded_number_of_alerts(
    make: Callable[..., Any],  # noqa: F811
    hook: Hook,
) -> None:
    h: Harness = await make(min_page_interval=0, max_alerts_per_station=4, page_budget=100)
    h.feed([fault("MONTEPUEZ-01", f"dev{i}", T0 + i) for i in range(7)])
    await h.settle()
    stats = h.svc.stats()
    assert stats["alerts_active"] == 4 and stats["alerts_refused_station_full"] == 3
    assert len(hook.posts) == 4 and len(h.lines) == 4
    # another station is not held to the first one's count
    h.feed([fault("PEMBA-01", "mppt1", T0)])
    await wait_for(lambda: h.svc.stats()["alerts_active"] == 5, 3)
    # a freed place is taken again (by a new fault: a refused one fires again once it clears)
    h.feed([fault("MONTEPUEZ-01", "dev0", T0 + 1000, 0), fault("MONTEPUEZ-01", "dev9", T0)])
    await h.settle()
    stats = h.svc.stats()
    assert stats["alerts_active"] == 5 and stats["alerts_refused_station_full"] == 3


async def test_a_station_is_evaluated_for_a_bounded_number_of_devices(
    make: Callable[..., Any],  # noqa: F811
    hook: Hook,
) -> None:
    h: Harness = await make(min_page_interval=0, max_devices_per_station=3)
    h.feed([fault("MONTEPUEZ-01", f"dev{i}", T0) for i in range(5)])
    h.feed([fault("MONTEPUEZ-01", f"dev{i}", T0 + 1000) for i in range(5)])
    await h.settle()
    stats = h.svc.stats()
    assert stats["alerts_active"] == 3 and stats["alert_devices_refused"] == 4
    assert sorted(p["device"] for p in hook.posts) == ["dev0", "dev1", "dev2"]
    h.feed([fault("PEMBA-01", "dev9", T0)])  # the cap is per station
    await wait_for(lambda: h.svc.stats()["alerts_active"] == 4, 3)


def _notification(station: str, i: int) -> Notification:
    return Notification(
        event="firing", alert_id=i, station=station, station_name=None, district=None,
        device=f"dev{i}", rule="controller_fault", severity="critical", value=17.0,
        threshold="!= 0", since_ms=T0, ts_ms=T0, duration_s=0.0, text="x", sms="x",
        route="fallback",
    )  # fmt: skip


async def test_station_queues_take_turns_on_a_slow_gateway(hook: Hook) -> None:
    hook.delay_s = 0.05
    sms = WebhookNotifier("sms", WebhookSettings(type="webhook", url=hook.url))
    done: list[int] = []

    async def delivered(job_id: int) -> None:
        done.append(job_id)

    d = Dispatcher({"sms": sms}, {"sms": sms.settings}, 100, delivered, station_queue_size=20)
    accepted = [d.submit("sms", i, _notification("PEMBA-01", i)) for i in range(25)]
    assert accepted == [True] * 20 + [False] * 5
    assert d.dropped == 5 and d.station_full == 5
    assert d.submit("sms", 1000, _notification("MONTEPUEZ-01", 1000))
    d.start()
    await wait_for(lambda: 1000 in done, 5)
    # the other station waits for one page of the flood, not twenty
    assert done.index(1000) <= 1
    await wait_for(lambda: len(done) == 21, 5)
    await d.stop(1.0)
    stations = [p["station"] for p in hook.posts]
    assert stations.index("MONTEPUEZ-01") <= 1 and len(stations) == 21


def test_a_full_notifier_queue_bounds_the_stations_it_holds() -> None:
    sms = WebhookNotifier("sms", WebhookSettings(type="webhook", url="http://127.0.0.1:9/"))

    async def delivered(job_id: int) -> None:
        return None

    d = Dispatcher({"sms": sms}, {"sms": sms.settings}, 5, delivered, station_queue_size=2)
    accepted = [d.submit("sms", i, _notification(f"S{i}", i)) for i in range(8)]
    assert accepted == [True] * 5 + [False] * 3
    assert d.queues["sms"].stations() == 5 and d.dropped == 3 and d.station_full == 0


@pytest.mark.parametrize("language", ["pt", "en"])
def test_budget_notice_fits_one_sms_for_the_longest_station_id(language: str) -> None:
    settings = AlertSettings.model_validate({"language": language, "page_budget": 99999})
    m = Messages(settings, FLEET)
    station = "S" * 64
    text = m.budget(station, 123456, 99999)
    assert station in text and "123456" in text and len(m.sms(text)) <= 160


def test_budget_window_must_be_positive() -> None:
    with pytest.raises(pydantic.ValidationError, match="page_budget_window"):
        AlertSettings.model_validate({"page_budget_window": 0})
