"""The `clock_skew` rule: a device whose clock offset stays beyond a limit for `for`.

Offsets come from the ingest's estimate (live messages only), with their receive times;
the rule is judged on receive time, as the offset itself is. It resolves at the first
estimate back within the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.alerts.condition import Comparison
from collector.alerts.model import AlertKey, Transition
from collector.alerts.rules import EffectiveRule, RuleSettings
from devices.stations import Fleet

MAX_DEVICES = 100_000  # devices watched (the ingest's tables bound them further)
OFFSET_FIELD = "clock_offset_min"  # the witness named in alert texts


@dataclass(slots=True)
class Skew:
    """One device's newest offset and where its rule stands."""

    offset_ms: int
    seen_ms: int
    beyond_since: int | None = None
    active: bool = False
    dirty: bool = True


class SkewWatch:
    """Per (station, device, rule) state of every clock_skew rule (a fleet normally has one)."""

    def __init__(self, rules: Mapping[str, RuleSettings], fleet: Fleet) -> None:
        self.rules = {n: rs for n, rs in rules.items() if rs.type == "clock_skew"}
        self.fleet = fleet
        self._effective: dict[tuple[str, str], EffectiveRule | None] = {}
        self.states: dict[AlertKey, Skew] = {}
        self.refused = 0

    def rule(self, name: str, station: str) -> EffectiveRule | None:
        """The rule as it applies to the station (None: disabled there, or no such rule)."""
        key = (name, station)
        if key not in self._effective:
            rs = self.rules.get(name)
            self._effective[key] = rs.for_station(name, self.fleet.get(station)) if rs else None
        return self._effective[key]

    def _get(self, key: AlertKey, offset_ms: int, seen_ms: int) -> Skew | None:
        s = self.states.get(key)
        if s is None:
            if len(self.states) >= MAX_DEVICES:
                self.refused += 1
                return None
            s = self.states[key] = Skew(offset_ms, seen_ms)
        return s

    def observe(self, station: str, device: str, offset_ms: int, received_ms: int) -> None:
        """Note a device's offset estimate."""
        for name in self.rules:
            s = self._get((station, device, name), offset_ms, received_ms)
            if s is not None:
                s.offset_ms, s.seen_ms, s.dirty = offset_ms, received_ms, True

    def evaluate(self, now_ms: int) -> list[Transition]:
        """Transitions due now: of the states observed since the last call, or awaiting `for`."""
        out: list[Transition] = []
        for key, s in self.states.items():
            if not s.dirty and (s.beyond_since is None or s.active):
                continue
            s.dirty = False
            rs = self.rules.get(key[2])
            rule = self.rule(key[2], key[0])
            if rule is None or rs is None or rs.beyond is None:
                continue
            beyond = abs(s.offset_ms) >= rs.beyond * 1000
            if not beyond:
                s.beyond_since = None
            elif s.beyond_since is None:
                s.beyond_since = s.seen_ms
            if beyond and not s.active and now_ms - (s.beyond_since or now_ms) >= rule.for_ms:
                s.active = True
                out.append(self._transition("firing", key, rule, s, rs.beyond, now_ms))
            elif not beyond and s.active:
                s.active = False
                out.append(self._transition("resolved", key, rule, s, rs.beyond, now_ms))
        return out

    @staticmethod
    def _transition(
        state: str, key: AlertKey, rule: EffectiveRule, s: Skew, beyond_s: float, now_ms: int
    ) -> Transition:
        minutes = round(s.offset_ms / 60_000, 1)
        limit = round(beyond_s / 60, 1)
        witness = Comparison(OFFSET_FIELD, ">", limit) if minutes >= 0 else None
        if witness is None:
            witness = Comparison(OFFSET_FIELD, "<", -limit)
        since = s.beyond_since if s.beyond_since is not None else now_ms
        return Transition(
            state="firing" if state == "firing" else "resolved",
            station=key[0],
            device=key[1],
            rule=rule,
            ts_ms=now_ms,
            since_ms=since if state == "firing" else now_ms,
            value=minutes,
            witness=witness,
            observed=minutes,
            lasted_ms=max(0, now_ms - since),
        )

    def owns(self, rule_name: str) -> bool:
        """Whether alerts of this rule name are this watch's."""
        return rule_name in self.rules

    def restore_active(self, key: AlertKey) -> None:
        """An alert active before a restart: it resolves rather than fires again."""
        s = self._get(key, 0, 0)
        if s is not None:
            s.active = True
            s.dirty = False  # judged again at the device's next estimate

    def forget_active(self, key: AlertKey) -> None:
        s = self.states.get(key)
        if s is not None:
            s.active = False

    def snapshot(self) -> list[list[Any]]:
        """Per state: offset, when seen and since when beyond, for a restart."""
        return [[*k, s.offset_ms, s.seen_ms, s.beyond_since] for k, s in self.states.items()]

    def restore(self, rows: list[list[Any]]) -> None:
        """Load `snapshot` rows (before active alerts are restored)."""
        for station, device, name, offset, seen, since in rows:
            if name in self.rules:
                s = self.states[(station, device, name)] = Skew(int(offset), int(seen))
                s.beyond_since = None if since is None else int(since)
                s.dirty = False
