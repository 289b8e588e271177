"""`OK <id>` SMS replies: the sender's number names a technician, who acknowledges the alert.

A number counts only if it is among the phones of a route (or the fallback) that reaches the
alert: a technician acknowledges what is paged to them. Everything refused is counted, never fatal.
A reply from an unknown number, or naming an alert that does not exist or is not routed to
the sender, is a failed attempt against that sender (`alerts.sms_reply_limit`): a stolen SIM
must not guess ids. A locked-out sender's replies are refused before they are looked at.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable

from collector.alerts.model import Alert
from collector.alerts.routing import Router
from collector.alerts.settings import AlertSettings
from collector.auth_limit import FailureLimiter, Wording

log = logging.getLogger("collector.alerts")

# "OK 12", "ok12", " Ok  #12. ": case and spaces do not matter
OK_RE = re.compile(r"^\s*ok\s*#?\s*(\d{1,12})\s*[.!]?\s*$", re.IGNORECASE)
OUTCOMES = (
    "acked", "already_acked", "unknown_sender", "bad_text", "unknown_alert", "not_routed",
    "not_active", "locked_out",
)  # fmt: skip
# What a guesser gets wrong; not a typo ("bad_text") or a late reply ("not_active")
FAILED = frozenset({"unknown_sender", "unknown_alert", "not_routed"})
SMS = Wording(
    "auth_sms_", "auth_sms_senders_evicted", "failed SMS acknowledgements",
    "every SMS acknowledgement", "collector.alerts",
)  # fmt: skip


def digits(number: str) -> str:
    """A phone number compared by its digits: smstools writes it without the +."""
    return re.sub(r"\D", "", number)


def parse_ok(text: str) -> int | None:
    """The alert id of an `OK <id>` text, or None."""
    m = OK_RE.match(text)
    return int(m.group(1)) if m else None


class PhoneReplies:
    """Turns an SMS (sender, text) into an acknowledgement through the service's `ack`."""

    def __init__(
        self,
        settings: AlertSettings,
        router: Router,
        find: Callable[[int], Alert | None],
        ack: Callable[[int, str | None], Awaitable[Alert | None]],
        lookup: Callable[[int], Awaitable[Alert | None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.router = router
        self.find = find
        self.ack = ack
        self.lookup = lookup  # an alert of the history, active or not
        limit = settings.sms_reply_limit
        self.limiter = FailureLimiter(limit, limit.max_senders, SMS, clock)
        self.phones: dict[str, str] = {}  # digits -> the number as configured
        recipients = [r.recipients for r in settings.routes] + [settings.fallback.recipients]
        for rc in recipients:
            for p in rc.phones:
                self.phones.setdefault(digits(p), p)
        self.counts = dict.fromkeys(OUTCOMES, 0)

    async def handle(self, sender: str, text: str) -> str:
        """What became of one reply (one of OUTCOMES), counted and logged."""
        key = digits(sender) or "unknown"
        if self.limiter.wait_s(key) is not None:
            outcome = "locked_out"  # not looked at: a guesser learns nothing from it
        else:
            outcome = await self._handle(sender, text)
            if outcome in FAILED:
                self.limiter.failed(key)
        self.counts[outcome] += 1
        # a locked-out sender was logged once when locked out; its further tries are counted
        if outcome not in ("acked", "locked_out"):
            log.warning("SMS reply from %r refused (%s): %r", sender, outcome, text[:40])
        return outcome

    def _reaches(self, phone: str, a: Alert) -> bool:
        reached = {digits(p) for t in self.router.targets(a.station, a.severity) for p in t.phones}
        return digits(phone) in reached

    async def _handle(self, sender: str, text: str) -> str:
        phone = self.phones.get(digits(sender)) if digits(sender) else None
        if phone is None:
            return "unknown_sender"
        alert_id = parse_ok(text)
        if alert_id is None:
            return "bad_text"
        a = self.find(alert_id)
        if a is None:
            old = await self.lookup(alert_id) if self.lookup is not None else None
            if old is None:
                return "unknown_alert"
            return "not_active" if self._reaches(phone, old) else "not_routed"
        if not self._reaches(phone, a):
            return "not_routed"
        if a.acked_ms is not None:
            return "already_acked"
        done = await self.ack(alert_id, phone)
        if done is None:
            return "not_active"  # resolved in the meantime
        log.info("alert %s acknowledged by SMS from %s", alert_id, phone)
        return "acked"

    def stats(self) -> dict[str, float]:
        out = {f"sms_replies_{k}": float(v) for k, v in self.counts.items()}
        return {**out, **self.limiter.stats(), "auth_sms_senders": float(len(self.limiter))}
