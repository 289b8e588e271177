"""The weekly completeness digest: per route, its stations' share of readings received.

One notification per route and notifier, once per local week (sent when fleet time passes
Monday 00:00), worst station first: technicians see which links need a visit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from collector.alerts.model import Notification
from collector.alerts.settings import AlertSettings
from collector.alerts.templates import sms_text
from collector.insight.completeness import DayCompleteness
from devices.stations import Fleet

DIGEST_RULE = "completeness_digest"
TEXTS = {
    "pt": "Dados recebidos na semana de {start} a {end}: {items}",
    "en": "Data received in the week {start} to {end}: {items}",
}


@dataclass(frozen=True, slots=True)
class RouteStations:
    route: str
    notifiers: tuple[str, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    stations: tuple[str, ...]


def route_stations(settings: AlertSettings, fleet: Fleet) -> list[RouteStations]:
    """Each route with the stations it hears of; the fallback takes the ones no route names."""
    out = []
    named: set[str] = set()
    for r in settings.routes:
        ids = tuple(s.id for s in fleet.stations if s.id in r.stations or s.district in r.districts)
        named.update(ids)
        out.append(
            RouteStations(r.name, r.notifiers, r.recipients.emails, r.recipients.phones, ids)
        )
    fb = settings.fallback
    rest = tuple(s.id for s in fleet.stations if s.id not in named)
    if fb.notifiers and rest:
        out.append(
            RouteStations(
                "fallback", fb.notifiers, fb.recipients.emails, fb.recipients.phones, rest
            )
        )
    return out


def week_of(monday: date) -> list[date]:
    return [monday + timedelta(days=i) for i in range(7)]


def digest_text(
    lang: str,
    monday: date,
    days: Mapping[str, Mapping[date, DayCompleteness]],
    ids: tuple[str, ...],
) -> str:
    """`PEMBA-02 71%, PEMBA-01 99%`: each station's share over the week, worst first."""
    shares = []
    for sid in ids:
        week = [days.get(sid, {}).get(d) for d in week_of(monday)]
        expected = sum(c.expected for c in week if c is not None)
        received = sum(c.received for c in week if c is not None)
        pct = 100.0 * received / expected if expected else 0.0
        shares.append((pct, sid))
    items = ", ".join(f"{sid} {pct:.0f}%" for pct, sid in sorted(shares))
    end = monday + timedelta(days=6)
    return TEXTS.get(lang, TEXTS["en"]).format(
        start=monday.isoformat(), end=end.isoformat(), items=items or "-"
    )


def digests(
    settings: AlertSettings,
    fleet: Fleet,
    monday: date,
    days: Mapping[str, Mapping[date, DayCompleteness]],
    tz: tzinfo,
) -> list[tuple[str, Notification]]:
    """(notifier, notification) for every route of the week starting `monday`."""
    week_end = datetime(monday.year, monday.month, monday.day, tzinfo=tz) + timedelta(days=7)
    since = week_end - timedelta(days=7)
    out = []
    for r in route_stations(settings, fleet):
        if not r.stations:
            continue
        text = digest_text(settings.language, monday, days, r.stations)
        for name in r.notifiers:
            n = Notification(
                event="digest", alert_id=0, station="", station_name=None, district=None,
                device="", rule=DIGEST_RULE, severity="warning", value=0.0, threshold="",
                since_ms=int(since.timestamp() * 1000), ts_ms=int(week_end.timestamp() * 1000),
                duration_s=7 * 86400.0, text=text, sms=sms_text(text), route=r.route,
                emails=r.emails, phones=r.phones,
            )  # fmt: skip
            out.append((name, n))
    return out
