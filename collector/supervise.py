"""Background tasks under one supervisor: a crash is logged, counted, shown and restarted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("collector.supervise")

Factory = Callable[[], Coroutine[Any, Any, None]]
Spawn = Callable[[str, Factory], "asyncio.Task[None]"]


def unsupervised(name: str, factory: Factory) -> asyncio.Task[None]:
    """A plain task, for parts used on their own (tests, tools)."""
    return asyncio.create_task(factory(), name=name)


@dataclass(slots=True)
class TaskState:
    """What /healthz and /metrics show about one supervised task."""

    restarts: int = 0
    last_error: str = ""
    failed_at: float | None = None  # monotonic time of the last crash


class Supervisor:
    """Restarts a crashed task with a capped backoff; cancellation is a normal stop."""

    def __init__(
        self,
        *,
        min_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        failing_for_s: float = 60.0,
        on_restart: Callable[[str], None] | None = None,
    ) -> None:
        self.min_backoff_s = min_backoff_s
        self.max_backoff_s = max_backoff_s
        self.failing_for_s = failing_for_s  # /healthz shows a crash this long after it
        self.on_restart = on_restart
        self.tasks: dict[str, TaskState] = {}
        self._closed = asyncio.Event()

    def spawn(self, name: str, factory: Factory) -> asyncio.Task[None]:
        """Run `factory()` as task `name`, again after each unexpected exception."""
        self.tasks.setdefault(name, TaskState())
        return asyncio.create_task(self._run(name, factory), name=name)

    def close(self) -> None:
        """No more restarts: a task waiting to restart ends (used at shutdown)."""
        self._closed.set()

    async def _run(self, name: str, factory: Factory) -> None:
        state = self.tasks[name]
        delay = self.min_backoff_s
        while not self._closed.is_set():
            started = time.monotonic()
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if time.monotonic() - started > self.max_backoff_s:
                    delay = self.min_backoff_s  # it ran well for a while: a fresh fault
                log.exception("task %s failed; restarting in %.1f s", name, delay)
                state.restarts += 1
                state.last_error = f"{type(exc).__name__}: {exc}"[:300]
                state.failed_at = time.monotonic()
                if self.on_restart is not None:
                    self.on_restart(name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), delay)
            delay = min(delay * 2, self.max_backoff_s)

    def failing(self) -> dict[str, str]:
        """Tasks that crashed in the last `failing_for_s`, with their last error."""
        now = time.monotonic()
        return {
            name: s.last_error
            for name, s in self.tasks.items()
            if s.failed_at is not None and now - s.failed_at < self.failing_for_s
        }

    def report(self) -> dict[str, dict[str, Any]]:
        """Per task: restarts, last error, failing now (for /healthz)."""
        failing = self.failing()
        return {
            name: {"restarts": s.restarts, "last_error": s.last_error, "failing": name in failing}
            for name, s in sorted(self.tasks.items())
        }
