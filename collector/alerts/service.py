"""AlertService: the rule engine on the reading stream, alert state on disk, notifications."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path

import orjson

from collector.alerts import actions, link_groups
from collector.alerts.actions import Action
from collector.alerts.coverage import routing_notes, routing_problem
from collector.alerts.digest import DIGEST_RULE, DigestBook, Entry, StationDigest
from collector.alerts.dispatch import Dispatcher
from collector.alerts.engine import RuleEngine
from collector.alerts.grouping import Grouper
from collector.alerts.inhibition import inhibited
from collector.alerts.links import LinkSigner, load_or_create_secret
from collector.alerts.maintenance import Maintenance
from collector.alerts.messages import Messages
from collector.alerts.model import (
    Alert,
    AlertKey,
    Event,
    Notification,
    Transition,
    notification_from_json,
)
from collector.alerts.notifiers import DeliveryError, Notifier, NotifierContext, build_notifier
from collector.alerts.notifiers.base import Background, MqttPublish
from collector.alerts.pacing import PageBudget, PageGate, StationTable, Window
from collector.alerts.replies import PhoneReplies
from collector.alerts.routing import Router
from collector.alerts.rules import SILENCE_RULE
from collector.alerts.settings import AlertSettings
from collector.alerts.station_state import state_lines
from collector.alerts.store import AlertStore, Silence
from collector.alerts.technicians import Technicians
from collector.ingest.readings import Reading
from collector.supervise import Spawn, unsupervised
from devices import schema
from devices.errors import ConfigError
from devices.lineprotocol import encode_line
from devices.stations import Fleet

log = logging.getLogger("collector.alerts")
SNAPSHOT_EVERY_S = 60.0
BUDGET_RULE = "notification_budget"  # the rule name budget announcements carry
STATUS_MAX = 100_000  # device statuses held (a fleet has hundreds of devices)
PRUNE_EVERY_S = 3600.0  # resolved alerts past `history_keep` go while running, not only at start


class AlertConfigError(ConfigError):
    """Alert settings that do not fit the fleet or the collector; the message is one line."""


class AlertService:
    """Owns the engine, the store, the dispatcher and the HTTP API of the alerts."""

    def __init__(
        self,
        settings: AlertSettings,
        fleet: Fleet,
        state_dir: Path,
        *,
        prefix: str = "solarwater",
        write_lines: Callable[[list[str]], None],
        write_events: Callable[[list[str]], None] | None = None,
        mqtt_publish: MqttPublish | None,
        clock: Callable[[], float] = time.time,
        link_up: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.link_up = link_up
        self.fleet = fleet
        self.clock = clock
        self.write_lines = write_lines  # station state points: with the readings
        # alert transitions: to the events policy (kept longer); one writer when not told apart
        self.write_events = write_events or write_lines
        self.engine = RuleEngine(
            settings.rules, fleet, settings.stale_after, settings.max_devices_per_station
        )
        self.router = Router(settings, fleet)
        try:
            self.technicians = Technicians(settings.technicians, settings.technicians_file)
        except ValueError as exc:
            raise AlertConfigError(f"alerts: {exc}") from None
        problems = (
            self.router.unknown_names()
            + self._unknown_override_names()
            + self._unknown_access_names()
        )
        if problems:
            raise AlertConfigError(f"alerts: {problems[0]} is not in the fleet")
        self.replies = PhoneReplies(
            settings, self.router, self.find, lambda i, by: self.ack(i, by, via="sms"),
            self.get_alert, clock,
        )  # fmt: skip
        ctx = NotifierContext(prefix, mqtt_publish, self.replies.handle, settings.language)
        self.notifiers: dict[str, Notifier] = {}
        for name, ns in settings.notifiers.items():
            try:
                self.notifiers[name] = build_notifier(name, ns, ctx)
            except ConfigError as exc:
                raise AlertConfigError(f"alerts: {exc}") from None
        hole = routing_problem(settings, fleet)
        if hole:
            raise AlertConfigError(f"alerts: {hole}")
        self.messages = Messages(settings, fleet)
        self.store = AlertStore(state_dir)
        self.active: dict[AlertKey, Alert] = {}
        self.owed: dict[int, Alert] = {}  # resolved, resolved notification not sent yet
        self.per_station: dict[str, int] = {}  # active alerts of each station (capped)
        self.unpaged: set[int] = set()  # active/owed alerts whose firing page went over budget
        self.silences: list[Silence] = []
        self.state_dir = state_dir
        self.maintenance = Maintenance(settings.maintenance, self.messages.tz, self.store, clock)
        self.signer: LinkSigner | None = None  # made at start: the secret may live on disk
        self.status: dict[tuple[str, str], bool] = {}
        self.fleet_now: int | None = None
        self.evaluations = 0  # completed, transitions applied and notifications handed on
        self.counts = dict.fromkeys(
            (
                "alerts_fired", "alerts_resolved", "notifications_unrouted", "write_errors",
                "alerts_refused", "notifications_damped", "budget_announcements", "status_refused",
            ),
            0,
        )  # fmt: skip

        def registered(station: str) -> bool:
            return fleet.get(station) is not None

        self.gate = PageGate(
            int(settings.min_page_interval * 1000),
            StationTable(registered, settings.max_paging_stations),
        )
        self.budget = PageBudget(
            settings.page_budget,
            int(settings.page_budget_window * 1000),
            StationTable(registered, settings.max_paging_stations),
        )
        self.dispatcher = Dispatcher(
            self.notifiers,
            {name: ns for name, ns in settings.notifiers.items()},
            settings.queue_size,
            self._job_done,
            settings.station_queue_size,
        )
        self.grouper = Grouper(
            settings.group_rules,
            int(settings.group_wait * 1000),
            int(settings.group_interval * 1000),
            self.messages.group,
            settings.queue_size,
        )
        self.digests = DigestBook(int(settings.group_wait * 1000), settings.max_paging_stations)
        self.counts["digests"] = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []  # notifiers' own loops (SMS replies)
        self._last_snapshot = 0.0
        self._last_prune = 0.0
        self._last_state = 0.0
        self._lock = asyncio.Lock()  # one tick or API change at a time

    def _unknown_override_names(self) -> list[str]:
        if not self.fleet.stations:
            return []
        districts = {s.district for s in self.fleet.stations}
        bad = []
        for name, rs in self.settings.rules.items():
            bad += [f"rules.{name}.stations: {s!r}" for s in rs.stations if not self.fleet.get(s)]
            bad += [f"rules.{name}.districts: {d!r}" for d in rs.districts if d not in districts]
        return bad

    def _unknown_access_names(self) -> list[str]:
        """Names in maintenance windows and technicians that the fleet or the rules lack."""
        districts = {s.district for s in self.fleet.stations}
        bad = [f"maintenance: rule {r!r}" for w in self.settings.maintenance for r in w.rules
               if r not in self.settings.rules]  # fmt: skip
        if not self.fleet.stations:
            return bad
        bad += [f"maintenance: station {w.station!r}" for w in self.settings.maintenance
                if not self.fleet.get(w.station)]  # fmt: skip
        bad += [f"technician {t.name!r}: district {d!r}" for t in self.technicians.all()
                for d in t.districts if d not in districts]  # fmt: skip
        return bad

    # hot path
    def observe(self, reading: Reading) -> None:
        """Feed one valid reading (sync, no I/O)."""
        if self.settings.enabled:
            self.engine.observe(reading)

    def observe_many(self, readings: Iterable[Reading]) -> None:
        """Feed a message's valid readings (sync, no I/O)."""
        if self.settings.enabled:
            self.engine.observe_many(readings)

    def observe_status(self, station: str, device: str, online: bool, ts_ms: int) -> None:
        """Note a device's retained online/offline status (for stats and the API)."""
        key = (station, device)
        if key not in self.status and len(self.status) >= STATUS_MAX:
            self.counts["status_refused"] += 1  # any device id may publish a status
            return
        self.status[key] = online

    def observe_clock(
        self,
        station: str,
        device: str,
        offset_ms: int | None,
        correction_ms: int,
        pending: bool,
        received_ms: int,
    ) -> None:
        """A device's clock news from the ingest (sync, no I/O)."""
        if self.settings.enabled:
            self.engine.observe_clock(
                station, device, offset_ms, correction_ms, pending, received_ms
            )

    # life cycle
    async def start(self, spawn: Spawn = unsupervised) -> None:
        """Open state, restore it, start the evaluation loop and the notifier workers."""
        for level, note in routing_notes(self.settings, self.fleet):
            log.log(level, "alerts: %s", note)
        await self.store.call(lambda s: s.open())

        def load(
            s: AlertStore,
        ) -> tuple[
            object, list[Alert], list[Silence], list[tuple[int, str, bytes]], object, object
        ]:
            s.prune(int((self.clock() - self.settings.history_keep) * 1000))
            actions.create(s)
            link_groups.create(s)
            self.maintenance.load(s)
            return (
                s.get("engine"), s.open_alerts(), s.silences(), s.outbox(), s.get("groups"),
                s.get("digests"),
            )  # fmt: skip

        snap, open_alerts, silences, outbox, groups, digests = await self.store.call(load)
        if self.settings.public_url is not None:
            secret = await asyncio.to_thread(
                load_or_create_secret, self.settings.link_secret, self.state_dir
            )
            self.signer = LinkSigner(secret, self.settings.public_url, self.settings.link_ttl)
        if isinstance(snap, dict):
            self.engine.restore(snap)
        if isinstance(groups, dict):
            self.grouper.restore(groups)
        if isinstance(digests, dict):
            self.digests.restore(digests)
        self.silences = silences
        retired: list[Alert] = []
        for a in open_alerts:
            if a.state == "firing" and not self.engine.active_rule(a.key):
                a.state, a.resolved_ms, a.notified_resolved = "resolved", a.fired_ms, True
                a.resolved_detail = "rule removed"
                retired.append(a)
            elif a.state == "firing":
                self.engine.restore_active(a.key)
                self._hold(a)
            else:
                self.owed[a.id] = a
        if retired:

            def save(s: AlertStore) -> None:
                for a in retired:
                    s.update_alert(a)

            await self.store.call(save)
        self.dispatcher.start(spawn)
        for name, nf in self.notifiers.items():
            if isinstance(nf, Background):
                self._background.append(spawn(f"alert-notifier-{name}", nf.run))
        for job_id, notifier, body in outbox:
            if notifier not in self.notifiers:
                await self._job_done(job_id)
                continue
            n = notification_from_json(orjson.loads(body))
            if not self.dispatcher.submit(notifier, job_id, n):
                await self._job_done(job_id)
        self._stop.clear()
        self._last_prune = self.clock()
        self._task = spawn("alert-evaluate", self._loop)

    async def stop(self) -> None:
        """Finish the current evaluation, save state, deliver what is queued (briefly)."""
        self._stop.set()
        if self._task is not None:
            # A crash already reached the supervisor (or, unsupervised, the log below).
            for exc in await asyncio.gather(self._task, return_exceptions=True):
                if isinstance(exc, Exception):
                    log.error("alert evaluation had failed: %s", exc)
            self._task = None
        for t in self._background:
            t.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        await self._snapshot()
        await self.dispatcher.stop(self.settings.drain_timeout_s)
        await self.store.aclose()

    async def _loop(self) -> None:
        while not self._stop.is_set():
            await self.tick()  # an exception goes to the supervisor: logged, counted, restarted
            if self.clock() - self._last_prune >= PRUNE_EVERY_S:
                await self.prune()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.evaluate_interval_s)

    async def tick(self) -> None:
        """One evaluation: transitions, then the notifications they and the clock call for."""
        async with self._lock:
            wall = self.clock()
            link = self.link_up()
            transitions = self.engine.evaluate(wall, link)
            self.fleet_now = self.engine.clock.now(wall, link)
            if transitions:
                await self._apply(transitions)
            await self._notify(int(wall * 1000))
            # pending `for` timers are saved when one starts or stops, not only periodically,
            # so a kill -9 loses at most one evaluation of them
            if (
                transitions
                or self.engine.pending_changed
                or wall - self._last_snapshot >= SNAPSHOT_EVERY_S
            ):
                await self._snapshot()
            if wall - self._last_state >= self.settings.state_interval_s:
                self._write_states(wall)
            self.evaluations += 1

    def _write_states(self, wall: float) -> None:
        self._last_state = wall
        e = self.engine
        lines = state_lines(
            self.fleet,
            e.seen,
            e.fleet_values,
            e.silent,
            self.active.values(),
            self.fleet_now,
            e.stale_ms,
            int(wall * 1000),
        )
        try:
            self.write_lines(lines)
        except Exception:
            self.counts["write_errors"] += 1
            log.exception("station state points could not be handed to the writer")

    async def prune(self) -> int:
        """Forget resolved alerts and ended silences past `history_keep`, in the store thread."""
        self._last_prune = self.clock()
        now_ms = int(self._last_prune * 1000)
        if self.fleet_now is not None:
            now_ms = min(now_ms, self.fleet_now)  # resolved_ms is fleet time: the older clock
        before_ms = now_ms - int(self.settings.history_keep * 1000)

        def prune(s: AlertStore) -> int:
            actions.prune(s, before_ms)
            link_groups.prune(s, before_ms)
            return s.prune(before_ms)

        removed = await self.store.call(prune)
        if removed:
            log.info("alert history: pruned %d resolved alerts", removed)
        return removed

    async def _snapshot(self) -> None:
        self.engine.pending_changed = False
        snap = self.engine.snapshot()
        self._last_snapshot = self.clock()
        await self.store.call(lambda s: s.put("engine", snap))

    # transitions
    async def _apply(self, transitions: list[Transition]) -> None:
        fired: list[tuple[Alert, Transition]] = []
        resolved: list[tuple[Alert, Transition]] = []
        for t in transitions:
            detail, threshold = self.messages.describe(t)
            if t.state == "firing":
                if t.key in self.active:
                    continue
                if self.per_station.get(t.station, 0) >= self.settings.max_alerts_per_station:
                    # a station inventing device ids must not grow the table without end
                    self.counts["alerts_refused"] += 1
                    log.warning("alert %s on %s refused: station has too many", t.key, t.station)
                    continue
                self.per_station[t.station] = self.per_station.get(t.station, 0) + 1
                a = Alert(
                    id=0, station=t.station, district=self.fleet.district_of(t.station),
                    device=t.device, rule=t.rule.name, severity=t.rule.severity,
                    state="firing", since_ms=t.since_ms, fired_ms=t.ts_ms, value=t.value,
                    threshold=threshold, message="", repeat_s=t.rule.repeat_s, detail=detail,
                    cause=t.cause,
                )  # fmt: skip
                fired.append((a, t))
            else:
                old = self.active.pop(t.key, None)
                if old is None:
                    continue
                self._release(t.station)
                a = old
                a.state, a.resolved_ms, a.resolved_value = "resolved", t.ts_ms, t.value
                a.resolved_detail = detail
                resolved.append((a, t))

        def persist(s: AlertStore) -> None:
            for a, t in fired:
                a.id = s.insert_alert(a)
                a.message = self.messages.text("firing", a, t.lasted_ms / 1000, t.ts_ms)
                s.update_alert(a)
            for a, t in resolved:
                lasted = (t.ts_ms - a.since_ms) / 1000
                a.resolved_message = self.messages.text("resolved", a, lasted, t.ts_ms)
                s.update_alert(a)

        await self.store.call(persist)
        lines = []
        fleet_ms = self._fleet_ms()
        for a, _ in fired:
            if a.rule == SILENCE_RULE:
                self.digests.silent(a.station)
        for a, _ in resolved:
            if a.rule == SILENCE_RULE:
                self.digests.back(a.station, fleet_ms)
            elif not a.notified_firing and a.resolved_ms is not None:
                # fired while its station was silent, gone before anyone was told
                self.digests.add(
                    a.station, Entry(a.device, a.rule, a.severity, a.since_ms, a.resolved_ms)
                )
        for a, _ in fired:
            self.active[a.key] = a
            self.counts["alerts_fired"] += 1
            lines.append(self._line(a, "firing", a.fired_ms, a.value, a.message))
        for a, _ in resolved:
            self.counts["alerts_resolved"] += 1
            if a.notified_firing:
                self.owed[a.id] = a
            elif not self.silenced(a.station, a.rule, int(self.clock() * 1000)):
                self.counts["notifications_damped"] += 1  # fired and cleared inside the interval
            assert a.resolved_ms is not None and a.resolved_value is not None
            lines.append(
                self._line(a, "resolved", a.resolved_ms, a.resolved_value, a.resolved_message or "")
            )
            log.info("alert %s resolved: %s", a.id, a.resolved_message)
        for a, _ in fired:
            log.warning("alert %s firing: %s", a.id, a.message)
        try:
            self.write_events(lines)
        except Exception:
            self.counts["write_errors"] += 1
            log.exception("alert points could not be handed to the writer")

    @staticmethod
    def _line(a: Alert, state: str, ts_ms: int, value: float, message: str) -> str:
        tags = {schema.STATION: a.station, schema.RULE: a.rule, schema.SEVERITY: a.severity}
        return encode_line(
            schema.ALERT, tags, {"state": state, "value": value, "message": message}, ts_ms
        )

    # notifications
    def silenced(self, station: str, rule: str, now_ms: int) -> bool:
        silences = any(s.matches(station, rule, now_ms) for s in self.silences)
        return silences or self.maintenance.holds(station, rule, now_ms)

    def _fleet_ms(self) -> int:
        """Fleet time for grouping and digests (wall time before any reading was seen)."""
        return self.fleet_now if self.fleet_now is not None else int(self.clock() * 1000)

    def _due(self, a: Alert, now_ms: int) -> Event | None:
        if self.silenced(a.station, a.rule, now_ms) or inhibited(a, self.active):
            return None
        if a.state == "resolved":
            return "resolved"
        if not a.notified_firing:
            return "firing"
        repeat = a.repeat_s if a.repeat_s is not None else self.settings.repeat_interval
        last = a.last_notified_ms or 0
        if a.acked_ms is None and repeat > 0 and now_ms - last >= repeat * 1000:
            return "reminder"
        return None

    def _hold(self, a: Alert) -> None:
        """Keep a restored firing alert as active (restored ones are not capped)."""
        self.active[a.key] = a
        self.per_station[a.station] = self.per_station.get(a.station, 0) + 1

    def _release(self, station: str) -> None:
        left = self.per_station.get(station, 0) - 1
        if left > 0:
            self.per_station[station] = left
        else:
            self.per_station.pop(station, None)

    async def _notify(self, now_ms: int) -> None:
        due: list[tuple[Alert, Event]] = []
        for a in [*self.active.values(), *self.owed.values()]:
            event = self._due(a, now_ms)
            if event is not None:
                due.append((a, event))
        fleet_ms = self._fleet_ms()
        for e in self.engine.take_episodes():
            self.digests.add(
                e.station, Entry(e.device, e.rule, e.severity, e.since_ms, e.cleared_ms)
            )
        digests = self.digests.due(fleet_ms)
        if not due and not digests and not self.grouper.groups and not self.digests.changed:
            return
        touched: list[Alert] = []  # marks changed without a page
        work = self._damp(due, now_ms, touched)
        jobs: list[tuple[str, Notification]] = []
        over: dict[str, str] = {}  # station -> severity of its first page over the budget
        for a, event in work:
            # a resolved page closes what was paged: bounded by the firing pages, never dropped
            if event == "resolved" or self.budget.take(a.station, now_ms):
                jobs += self._notifications(a, event)
                self._mark(a, event, now_ms)
                if event == "reminder":
                    self.unpaged.discard(a.id)  # the technicians know of it now
            else:
                over.setdefault(a.station, a.severity)
                if event == "firing":
                    self.unpaged.add(a.id)
                    a.notified_firing = True
                a.last_notified_ms = now_ms  # tried again as a reminder after the repeat interval
            touched.append(a)
        for station, severity in over.items():
            w = self.budget.to_announce(station)
            if w is not None:
                jobs += self._announcement(station, severity, w, now_ms)
        jobs = [(name, n) for name, n in jobs if not self._grouped(name, n, fleet_ms)]
        jobs += self.grouper.due(fleet_ms)  # after holding: a group_wait of 0 sends at once
        told: list[tuple[str, Notification]] = []  # after the pages: the return, then the digest
        for station, d in digests:
            if not self.silenced(station, DIGEST_RULE, now_ms):
                told += self._digest(station, d, fleet_ms)
        jobs += [(name, n) for name, n in told if not self._grouped(name, n, fleet_ms)]
        jobs += self.grouper.due(fleet_ms)
        kv: dict[str, object] = {}
        if self.grouper.changed:
            kv["groups"], self.grouper.changed = self.grouper.snapshot(), False
        if self.digests.changed:
            kv["digests"], self.digests.changed = self.digests.snapshot(), False
        if not touched and not jobs and not kv:
            return

        def persist(s: AlertStore) -> tuple[list[int], list[tuple[str, Notification]]]:
            for a in touched:
                s.update_alert(a)
            for key, value in kv.items():  # with the marks: a kill -9 keeps both or neither
                s.put(key, value)
            linked = self._group_links(s, jobs, now_ms)
            return [s.outbox_add(name, orjson.dumps(asdict(n))) for name, n in linked], linked

        ids, jobs = await self.store.call(persist)
        refused = [
            job_id
            for job_id, (name, n) in zip(ids, jobs, strict=True)
            if not self.dispatcher.submit(name, job_id, n)
        ]
        if refused:

            def forget(s: AlertStore) -> None:
                for i in refused:
                    s.outbox_done(i)

            await self.store.call(forget)

    def _group_links(
        self, s: AlertStore, jobs: list[tuple[str, Notification]], now_ms: int
    ) -> list[tuple[str, Notification]]:
        """Grouped pages of active alerts get one signed link to a page listing them all
        (in the store's thread: the group is a row there). One row per set of alerts, so a
        route's e-mail and SMS of one storm share it."""
        if self.signer is None:
            return jobs
        made: dict[tuple[int, ...], str] = {}
        out = []
        for name, n in jobs:
            if n.link or n.event not in ("firing", "reminder") or not any(n.alert_ids):
                out.append((name, n))
                continue
            link = made.get(n.alert_ids)
            if link is None:
                gid = link_groups.add(s, n.alert_ids, now_ms)
                link = made[n.alert_ids] = self.signer.group_url(gid, self.clock())
            out.append(
                (name, dataclasses.replace(n, link=link, sms=self.messages.sms(n.text, link)))
            )
        return out

    async def link_group(self, group_id: int) -> tuple[int, ...] | None:
        """The alerts a group link names (None: no such group, or pruned)."""
        return await self.store.call(lambda s: link_groups.get(s, group_id))

    def _grouped(self, name: str, n: Notification, fleet_ms: int) -> bool:
        """Held for its group (sent later, with the others); False: send it now."""
        return not n.stations and self.grouper.wants(n) and self.grouper.hold(name, n, fleet_ms)

    def _digest(
        self, station: str, d: StationDigest, now_ms: int
    ) -> list[tuple[str, Notification]]:
        """The one digest of a station back from silence, to the routes of its worst entry."""
        self.counts["digests"] += 1
        text = self.messages.digest(station, d, now_ms)
        severity = "critical" if any(e.severity == "critical" for e in d.entries) else "warning"
        reg = self.fleet.get(station)
        lasted_s = (max(e.cleared_ms for e in d.entries) - d.entries[0].since_ms) / 1000
        out = []
        for target in self.router.targets(station, severity):
            for name in target.notifiers:
                n = Notification(
                    event="digest", alert_id=0, station=station,
                    station_name=reg.name if reg else None,
                    district=self.fleet.district_of(station), device="", rule=DIGEST_RULE,
                    severity=severity, value=float(len(d.entries) + d.more), threshold="",
                    since_ms=d.entries[0].since_ms, ts_ms=now_ms,
                    duration_s=lasted_s,
                    text=text, sms=self.messages.sms(text), route=target.route,
                    emails=target.emails, phones=target.phones,
                )  # fmt: skip
                out.append((name, n))
        log.info("%s", text)
        return out

    def _mark(self, a: Alert, event: Event, now_ms: int) -> None:
        if event == "firing":
            a.notified_firing, a.last_notified_ms = True, now_ms
        elif event == "reminder":
            a.reminders, a.last_notified_ms = a.reminders + 1, now_ms
        else:
            a.notified_resolved = True
            self.owed.pop(a.id, None)

    def _settle(self, a: Alert, touched: list[Alert]) -> None:
        """Close an owed resolution without a page (never paged, or superseded)."""
        a.notified_resolved = True
        self.owed.pop(a.id, None)
        self.unpaged.discard(a.id)
        touched.append(a)

    def _damp(
        self, due: list[tuple[Alert, Event]], now_ms: int, touched: list[Alert]
    ) -> list[tuple[Alert, Event]]:
        """The pages to send now: per (station, rule), a round only once its interval passed,
        and per device only the newest state, if it is not what was last paged."""
        out: list[tuple[Alert, Event]] = []
        groups: dict[tuple[str, str], dict[AlertKey, list[tuple[Alert, Event]]]] = {}
        for a, event in due:
            if event == "reminder":
                out.append((a, event))
            elif event == "resolved" and a.id in self.unpaged:
                self._settle(a, touched)  # its firing was never paged: nor is its end
            else:
                groups.setdefault((a.station, a.rule), {}).setdefault(a.key, []).append((a, event))
        for (station, rule), by_key in groups.items():
            if not self.gate.open(station, rule, now_ms):
                continue  # held: looked at again next evaluation
            paged = False
            for events in by_key.values():
                firing = [a for a, e in events if e == "firing"]
                ended = sorted((a for a, e in events if e == "resolved"), key=lambda a: a.id)
                if firing and ended:
                    # paged firing, flapped, firing again: the technicians' picture is right
                    new = firing[-1]
                    for old in ended:
                        self._settle(old, touched)
                    new.notified_firing = True
                    new.last_notified_ms = max(o.last_notified_ms or 0 for o in ended) or now_ms
                    touched.append(new)
                    self.counts["notifications_damped"] += len(ended)
                elif firing:
                    out.append((firing[-1], "firing"))
                    paged = True
                else:
                    for old in ended[:-1]:
                        self._settle(old, touched)
                    out.append((ended[-1], "resolved"))
                    paged = True
            if paged:
                self.gate.paged(station, rule, now_ms)
        return out

    def _announcement(
        self, station: str, severity: str, w: Window, now_ms: int
    ) -> list[tuple[str, Notification]]:
        """The one message per budget window saying a station's pages are being dropped."""
        self.counts["budget_announcements"] += 1
        text = self.messages.budget(station, w.dropped, self.settings.page_budget)
        log.warning("%s", text)
        reg, district = self.fleet.get(station), self.fleet.district_of(station)
        out = []
        for target in self.router.targets(station, severity):
            for name in target.notifiers:
                n = Notification(
                    event="budget", alert_id=0, station=station,
                    station_name=reg.name if reg else None, district=district,
                    device="", rule=BUDGET_RULE, severity=severity, value=float(w.dropped),
                    threshold=str(self.settings.page_budget), since_ms=w.start_ms, ts_ms=now_ms,
                    duration_s=self.settings.page_budget_window, text=text,
                    sms=self.messages.sms(text), route=target.route, emails=target.emails,
                    phones=target.phones,
                )  # fmt: skip
                out.append((name, n))
        return out

    def _notifications(self, a: Alert, event: Event) -> list[tuple[str, Notification]]:
        if event == "resolved":
            assert a.resolved_ms is not None
            text, ts = a.resolved_message or "", a.resolved_ms
            duration = (a.resolved_ms - a.since_ms) / 1000
            value = a.resolved_value if a.resolved_value is not None else a.value
        else:
            now = self.fleet_now if self.fleet_now is not None else a.fired_ms
            ts, value = max(now, a.fired_ms), a.value
            duration = (ts - a.since_ms) / 1000
            text = self.messages.text(event, a, duration, ts)
        station = self.fleet.get(a.station)
        targets = self.router.targets(a.station, a.severity)
        link = self.signer.url(a.id, self.clock()) if self.signer is not None else ""
        out = []
        for target in targets:
            for name in target.notifiers:
                if event == "reminder" and not self.notifiers[name].reminders:
                    continue
                n = Notification(
                    event=event, alert_id=a.id, station=a.station,
                    station_name=station.name if station else None, district=a.district,
                    device=a.device, rule=a.rule, severity=a.severity, value=value,
                    threshold=a.threshold, since_ms=a.since_ms, ts_ms=ts, duration_s=duration,
                    text=text, sms=self.messages.sms(text, link), route=target.route,
                    emails=target.emails, phones=target.phones, link=link,
                )  # fmt: skip
                out.append((name, n))
        if not targets:
            self.counts["notifications_unrouted"] += 1
        return out

    async def announce(self, jobs: list[tuple[str, Notification]]) -> None:
        """Send notifications that belong to no alert (a digest), through the same outbox."""
        if not jobs:
            return
        ids = await self.store.call(
            lambda s: [s.outbox_add(name, orjson.dumps(asdict(n))) for name, n in jobs]
        )
        refused = [
            job_id
            for job_id, (name, n) in zip(ids, jobs, strict=True)
            if not self.dispatcher.submit(name, job_id, n)
        ]

        def forget(s: AlertStore) -> None:
            for i in refused:
                s.outbox_done(i)

        if refused:
            await self.store.call(forget)

    async def _job_done(self, job_id: int) -> None:
        await self.store.call(lambda s: s.outbox_done(job_id))

    # control (HTTP API)
    def find(self, alert_id: int) -> Alert | None:
        for a in self.active.values():
            if a.id == alert_id:
                return a
        return None

    async def ack(self, alert_id: int, by: str | None, via: str = "admin") -> Alert | None:
        """Acknowledge an active alert (stops its reminders); None when it is not active."""
        async with self._lock:
            a = self.find(alert_id)
            if a is None:
                return None
            if a.acked_ms is None:
                a.acked_ms, a.acked_by = int(self.clock() * 1000), by
                act = Action(0, a.acked_ms, "ack", by or via, via, a.id, station=a.station,
                             rule=a.rule)  # fmt: skip

                def save(s: AlertStore) -> None:
                    s.update_alert(a)
                    actions.record(s, act)

                await self.store.call(save)
            return a

    async def add_silence(self, s: Silence, via: str = "admin") -> Silence:
        async with self._lock:
            act = Action(0, s.created_ms, "silence", s.created_by or via, via, station=s.station,
                         rule=s.rule, comment=s.comment)  # fmt: skip

            def add(st: AlertStore) -> int:
                new_id = st.add_silence(s)
                actions.record(st, dataclasses.replace(act, silence_id=new_id))
                return new_id

            created = dataclasses.replace(s, id=await self.store.call(add))
            self.silences.append(created)
            return created

    async def delete_silence(self, silence_id: int, by: str = "admin", via: str = "admin") -> bool:
        async with self._lock:
            gone = next((s for s in self.silences if s.id == silence_id), None)
            where = (gone.station, gone.rule) if gone else (None, None)
            act = Action(0, int(self.clock() * 1000), "unsilence", by, via, silence_id=silence_id,
                         station=where[0], rule=where[1])  # fmt: skip

            def delete(s: AlertStore) -> bool:
                found = s.delete_silence(silence_id)
                if found:
                    actions.record(s, act)
                return found

            found = await self.store.call(delete)
            self.silences = [s for s in self.silences if s.id != silence_id]
            return found

    async def action_history(
        self, limit: int, alert_id: int | None, station: str | None, before: int | None
    ) -> list[Action]:
        return await self.store.call(lambda s: actions.history(s, limit, alert_id, station, before))

    async def get_alert(self, alert_id: int) -> Alert | None:
        """The alert, active or from the history."""
        return self.find(alert_id) or await self.store.call(lambda s: s.get_alert(alert_id))

    async def history(
        self, limit: int, station: str | None, rule: str | None, before: int | None
    ) -> list[Alert]:
        return await self.store.call(lambda s: s.history(limit, station, rule, before))

    def over_budget_by_station(self) -> dict[str, int]:
        """Pages held back by the page budget, per station."""
        return dict(self.budget.over)

    def stats(self) -> dict[str, float]:
        d = self.dispatcher
        own: dict[str, float] = self.replies.stats()
        for n in self.notifiers.values():
            if isinstance(n, Background):  # summed over the notifiers of a kind
                for k, v in n.stats().items():
                    own[k] = own.get(k, 0.0) + v
        return {
            **own,
            "alerts_active": float(len(self.active)),
            "alerts_fired": float(self.counts["alerts_fired"]),
            "alerts_resolved": float(self.counts["alerts_resolved"]),
            "alerts_acked_active": float(sum(a.acked_ms is not None for a in self.active.values())),
            "notifications_sent": float(d.sent),
            "notifications_failed": float(d.failed),
            "notifications_dropped": float(d.dropped),
            "notifications_retried": float(d.retried),
            "notifications_queued": float(d.pending()),
            "notifications_unrouted": float(self.counts["notifications_unrouted"]),
            "notifications_station_queue_full": float(d.station_full),
            "notifications_over_budget": float(sum(self.budget.over.values())),
            "notifications_damped": float(self.counts["notifications_damped"]),
            "notification_budget_announcements": float(self.counts["budget_announcements"]),
            "alerts_refused_station_full": float(self.counts["alerts_refused"]),
            "paging_stations_refused": float(self.budget.table.refused + self.gate.table.refused),
            "alert_write_errors": float(self.counts["write_errors"]),
            "alert_readings_out_of_order": float(self.engine.out_of_order),
            "alert_observe_errors": float(self.engine.observe_errors),
            "alerts_inhibited": float(sum(inhibited(a, self.active) for a in self.active.values())),
            "notifications_grouped": float(self.grouper.merged),
            "notifications_held": float(self.grouper.held),
            "notifications_group_full": float(self.grouper.full),
            "alert_digests": float(self.counts["digests"]),
            "alert_episodes_dropped": float(self.engine.episodes_dropped),
            "alert_digests_refused": float(self.digests.refused),
            "alert_devices_refused": float(self.engine.devices_refused),
            "device_status_refused": float(self.counts["status_refused"]),
            "stations_silent": float(sum(1 for k in self.active if k[2] == "station_silent")),
            "devices_offline": float(sum(1 for v in self.status.values() if not v)),
            "silences_active": float(
                sum(1 for s in self.silences if s.start_ms <= self.clock() * 1000 < s.end_ms)
            ),
        }


__all__ = ["AlertConfigError", "AlertService", "DeliveryError"]
