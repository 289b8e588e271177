"""Grouping: a route's notifications of one rule and event, held `group_wait`, sent as one.

As Alertmanager does it: the first notification of a group waits `group_wait` for others to
join; once a group was sent, the next one of the same key waits until `group_interval` after
it. Times are fleet time (device time), like the rest of the engine, so an accelerated
simulation or a backlog groups as the same hours would live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from collector.alerts.model import Notification, notification_from_json

GroupKey = tuple[str, str, str, str]  # notifier, route, rule, event
GROUPED_EVENTS = frozenset({"firing", "reminder", "resolved", "digest"})


@dataclass(slots=True)
class Group:
    """Notifications waiting to go out together."""

    send_at_ms: int
    items: list[Notification] = field(default_factory=list)


class Grouper:
    """Holds the notifications of grouped rules until their group is due (bounded)."""

    def __init__(
        self,
        rules: Iterable[str],
        wait_ms: int,
        interval_ms: int,
        merge: Callable[[list[Notification]], Notification],
        max_held: int,
    ) -> None:
        self.rules = frozenset(rules)
        self.wait_ms = wait_ms
        self.interval_ms = interval_ms
        self.merge = merge
        self.max_held = max_held
        self.groups: dict[GroupKey, Group] = {}
        self.last_sent: dict[GroupKey, int] = {}
        self.held = 0
        self.full = 0  # notifications sent alone because the groups held their bound
        self.merged = 0  # notifications that went out inside a grouped one
        self.changed = False  # held state to save

    def wants(self, n: Notification) -> bool:
        return n.rule in self.rules and n.event in GROUPED_EVENTS

    def hold(self, notifier: str, n: Notification, now_ms: int) -> bool:
        """Hold `n` in its group; False (counted) when full: the caller sends it now."""
        key = (notifier, n.route, n.rule, n.event)
        g = self.groups.get(key)
        if self.held >= self.max_held:
            self.full += 1
            return False
        if g is None:
            at = now_ms + self.wait_ms
            last = self.last_sent.get(key)
            if last is not None:
                at = max(at, last + self.interval_ms)
            g = self.groups[key] = Group(at)
        g.items.append(n)
        self.held += 1
        self.changed = True
        return True

    def due(self, now_ms: int) -> list[tuple[str, Notification]]:
        """The groups whose wait is over, one notification each (the item itself when alone)."""
        out: list[tuple[str, Notification]] = []
        for key in [k for k, g in self.groups.items() if g.send_at_ms <= now_ms]:
            g = self.groups.pop(key)
            self.held -= len(g.items)
            self.last_sent[key] = now_ms
            self.changed = True
            if len(g.items) == 1:
                out.append((key[0], g.items[0]))
            else:
                self.merged += len(g.items)
                out.append((key[0], self.merge(g.items)))
        for key in [k for k, t in self.last_sent.items() if t + self.interval_ms <= now_ms]:
            del self.last_sent[key]  # no longer delays anything
        return out

    def snapshot(self) -> dict[str, Any]:
        return {
            "groups": [
                [*k, g.send_at_ms, [asdict(n) for n in g.items]] for k, g in self.groups.items()
            ],
            "last_sent": [[*k, t] for k, t in self.last_sent.items()],
        }

    def restore(self, snap: dict[str, Any]) -> None:
        for notifier, route, rule, event, at, items in snap.get("groups", []):
            ns = [notification_from_json(raw) for raw in items]
            self.groups[(notifier, route, rule, event)] = Group(int(at), ns)
            self.held += len(ns)
        for notifier, route, rule, event, t in snap.get("last_sent", []):
            self.last_sent[(notifier, route, rule, event)] = int(t)
