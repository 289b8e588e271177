"""`OK <id>` SMS replies: the sender's number names a technician, who acknowledges the alert.

A number counts only if it is among the phones of a route (or the fallback) that reaches the
alert: a technician acknowledges what is paged to them. Everything refused is counted, never fatal.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from collector.alerts.model import Alert
from collector.alerts.routing import Router
from collector.alerts.settings import AlertSettings

log = logging.getLogger("collector.alerts")

# "OK 12", "ok12", " Ok  #12. ": case and spaces do not matter
OK_RE = re.compile(r"^\s*ok\s*#?\s*(\d{1,12})\s*[.!]?\s*$", re.IGNORECASE)
OUTCOMES = ("acked", "already_acked", "unknown_sender", "bad_text", "unknown_alert", "not_routed")


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
    ) -> None:
        self.router = router
        self.find = find
        self.ack = ack
        self.phones: dict[str, str] = {}  # digits -> the number as configured
        recipients = [r.recipients for r in settings.routes] + [settings.fallback.recipients]
        for rc in recipients:
            for p in rc.phones:
                self.phones.setdefault(digits(p), p)
        self.counts = dict.fromkeys(OUTCOMES, 0)

    async def handle(self, sender: str, text: str) -> str:
        """What became of one reply (one of OUTCOMES), counted and logged."""
        outcome = await self._handle(sender, text)
        self.counts[outcome] += 1
        if outcome != "acked":
            log.warning("SMS reply from %r refused (%s): %r", sender, outcome, text[:40])
        return outcome

    async def _handle(self, sender: str, text: str) -> str:
        phone = self.phones.get(digits(sender)) if digits(sender) else None
        if phone is None:
            return "unknown_sender"
        alert_id = parse_ok(text)
        if alert_id is None:
            return "bad_text"
        a = self.find(alert_id)
        if a is None:
            return "unknown_alert"
        reached = {digits(p) for t in self.router.targets(a.station, a.severity) for p in t.phones}
        if digits(phone) not in reached:
            return "not_routed"
        if a.acked_ms is not None:
            return "already_acked"
        done = await self.ack(alert_id, phone)
        if done is None:
            return "unknown_alert"  # resolved in the meantime
        log.info("alert %s acknowledged by SMS from %s", alert_id, phone)
        return "acked"

    def stats(self) -> dict[str, float]:
        return {f"sms_replies_{k}": float(v) for k, v in self.counts.items()}
