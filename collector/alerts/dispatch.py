"""Notification delivery: per notifier, fair per-station queues, a worker, retries with backoff."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from collector.alerts.model import Notification
from collector.alerts.notifiers import DeliveryError, Notifier, Retry
from collector.supervise import Spawn, unsupervised

log = logging.getLogger("collector.alerts")

Job = tuple[int, Notification]  # outbox id, notification


class StationQueues:
    """One FIFO per station, served round-robin; bounded per station and in total."""

    def __init__(self, per_station: int, total: int) -> None:
        self.per_station = per_station
        self.total = total  # also bounds the stations held: an empty queue is dropped
        self._queues: dict[str, deque[Job]] = {}  # insertion order is the round-robin turn
        self._size = 0
        self._ready = asyncio.Event()
        self._unfinished = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def put(self, station: str, job: Job) -> str | None:
        """Queue `job`; the reason it was refused otherwise ('station_full' or 'full')."""
        q = self._queues.get(station)
        if q is not None and len(q) >= self.per_station:
            return "station_full"
        if self._size >= self.total:
            return "full"
        if q is None:
            q = self._queues[station] = deque()
        q.append(job)
        self._size += 1
        self._unfinished += 1
        self._idle.clear()
        self._ready.set()
        return None

    async def get(self) -> Job:
        """The next station's oldest job, stations taking turns."""
        while not self._queues:
            self._ready.clear()
            await self._ready.wait()
        station = next(iter(self._queues))
        q = self._queues.pop(station)
        job = q.popleft()
        if q:
            self._queues[station] = q  # to the back of the turn
        self._size -= 1
        return job

    def task_done(self) -> None:
        self._unfinished -= 1
        if self._unfinished == 0:
            self._idle.set()

    async def join(self) -> None:
        await self._idle.wait()

    def qsize(self) -> int:
        return self._size

    def unfinished(self) -> int:
        """Jobs queued or still being delivered."""
        return self._unfinished

    def stations(self) -> int:
        return len(self._queues)


class Dispatcher:
    """Never blocks the caller: `submit` refuses (and counts) when a queue is full."""

    def __init__(
        self,
        notifiers: dict[str, Notifier],
        retry: dict[str, Retry],
        queue_size: int,
        done: Callable[[int], Awaitable[None]],
        station_queue_size: int | None = None,
    ) -> None:
        self.notifiers = notifiers
        self.retry = retry
        self.done = done  # called with the outbox id once a job is delivered or given up
        per_station = station_queue_size or queue_size
        self.queues: dict[str, StationQueues] = {
            name: StationQueues(per_station, queue_size) for name in notifiers
        }
        self.tasks: list[asyncio.Task[None]] = []
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.station_full = 0  # of `dropped`: the station's own queue was full
        self.retried = 0

    def submit(self, notifier: str, job_id: int, n: Notification) -> bool:
        refused = self.queues[notifier].put(n.station, (job_id, n))
        if refused is None:
            return True
        self.dropped += 1
        if refused == "station_full":
            self.station_full += 1
        log.warning(
            "alert notifier %s: %s queue full, notification for %s dropped",
            notifier, "station" if refused == "station_full" else "notifier", n.station,
        )  # fmt: skip
        return False

    def pending(self) -> int:
        """Jobs queued, not yet taken by a worker."""
        return sum(q.qsize() for q in self.queues.values())

    def undelivered(self) -> int:
        """Jobs queued or being delivered (0: every notification handed on is settled)."""
        return sum(q.unfinished() for q in self.queues.values())

    def start(self, spawn: Spawn = unsupervised) -> None:
        for name in self.notifiers:
            self.tasks.append(spawn(f"alert-notify-{name}", functools.partial(self._worker, name)))

    async def stop(self, drain_timeout_s: float) -> None:
        """Deliver what is queued for up to `drain_timeout_s`; the rest stays in the outbox."""
        if self.tasks:
            joins = [asyncio.create_task(q.join()) for q in self.queues.values()]
            await asyncio.wait(joins, timeout=drain_timeout_s)
            for t in [*joins, *self.tasks]:
                t.cancel()
            await asyncio.gather(*joins, *self.tasks, return_exceptions=True)
            self.tasks.clear()
        for notifier in self.notifiers.values():
            await notifier.close()

    async def _worker(self, name: str) -> None:
        q = self.queues[name]
        notifier, retry = self.notifiers[name], self.retry[name]
        while True:
            job_id, n = await q.get()
            try:
                await self._deliver(notifier, retry, n)
                await self.done(job_id)
            except asyncio.CancelledError:
                raise  # the job stays in the outbox and is sent after a restart
            except Exception:
                self.failed += 1
                log.exception("alert notifier %s: unexpected error", name)
            finally:
                q.task_done()

    async def _deliver(self, notifier: Notifier, r: Retry, n: Notification) -> None:
        delay = r.backoff_s
        for attempt in range(r.retries + 1):
            try:
                # the notifiers time out themselves; this bounds one that does not
                await asyncio.wait_for(notifier.send(n), r.timeout_s + 5)
                self.sent += 1
                return
            except (DeliveryError, TimeoutError) as exc:
                permanent = isinstance(exc, DeliveryError) and exc.permanent
                if permanent or attempt == r.retries:
                    self.failed += 1
                    log.warning(
                        "alert %s %s via %s failed after %d attempt(s): %s",
                        n.alert_id, n.event, notifier.name, attempt + 1, exc,
                    )  # fmt: skip
                    return
                self.retried += 1
                await asyncio.sleep(min(delay, r.max_backoff_s))
                delay *= 2
