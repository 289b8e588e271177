"""Keep-alives our own client publishes for gateways that stop talking without them (QoS 0)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from collector.broker.link import Source

Keepalives = Callable[[bool], list[tuple[str, bytes]]]
_LOOK_S = 0.2  # how soon a new subscription gets its fresh keep-alive


async def keep_alive(source: Source, keepalives: Keepalives, interval_s: float) -> None:
    """Publish `keepalives(fresh)` every `interval_s` while connected; `fresh` first after each
    new subscription (each connect), so the gateway republishes all it has."""
    subscribed = 0
    last = 0.0
    while True:
        now = time.monotonic()
        if source.connected and source.subscriptions:
            fresh = source.subscriptions != subscribed
            if fresh or now - last >= interval_s:
                subscribed, last = source.subscriptions, now
                for topic, payload in keepalives(fresh):
                    source.publish(topic, payload, 0, False)
        await asyncio.sleep(min(_LOOK_S, interval_s))
