"""The rule state machine: readings in (hot path, no I/O), transitions out at each evaluation.

Time is device time (reading timestamps, corrected by the ingest for a device whose clock
is known to be off; clockbase.py moves a device onto a new correction). A reading older
than the last one evaluated for its device is skipped, so a backlog that interleaves with
live readings cannot rewind a state. Transitions are decided only at evaluation, on each
key's newest state, and only when that state is recent in fleet time: a backlog flushed in
one go whose condition had already cleared by its end fires nothing, and a stale state
neither fires nor resolves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from collector.alerts.clockbase import ClockBases
from collector.alerts.clockwatch import SkewWatch
from collector.alerts.condition import Fields
from collector.alerts.fleetclock import FleetClock
from collector.alerts.model import SILENCE_DEVICE, AlertKey, Episode, Transition
from collector.alerts.rules import SILENCE_RULE, EffectiveRule, RuleSettings
from collector.ingest.readings import Reading
from devices.catalogue import DERIVED, fleet_fields
from devices.kind import FieldValue
from devices.stations import Fleet
from devices.sun import is_night

EPISODES_MAX = 10_000  # unevaluated episodes held between two evaluations


@dataclass(slots=True)
class KeyState:
    """Where one rule stands for one device."""

    rule: EffectiveRule
    key: AlertKey
    last_ts: int = 0
    bad_since: int | None = None  # first reading of the current run meeting the condition
    due_ts: int | None = None  # first reading of that run at which `for` had passed
    clear_since: int | None = None  # first reading of the current run meeting the clear level
    fields: tuple[FieldValue | None, ...] | None = None  # the newest reading's rule.reads
    active: bool = False
    dirty: bool = False  # in the engine's list for the next evaluation


def kept_fields(s: KeyState) -> dict[str, FieldValue]:
    """The fields a state kept of its newest reading, by name (absent ones left out)."""
    values = s.fields or ()
    return {n: v for n, v in zip(s.rule.reads, values, strict=False) if v is not None}


# Per kind, the device's state for each of its station's rules (None: no state yet).
Slots = list[KeyState | None]


@dataclass(slots=True)
class DeviceState:
    """One device's newest reading time, and its rules' states once one has any."""

    last_ts: int
    # A rule gets a state when its condition first holds (or one is restored): a healthy
    # device costs a timestamp, not a state per rule (~1 kB a device kept its fields alive).
    kinds: dict[str, Slots] | None = None


class RuleEngine:
    """Per (station, device, rule) state machines plus per-station silence."""

    def __init__(
        self,
        rules: Mapping[str, RuleSettings],
        fleet: Fleet,
        stale_after_s: float,
        max_devices_per_station: int = 1_000_000,
    ):
        self.rules = rules
        self.max_devices = max_devices_per_station
        self._station_devices: dict[str, int] = {}  # devices held per station (capped)
        self.devices_refused = 0  # readings of devices beyond a station's cap
        self.fleet = fleet
        # kinds with a rule on the station's night: their readings get `is_night` added
        self._night_kinds = frozenset(
            rs.kind
            for rs in rules.values()
            if rs.type == "threshold" and rs.kind is not None and "is_night" in rs.context()
        )
        self.stale_ms = int(stale_after_s * 1000)
        self.clock = FleetClock()
        self.skew = SkewWatch(rules, fleet)
        self.bases = ClockBases()
        self._by_station: dict[str, dict[str, list[EffectiveRule]]] = {}
        self._silence_rule: dict[str, EffectiveRule | None] = {}
        self._keys: dict[AlertKey, KeyState] = {}
        self._dirty: list[KeyState] = []
        self._devices: dict[tuple[str, str], DeviceState] = {}
        self._unattached: dict[tuple[str, str], list[KeyState]] = {}  # restored, device unseen
        self._rule_sets: dict[object, dict[str, list[EffectiveRule]]] = {}
        self.seen: dict[str, int] = {}  # station -> newest telemetry ts
        # station -> newest value of each fleet-board field (one entry per station in `seen`)
        # per station, the newest value of each fleet field, in FLEET_NAMES order (a list: a
        # dict a station cost ~1.5 MB more per 10,000 stations)
        self._fleet_fields = fleet_fields()
        self.fleet_names: tuple[str, ...] = tuple(
            n for names in self._fleet_fields.values() for n in names
        )
        slot = {n: i for i, n in enumerate(self.fleet_names)}
        self._fleet_slots = {
            k: tuple((n, slot[n]) for n in names) for k, names in self._fleet_fields.items()
        }
        self._fleet_values: dict[str, list[FieldValue | None]] = {}
        self._silent: set[str] = set()  # stations with an active silence alert
        self.out_of_order = 0
        self.observe_errors = 0
        self.observed = 0
        # fired-and-cleared between two evaluations (a backlog): for the service's digest
        self.episodes: deque[Episode] = deque(maxlen=EPISODES_MAX)
        self.episodes_dropped = 0
        self.pending_changed = False  # a `for` or clear timer started or stopped: save it
        # station -> the likely cause of its silence, told when a silence fires (None: none)
        self.silence_cause: Callable[[str], str | None] | None = None

    @property
    def fleet_values(self) -> dict[str, dict[str, FieldValue]]:
        """Per station, the newest value of each fleet field it has sent."""
        names = self.fleet_names
        return {
            st: {n: v for n, v in zip(names, held, strict=True) if v is not None}
            for st, held in self._fleet_values.items()
        }

    @property
    def silent(self) -> set[str]:
        """Stations whose silence alert holds."""
        return self._silent

    @property
    def tracked(self) -> int:
        """Rule states held (a rule gets one for a device once its condition holds)."""
        return len(self._keys)

    def rules_for(self, station: str, kind: str) -> list[EffectiveRule]:
        """The station's effective rules for a kind (cached)."""
        per_kind = self._by_station.get(station)
        if per_kind is None:
            per_kind = {}
            reg = self.fleet.get(station)
            for name, rs in self.rules.items():
                if rs.type != "threshold" or rs.kind is None:
                    continue
                eff = rs.for_station(name, reg)
                if eff is not None:
                    per_kind.setdefault(rs.kind, []).append(eff)
            # Stations with the same effective rules share one mapping (most have no overrides).
            shape = tuple((k, tuple(id(e) for e in v)) for k, v in per_kind.items())
            per_kind = self._rule_sets.setdefault(shape, per_kind)
            self._by_station[station] = per_kind
        return per_kind.get(kind, [])

    def silence_rule(self, station: str) -> EffectiveRule | None:
        if station not in self._silence_rule:
            rs = self.rules.get(SILENCE_RULE)
            eff = None
            if rs is not None and rs.type == "silence":
                eff = rs.for_station(SILENCE_RULE, self.fleet.get(station))
            self._silence_rule[station] = eff
        return self._silence_rule[station]

    def _state(self, dev: DeviceState, station: str, device: str, kind: str, i: int) -> KeyState:
        """A new state for the i-th rule of the device's kind, in its slot and the registry."""
        rules = self.rules_for(station, kind)
        key = (station, device, rules[i].name)
        s = self._keys[key] = KeyState(rules[i], key)
        self._slots(dev, kind, len(rules))[i] = s
        return s

    @staticmethod
    def _slots(dev: DeviceState, kind: str, n: int) -> Slots:
        if dev.kinds is None:
            dev.kinds = {}
        slots = dev.kinds.get(kind)
        if slots is None:
            slots = dev.kinds[kind] = [None] * n
        return slots

    def _attach(self, s: KeyState) -> None:
        """Put a restored state where its device's readings find it."""
        station, device, name = s.key
        dev = self._devices.get((station, device))
        if dev is None:
            self._unattached.setdefault((station, device), []).append(s)
            return
        kind = s.rule.kind
        assert kind is not None
        rules = self.rules_for(station, kind)
        names = [r.name for r in rules]
        if name in names:  # else the rule is gone for this station: the service resolves it
            self._slots(dev, kind, len(rules))[names.index(name)] = s

    def _new_device(self, dkey: tuple[str, str], ts: int) -> DeviceState | None:
        """A state for a device not seen before; None when its station holds its cap."""
        held = self._station_devices.get(dkey[0], 0)
        if held >= self.max_devices:
            # a station may publish under any device id: its table must not grow without end
            self.devices_refused += 1
            return None
        self._station_devices[dkey[0]] = held + 1
        dev = self._devices[dkey] = DeviceState(ts)
        if self._unattached:
            for s in self._unattached.pop(dkey, ()):
                self._attach(s)
        return dev

    def observe(self, r: Reading) -> None:
        """Feed one valid reading. Never raises."""
        self.observe_many((r,))

    def observe_many(self, readings: Iterable[Reading]) -> None:
        """Feed valid readings; a reading that breaks a rule is counted. Never raises.

        The hot path of alerting (every reading, every rule of its kind): state is found
        by one lookup per device, and the conditions are compiled closures.
        """
        seen, devices, rules_for = self.seen, self._devices, self.rules_for
        night_kinds, fleet_slots, values = self._night_kinds, self._fleet_slots, self._fleet_values
        width = len(self.fleet_names)
        newest = -1
        for r in readings:
            try:
                self.observed += 1
                ts, station = r.ts_ms, r.station
                # only a station's own telemetry says it is alive and moves fleet time;
                # figures the collector derives from it (DERIVED kinds) do not
                if r.kind not in DERIVED:
                    if ts > newest:
                        newest = ts
                    last_seen = seen.get(station)
                    if last_seen is None or ts > last_seen:
                        seen[station] = ts
                dkey = (station, r.device)
                dev = devices.get(dkey)
                if dev is None:
                    dev = self._new_device(dkey, ts)
                    if dev is None:
                        continue
                elif ts <= dev.last_ts:
                    self.out_of_order += 1
                    continue
                dev.last_ts = ts
                kind, fields = r.kind, r.fields
                slots_of = fleet_slots.get(kind)
                if slots_of is not None:
                    held = values.get(station)
                    if held is None:
                        held = values[station] = [None] * width
                    for name, at in slots_of:
                        v = fields.get(name)
                        if v is not None:
                            held[at] = v
                if kind in night_kinds:
                    fields = self._with_night(station, ts, fields)
                slots = dev.kinds.get(kind) if dev.kinds is not None else None
                for i, rule in enumerate(rules_for(station, kind)):
                    assert rule.condition is not None  # rules_for holds threshold rules only
                    bad = rule.condition.test(fields)
                    if bad is None:
                        continue
                    s = slots[i] if slots is not None else None
                    if s is None:
                        if not bad:
                            continue  # nothing pending, nothing active: no state needed
                        s = self._state(dev, station, r.device, kind, i)
                        slots = dev.kinds.get(kind) if dev.kinds is not None else None
                    s.fields = tuple([fields.get(n) for n in rule.reads])
                    s.last_ts = ts
                    if bad:
                        if s.bad_since is None:
                            s.bad_since = ts
                            self.pending_changed = True
                        if s.due_ts is None and ts - s.bad_since >= rule.for_ms:
                            s.due_ts = ts
                    elif s.bad_since is not None:
                        if s.due_ts is not None and not s.active:
                            self._episode(s, ts)
                        s.bad_since = s.due_ts = None
                        self.pending_changed = True
                    clear = rule.clear.test(fields) if rule.clear is not None else not bad
                    if clear is not None:
                        if not clear:
                            s.clear_since = None
                        elif s.clear_since is None:
                            s.clear_since = ts
                            self.pending_changed = s.active or self.pending_changed
                    if not s.dirty:
                        s.dirty = True
                        self._dirty.append(s)
            except Exception:
                self.observe_errors += 1
        if newest >= 0:
            self.clock.see(newest)

    def _episode(self, s: KeyState, cleared_ms: int) -> None:
        assert s.bad_since is not None
        if len(self.episodes) == EPISODES_MAX:
            self.episodes_dropped += 1
        st, dev, name = s.key
        self.episodes.append(Episode(st, dev, name, s.rule.severity, s.bad_since, cleared_ms))

    def take_episodes(self) -> list[Episode]:
        """The episodes noted since the last call."""
        out = list(self.episodes)
        self.episodes.clear()
        return out

    def observe_clock(
        self,
        station: str,
        device: str,
        offset_ms: int | None,
        correction_ms: int,
        pending: bool,
        received_ms: int,
    ) -> None:
        """A device's clock news from the ingest (after the readings of its message)."""
        known = correction_ms if offset_ms is not None else None
        delta = self.bases.update(station, device, known, pending, received_ms)
        if delta:
            self._rebase(station, device, delta)
        if offset_ms is not None:
            self.skew.observe(station, device, offset_ms, received_ms)

    def _rebase(self, station: str, device: str, delta_ms: int) -> None:
        """Move the device's times onto its new time base (its readings come corrected now)."""
        dev = self._devices.get((station, device))
        if dev is None:
            return
        old = dev.last_ts
        dev.last_ts += delta_ms
        for slots in (dev.kinds or {}).values():
            for s in slots:
                if s is None:
                    continue
                s.last_ts += delta_ms
                s.bad_since = None if s.bad_since is None else s.bad_since + delta_ms
                s.due_ts = None if s.due_ts is None else s.due_ts + delta_ms
                s.clear_since = None if s.clear_since is None else s.clear_since + delta_ms
        seen = self.seen.get(station)
        if seen is not None and (seen == old or dev.last_ts > seen):
            self.seen[station] = dev.last_ts  # else another device of the station is newer
            self.clock.see(dev.last_ts)

    def _with_night(self, station: str, ts_ms: int, fields: Fields) -> Fields:
        """`fields` and whether it is night at the station at the reading's device time."""
        reg = self.fleet.get(station)
        if reg is None:
            return fields  # no coordinates: a condition on the night gives no answer
        night = is_night(ts_ms / 1000, reg.latitude, reg.longitude)
        return {**fields, "is_night": 1 if night else 0}

    def evaluate(self, wall_s: float, link_up: bool = True) -> list[Transition]:
        """Transitions due now; marks them applied in the engine's own state."""
        now = self.clock.now(wall_s, link_up)
        out: list[Transition] = []
        dirty, self._dirty = self._dirty, []
        for s in dirty:
            s.dirty = False
            key = s.key
            if now is not None and s.last_ts < now - self.stale_ms:
                continue  # a stale state waits for the rest of its backlog
            if not s.active and s.due_ts is not None and s.bad_since is not None:
                s.active = True
                out.append(self._threshold("firing", key, s, s.due_ts, s.bad_since))
            elif s.active and s.clear_since is not None and s.bad_since is None:
                s.active = False
                out.append(self._threshold("resolved", key, s, s.clear_since, s.clear_since))
        if now is not None:
            out.extend(self._silence(now, int(wall_s * 1000)))
        out.extend(self.skew.evaluate(int(wall_s * 1000)))
        return out

    def _threshold(self, state: str, key: AlertKey, s: KeyState, ts: int, since: int) -> Transition:
        rule = s.rule
        cond = rule.condition if state == "firing" or rule.clear is None else rule.clear
        assert cond is not None and s.fields is not None
        fields = kept_fields(s)
        w = cond.witness(fields)
        observed = fields.get(w.field)
        value = float(observed) if isinstance(observed, int | float) else 1.0
        return Transition(
            state="firing" if state == "firing" else "resolved",
            station=key[0],
            device=key[1],
            rule=rule,
            ts_ms=ts,
            since_ms=since,
            value=value,
            witness=w,
            observed=observed,
            lasted_ms=max(0, s.last_ts - since),
        )

    def _silence(self, now: int, wall_ms: int) -> list[Transition]:
        out: list[Transition] = []
        held = self.bases.held
        for station, seen in self.seen.items():
            rule = self.silence_rule(station)
            if rule is None:
                continue
            quiet = now - seen
            silent = quiet >= rule.for_ms and not (held and self.bases.holds(station, wall_ms))
            if silent and station not in self._silent:
                self._silent.add(station)
                out.append(
                    self._silence_t(
                        "firing",
                        station,
                        rule,
                        seen + rule.for_ms,
                        seen,
                        quiet,
                        self.silence_cause(station) if self.silence_cause else None,
                    )
                )
            elif not silent and station in self._silent:
                self._silent.discard(station)
                out.append(self._silence_t("resolved", station, rule, seen, seen, 0))
        return out

    @staticmethod
    def _silence_t(
        state: str,
        station: str,
        rule: EffectiveRule,
        ts: int,
        since: int,
        quiet_ms: int,
        cause: str | None = None,
    ) -> Transition:
        return Transition(
            state="firing" if state == "firing" else "resolved",
            station=station,
            device=SILENCE_DEVICE,
            rule=rule,
            ts_ms=ts,
            since_ms=since,
            value=round(quiet_ms / 60000, 1),
            witness=None,
            observed=None,
            lasted_ms=quiet_ms,
            cause=cause,
        )

    def restore_active(self, key: AlertKey) -> None:
        """Mark an alert that was active before a restart, so it resolves rather than refires."""
        station, device, rule_name = key
        if rule_name == SILENCE_RULE and device == SILENCE_DEVICE:
            self._silent.add(station)
            return
        if self.skew.owns(rule_name):
            self.skew.restore_active(key)
            return
        s = self._keys.get(key)
        if s is None:
            rs = self.rules.get(rule_name)
            eff = rs.for_station(rule_name, self.fleet.get(station)) if rs else None
            if eff is None or eff.condition is None:
                return  # rule removed or disabled since: the service resolves it
            s = self._keys[key] = KeyState(eff, key)
            self._attach(s)
        s.active = True

    def forget_active(self, key: AlertKey) -> None:
        """Drop an active mark (an alert resolved by the service, e.g. its rule was removed)."""
        if key[2] == SILENCE_RULE and key[1] == SILENCE_DEVICE:
            self._silent.discard(key[0])
        elif self.skew.owns(key[2]):
            self.skew.forget_active(key)
        elif key in self._keys:
            self._keys[key].active = False

    def active_rule(self, key: AlertKey) -> bool:
        """True when the rule of an alert key still exists and applies to its station."""
        station, device, rule_name = key
        if rule_name == SILENCE_RULE and device == SILENCE_DEVICE:
            return self.silence_rule(station) is not None
        if self.skew.owns(rule_name):
            return self.skew.rule(rule_name, station) is not None
        rs = self.rules.get(rule_name)
        return (
            rs is not None
            and rs.type == "threshold"
            and (rs.for_station(rule_name, self.fleet.get(station)) is not None)
        )

    def snapshot(self) -> dict[str, Any]:
        """Pending state, per-device positions and last-seen times, for a restart."""
        keys = [
            [k[0], k[1], k[2], s.last_ts, s.bad_since, s.due_ts, s.clear_since, kept_fields(s)]
            for k, s in self._keys.items()
            if s.fields is not None
        ]
        return {
            "keys": keys,
            "device_ts": [[st, dev, d.last_ts] for (st, dev), d in self._devices.items()],
            "seen": self.seen,
            "fleet_values": self.fleet_values,
            "clock": self.clock.snapshot(),
            "skew": self.skew.snapshot(),
            "clock_bases": self.bases.snapshot(),
        }

    def restore(self, snap: Mapping[str, Any]) -> None:
        """Load a snapshot taken by `snapshot` (before active alerts are restored)."""
        self.clock.restore(snap.get("clock", {}))
        self.skew.restore(snap.get("skew", []))
        self.bases.restore(snap.get("clock_bases", []))
        self.seen.update({str(k): int(v) for k, v in snap.get("seen", {}).items()})
        names = self.fleet_names
        for st, held in snap.get("fleet_values", {}).items():
            if isinstance(held, dict):
                self._fleet_values[str(st)] = [held.get(n) for n in names]
        for st, dev, ts in snap.get("device_ts", []):
            self._new_device((st, dev), int(ts))
        for st, dev, name, last_ts, bad, due, clear, fields in snap.get("keys", []):
            rs = self.rules.get(name)
            eff = rs.for_station(name, self.fleet.get(st)) if rs else None
            if eff is None or eff.condition is None:
                continue
            key = (st, dev, name)
            kept = tuple(fields.get(n) for n in eff.reads) if isinstance(fields, dict) else None
            s = self._keys[key] = KeyState(eff, key, last_ts, bad, due, clear, kept, dirty=True)
            self._attach(s)
            self._dirty.append(s)
