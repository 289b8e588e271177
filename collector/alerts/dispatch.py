"""Notification delivery: a bounded queue and a worker per notifier, retries with backoff."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from collector.alerts.model import Notification
from collector.alerts.notifiers import DeliveryError, Notifier
from collector.alerts.settings import Retry
from collector.supervise import Spawn, unsupervised

log = logging.getLogger("collector.alerts")

Job = tuple[int, Notification]  # outbox id, notification


class Dispatcher:
    """Never blocks the caller: `submit` refuses (and counts) when a queue is full."""

    def __init__(
        self,
        notifiers: dict[str, Notifier],
        retry: dict[str, Retry],
        queue_size: int,
        done: Callable[[int], Awaitable[None]],
    ) -> None:
        self.notifiers = notifiers
        self.retry = retry
        self.done = done  # called with the outbox id once a job is delivered or given up
        self.queues: dict[str, asyncio.Queue[Job]] = {
            name: asyncio.Queue(maxsize=queue_size) for name in notifiers
        }
        self.tasks: list[asyncio.Task[None]] = []
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.retried = 0

    def submit(self, notifier: str, job_id: int, n: Notification) -> bool:
        try:
            self.queues[notifier].put_nowait((job_id, n))
            return True
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("alert notifier %s: queue full, notification dropped", notifier)
            return False

    def pending(self) -> int:
        return sum(q.qsize() for q in self.queues.values())

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
