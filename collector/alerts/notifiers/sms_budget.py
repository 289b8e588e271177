"""A per-station SMS budget per day, on the page budget's mechanism; what goes over is summed up.

The window is the page budget's: 24 h from a station's first SMS. SMS over the budget are
held back (counted); when the window ends, one summary SMS says how many and of which rules.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from collector.alerts.model import Notification
from collector.alerts.notifiers.base import DeliveryError
from collector.alerts.pacing import PageBudget, StationTable
from collector.alerts.templates import sms_text

log = logging.getLogger("collector.alerts")
DAY_MS = 86_400_000
RULE = "sms_budget"  # the rule name a summary carries
MAX_RULES = 8  # rule names listed in one summary; more are counted, not named
MAX_PHONES = 20  # recipients one summary goes to
MAX_HELD_IDS = 10_000  # alerts whose SMS was held, so their resolution is held too
MAX_ADMITTED = 1000  # SMS let through whose delivery failed: a retry takes no second slot

TEXTS = {
    "pt": "SolarWater: {count} SMS de {station} retidos (limite {budget}/dia): {rules}",
    "en": "SolarWater: {count} SMS for {station} held back (limit {budget}/day): {rules}",
}


class SmsBudgetSettings(BaseModel):
    """The budget fields every SMS notifier has (`daily_budget` unset: no budget)."""

    daily_budget: int | None = Field(
        None, ge=1, le=10_000, description="SMS per station per 24 h; over it, one summary"
    )
    budget_stations: int = Field(
        1000, ge=1, le=1_000_000, description="stations the SMS budget tracks (bounded)"
    )


@dataclass(slots=True)
class Held:
    """What one station's window held back, for its summary."""

    first: Notification
    count: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    phones: list[str] = field(default_factory=list)


class SmsBudget:
    """`take` says whether an SMS goes out; `due` gives the summaries of windows that ended."""

    def __init__(self, per_day: int, max_stations: int, language: str, window_ms: int = DAY_MS):
        # every station counts against the bound: a notifier does not know the fleet
        self.budget = PageBudget(per_day, window_ms, StationTable(lambda _: False, max_stations))
        self.window_ms = window_ms
        self.template = TEXTS.get(language, TEXTS["en"])
        self.held: dict[str, Held] = {}
        self.held_ids: set[int] = set()
        self.over = 0  # SMS held back
        self.summaries = 0

    def take(self, n: Notification, now_ms: int) -> bool:
        """True: send `n` now; False: held back and noted for the station's summary."""
        if n.event == "resolved":
            if n.alert_id not in self.held_ids:
                return True  # closes what the technician was sent: never held
            self.held_ids.discard(n.alert_id)
            self._hold(n)
            return False
        if self.budget.take(n.station, now_ms):
            self.held_ids.discard(n.alert_id)  # sent after all (a reminder): so is its end
            return True
        if n.event == "firing" and len(self.held_ids) < MAX_HELD_IDS:
            self.held_ids.add(n.alert_id)
        self._hold(n)
        return False

    def _hold(self, n: Notification) -> None:
        self.over += 1
        h = self.held.get(n.station)
        if h is None:
            if len(self.held) >= self.budget.table.max_other:
                return  # counted in `over`; no room to name it in a summary
            h = self.held[n.station] = Held(n)
        h.count += 1
        if n.rule in h.rules or len(h.rules) < MAX_RULES:
            h.rules[n.rule] = h.rules.get(n.rule, 0) + 1
        for p in n.phones:
            if p not in h.phones and len(h.phones) < MAX_PHONES:
                h.phones.append(p)

    def due(self, now_ms: int) -> list[Notification]:
        """One summary per station whose window with held SMS has ended."""
        out = []
        for station, h in list(self.held.items()):
            w = self.budget.table.get(station)
            if w is not None and now_ms - w.start_ms < self.window_ms:
                continue
            del self.held[station]
            out.append(self._summary(h, now_ms))
        return out

    def _summary(self, h: Held, now_ms: int) -> Notification:
        self.summaries += 1
        named = sum(h.rules.values())
        rules = ", ".join(f"{r} x{c}" if c > 1 else r for r, c in h.rules.items())
        if named < h.count:
            rules += f" +{h.count - named}"
        n = h.first
        text = self.template.format(
            count=h.count, station=n.station, budget=self.budget.pages, rules=rules
        )
        return dataclasses.replace(
            n, event="budget", alert_id=0, device="", rule=RULE, value=float(h.count),
            threshold=str(self.budget.pages), since_ms=n.ts_ms, ts_ms=now_ms,
            duration_s=self.window_ms / 1000, text=text, sms=sms_text(text), emails=(),
            phones=tuple(h.phones),
        )  # fmt: skip


Deliver = Callable[[Notification], Awaitable[None]]


class BudgetedSender:
    """A notifier's delivery behind its budget: summaries of ended windows go out first."""

    def __init__(self, name: str, budget: SmsBudget | None, deliver: Deliver) -> None:
        self.name = name
        self.budget = budget
        self.deliver = deliver
        self.clock: Callable[[], float] = time.time
        self.counts = {"sms_over_budget": 0, "sms_budget_summaries": 0}
        self._admitted: set[tuple[int, str, int, str]] = set()

    async def send(self, n: Notification) -> None:
        if self.budget is None:
            await self.deliver(n)
            return
        key = (n.alert_id, n.event, n.ts_ms, n.station)
        if key not in self._admitted:
            now_ms = int(self.clock() * 1000)
            await self.summaries(now_ms)
            if not self.budget.take(n, now_ms):
                self.counts["sms_over_budget"] += 1
                return
            if len(self._admitted) >= MAX_ADMITTED:
                self._admitted.clear()  # bounded: at worst a retry takes a second slot
            self._admitted.add(key)
        await self.deliver(n)  # a failure keeps the key: the dispatcher's retry comes back
        self._admitted.discard(key)

    async def summaries(self, now_ms: int | None = None) -> None:
        """Send the summaries that are due; one that fails is logged, not retried."""
        if self.budget is None:
            return
        for summary in self.budget.due(int(self.clock() * 1000) if now_ms is None else now_ms):
            self.counts["sms_budget_summaries"] += 1
            log.warning("%s", summary.text)
            try:
                await self.deliver(summary)
            except DeliveryError as exc:
                log.warning("SMS budget summary via %s not sent: %s", self.name, exc)
