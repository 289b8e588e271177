"""Alert texts from alerts and transitions, in the configured language and timezone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from collector.alerts.digest import StationDigest
from collector.alerts.durations import format_duration
from collector.alerts.model import Alert, Notification, Transition
from collector.alerts.rules import RuleSettings
from collector.alerts.settings import AlertSettings
from collector.alerts.templates import (
    LANGUAGES,
    SMS_MAX,
    label,
    number,
    render,
    sms_text,
    to_gsm7,
)
from devices.stations import Fleet


class Messages:
    """Renders the firing/reminder/resolved texts (full) and their SMS form."""

    def __init__(self, settings: AlertSettings, fleet: Fleet) -> None:
        self.lang_code = settings.language
        self.lang = LANGUAGES[settings.language]
        self.overrides = settings.templates
        self.tz = ZoneInfo(settings.timezone)
        self.rules: dict[str, RuleSettings] = settings.rules
        self.fleet = fleet
        self.window_s = settings.page_budget_window

    def title(self, rule: str) -> str:
        rs = self.rules.get(rule)
        if rs is not None and self.lang_code in rs.title:
            return rs.title[self.lang_code]
        return self.lang.titles.get(rule, rule.replace("_", " "))

    def describe(self, t: Transition) -> tuple[str, str]:
        """(detail, threshold) for a transition: 'SoC 45% (< 50%)', '< 50'."""
        if t.witness is None:  # silence
            limit = format_duration(t.rule.for_ms / 1000)
            if t.state == "firing":
                detail = self.lang.silent_detail.format(limit=limit)
                why = self.lang.causes.get(t.cause or "")
                return (f"{detail}; {why}" if why else detail), limit
            return self.lang.back_detail, limit
        w = t.witness
        name, unit = label(self.lang, w.field, t.rule.kind)
        lit = w.literal
        threshold = f"{w.op} {lit if isinstance(lit, str) else number(self.lang, lit)}"
        observed = "?" if t.observed is None else number(self.lang, t.observed)
        if isinstance(lit, str):
            return f"{name} {observed}", threshold
        return f"{name} {observed}{unit} ({threshold}{unit})", threshold

    def local(self, ts_ms: int, ref_ms: int) -> str:
        at = datetime.fromtimestamp(ts_ms / 1000, self.tz)
        ref = datetime.fromtimestamp(ref_ms / 1000, self.tz)
        return at.strftime("%H:%M") if at.date() == ref.date() else at.strftime("%d/%m %H:%M")

    def text(self, event: str, a: Alert, duration_s: float, ref_ms: int) -> str:
        """The full text of one notification (accents kept)."""
        station = self.fleet.get(a.station)
        ctx = {
            "severity": self.lang.severity.get(a.severity, a.severity.upper()),
            "title": self.title(a.rule),
            "rule": a.rule,
            "station": a.station,
            "station_name": station.name if station else a.station,
            "district": a.district or "?",
            "device": a.device,
            "detail": a.resolved_detail if event == "resolved" else a.detail,
            "value": number(self.lang, a.resolved_value if event == "resolved" and
                            a.resolved_value is not None else a.value),
            "threshold": a.threshold,
            "duration": format_duration(duration_s),
            "since": self.local(a.since_ms, ref_ms),
            "id": str(a.id),
        }  # fmt: skip
        return render(self.lang, self.overrides, event, ctx)

    def budget(self, station: str, dropped: int, pages: int) -> str:
        """The notice that `dropped` of a station's alerts went over its page budget."""
        window = format_duration(self.window_s)
        text = self.lang.budget.format(station=station, count=dropped, budget=pages, window=window)
        return text if len(to_gsm7(text)) <= SMS_MAX else text[: text.rindex(" (")]

    def group(self, items: list[Notification]) -> Notification:
        """One notification standing for several stations' notifications of one rule and event."""
        first = items[0]
        stations = tuple(dict.fromkeys(n.station for n in items))
        districts = {n.district for n in items}
        text = self.lang.group[first.event].format(
            severity=self.lang.severity.get(first.severity, first.severity.upper()),
            title=self.title(first.rule),
            count=len(stations),
            route=first.route,
            stations=", ".join(stations),
        )
        if first.event == "digest":  # each station's own lines follow the list
            text = " | ".join([text, *(n.text for n in items)])
        return Notification(
            event=first.event, alert_id=0, station="", station_name=None,
            district=districts.pop() if len(districts) == 1 else None, device="",
            rule=first.rule, severity=first.severity, value=float(len(stations)),
            threshold=first.threshold, since_ms=min(n.since_ms for n in items),
            ts_ms=max(n.ts_ms for n in items), duration_s=max(n.duration_s for n in items),
            text=text, sms=self.sms(text), route=first.route, emails=first.emails,
            phones=first.phones, stations=stations, alert_ids=tuple(n.alert_id for n in items),
        )  # fmt: skip

    def digest(self, station: str, d: StationDigest, ref_ms: int) -> str:
        """The digest text: each alert that came and went, with its hours."""
        items = [
            f"{self.title(e.rule)} {self.local(e.since_ms, ref_ms)}"
            f"-{self.local(e.cleared_ms, ref_ms)}" + (f" ({e.device})" if e.device else "")
            for e in d.entries
        ]
        if d.more:
            items.append(f"+{d.more}")
        return self.lang.digest.format(station=station, items="; ".join(items))

    @staticmethod
    def sms(text: str, link: str = "") -> str:
        return sms_text(text, f" {link}" if link else "")
