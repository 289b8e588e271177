"""One thread drives every station gateway's MQTT socket with poll(): no thread per client."""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence

from simulator.dialects import StationLink

_READ = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP
_MISC_EVERY_S = 1.0


class Network:
    """Services all links: reads PUBACKs, flushes writes, reconnects, keeps alive."""

    def __init__(self, links: Sequence[StationLink]) -> None:
        self.links = list(links)
        self._last_misc = 0.0

    def service(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for socket events and handle them."""
        poller = select.poll()
        by_fd: dict[int, StationLink] = {}
        pending: list[StationLink] = []
        for link in self.links:
            fd = link.fileno()
            if fd is None:
                continue
            by_fd[fd] = link
            poller.register(fd, _READ | (select.POLLOUT if link.wants_write() else 0))
            if link.has_pending_read():
                pending.append(link)
        wait_ms = 0 if pending else max(0, int(timeout_s * 1000))
        if by_fd:
            events = poller.poll(wait_ms)
        else:
            time.sleep(wait_ms / 1000)
            events = []
        for fd, ev in events:
            link = by_fd[fd]
            if ev & select.POLLOUT:
                link.service_write()
            if ev & _READ:
                link.service_read()
        for link in pending:
            link.service_read()
        now = time.monotonic()
        if now - self._last_misc >= _MISC_EVERY_S:
            self._last_misc = now
            for link in self.links:
                link.tick(now)
        else:
            for link in self.links:
                if link.state in ("idle", "connecting"):
                    link.tick(now)

    def wait_until(self, done: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
        """Service the network until `done()` or the timeout; True when done."""
        deadline = time.monotonic() + timeout_s
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.service(min(step_s, left))
        return True
