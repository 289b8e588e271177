"""Hand-off of MQTT messages from the protocol to the consumer, both in the event loop."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True, eq=False)
class Inbound:
    """One received message; `generation` names the connection it came on (acks are per link).

    Not frozen: a frozen dataclass's __init__ costs ~5x more, once per message. Treat as
    read-only; identity is what matters (eq=False)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    received_ms: int
    generation: int


async def _wait(waiter: asyncio.Future[None], timeout: float | None) -> bool:
    """Wait for a wake-up; False when `timeout` passed first."""
    if timeout is None:
        await waiter
        return True
    try:
        await asyncio.wait_for(waiter, timeout)
    except TimeoutError:
        return False
    return True


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class LoopIntake:
    """The source's hand-off: the protocol and the consumer share the loop, no lock.

    Bounded by back-pressure: at `max_items` the source stops reading its socket (TCP then
    holds the broker back) and reads again once the consumer has taken half; counted.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_items: int) -> None:
        self._loop = loop
        self._items: deque[Inbound] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.max_items = max_items
        self.full_events = 0
        self.closed = False
        self.paused = False
        self.on_pause: Callable[[bool], None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put_many(self, items: list[Inbound]) -> None:
        """Called by the protocol in the loop, one call per chunk of bytes received."""
        self._items.extend(items)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if len(self._items) >= self.max_items and not self.paused:
            self.full_events += 1
            self._set_paused(True)

    async def get_many(self, limit: int, timeout: float | None = None) -> list[Inbound]:
        """At least one item, at most `limit`, in arrival order; none after `timeout`."""
        while not self._items:
            waiter = self._waiter = self._loop.create_future()
            if not await _wait(waiter, timeout):
                return []
        items = self._items
        n = min(limit, len(items))
        out = [items.popleft() for _ in range(n)]
        if self.paused and len(items) <= self.max_items // 2:
            self._set_paused(False)
        return out

    def _set_paused(self, paused: bool) -> None:
        self.paused = paused
        if self.on_pause is not None:
            self.on_pause(paused)

    def close(self) -> None:
        self.closed = True
