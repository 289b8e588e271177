"""What a station speaks on MQTT: one link factory per dialect of the fleet file.

A dialect's link takes each tick's readings (`offer`) and drives its own MQTT client; the
runner and the network loop see only the StationLink face. Adding a dialect is one
factory and one line in DIALECTS.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from devices.errors import ConfigError
from devices.kind import FieldValue
from devices.stations import Station
from simulator.buffer import DiskBuffer
from simulator.device_queue import DeviceQueue
from simulator.gateway_link import GatewayLink
from simulator.mqtt_url import BrokerSettings
from simulator.summary import Summary
from simulator.venus_gx import VenusLink


class StationLink(Protocol):
    """One station's connection as the runner and the network loop drive it."""

    dialect: str
    state: str
    refused: bool
    last_error: str
    username: str | None
    client_id: str
    offline_acked: bool

    @property
    def idle(self) -> bool: ...

    def lagging(self) -> bool: ...

    def ready(self) -> bool: ...

    def offer(self, ts: float, readings: dict[str, dict[str, FieldValue]]) -> None: ...

    def pump(self) -> None: ...

    def unsent(self) -> int: ...

    def close_buffers(self) -> None: ...

    def connect(self) -> None: ...

    def cut_link(self) -> None: ...

    def restore_link(self) -> None: ...

    def begin_close(self) -> None: ...

    def finish_close(self) -> None: ...

    def tick(self, now: float) -> None: ...

    def fileno(self) -> int | None: ...

    def wants_write(self) -> bool: ...

    def has_pending_read(self) -> bool: ...

    def service_read(self) -> None: ...

    def service_write(self) -> None: ...


@dataclass(frozen=True)
class LinkContext:
    """What every dialect's link is built from, beside its station."""

    prefix: str
    broker: BrokerSettings
    summary: Summary
    window: int
    buffer_max: int
    state_dir: Path
    record: bool
    tls: ssl.SSLContext | None
    username: str | None
    password: SecretStr | None


LinkFactory = Callable[[Station, LinkContext], StationLink]


def native_link(st: Station, ctx: LinkContext, wire: str = "native") -> StationLink:
    """Our JSON on `{prefix}/{station}/{kind}/{device}/telemetry`, QoS 1, buffered on disk."""
    queues = [
        DeviceQueue(
            st.id,
            d.kind,
            d.id,
            ctx.prefix,
            DiskBuffer(ctx.state_dir / f"{st.id}-{d.id}.jsonl", ctx.buffer_max),
            ctx.summary,
            ctx.record,
            wire,
        )
        for d in st.devices  # the devices the registry lists, each on its own topic
    ]
    return GatewayLink(
        st.id,
        queues,
        ctx.prefix,
        ctx.broker,
        ctx.summary,
        ctx.window,
        ctx.tls,
        username=ctx.username,
        password=ctx.password,
    )


def venus_link(st: Station, ctx: LinkContext) -> StationLink:
    """A Victron GX: `N/<portal>/...` at QoS 0 while kept alive (simulator/venus_gx.py)."""
    return VenusLink(st, ctx.prefix, ctx.broker, ctx.summary, ctx.tls, ctx.username, ctx.password)


def senml_link(st: Station, ctx: LinkContext) -> StationLink:
    """A SenML logger: packs on `.../senml`, QoS 1, its backlog buffered as native stations do."""
    return native_link(st, ctx, "senml")


# One line per dialect.
DIALECTS: dict[str, LinkFactory] = {
    "native": native_link,
    "venus": venus_link,
    "senml": senml_link,
}


def make_link(st: Station, dialect: str, ctx: LinkContext) -> StationLink:
    """The link of `st` speaking `dialect` (the fleet's, or the run's --dialect)."""
    factory = DIALECTS.get(dialect)
    if factory is None:
        known = ", ".join(DIALECTS)
        raise ConfigError(f"station {st.id}: the simulator has no dialect {dialect!r} ({known})")
    return factory(st, ctx)
