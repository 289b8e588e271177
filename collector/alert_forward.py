"""With `--workers N`, every worker's readings reach the one alert engine, in worker 0.

A station's readings are spread over the workers by the shared subscription, so each
engine would see part of its stream (and fire twice, or never). Workers 1..N-1 run
without an alert engine and forward each accepted reading to worker 0 over a Unix socket;
worker 0 feeds them to its engine beside its own. Rules are judged on reading timestamps,
so the merge order does not matter (a reading older than its device's newest is skipped,
as for any late reading).

Frames: a 4-byte big-endian length, then an orjson array of
`[station, kind, device, ts_ms, fields]`, the fields cut to those the rules name (the
engine needs no more; a kind no rule reads still tells silence and ordering). The hot path
only appends to a bounded list; a full list is counted (`dropped`) and never blocks ingest. Alert
evaluation is best effort across processes: readings in a buffer or frame lost with a
worker (or while worker 0 restarts) are counted, not retried; their points are in
InfluxDB all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from collector.ingest.readings import Reading

log = logging.getLogger("collector.alert_forward")
SOCKET_ENV = "SOLARWATER_COLLECTOR_ALERT_SOCKET"  # set by `--workers` for its children
MAX_FRAME = 64 * 1024**2
_LEN = struct.Struct("!I")


def socket_path(data_dir: Path) -> str:
    """The group's socket: in the shared data folder, or /tmp when that path is too long."""
    path = str(Path(data_dir).resolve() / "alerts.sock")
    if len(path.encode()) <= 100:  # sun_path is 108 bytes
        return path
    digest = hashlib.sha256(path.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"solarwater-alerts-{digest}.sock")


class AlertForwarder:
    """Workers 1..N-1: batches readings to worker 0; bounded, never blocks the caller."""

    def __init__(
        self,
        path: str,
        needs: dict[str, frozenset[str]],
        max_buffered: int = 50_000,
        interval_s: float = 0.1,
    ) -> None:
        self.path = path
        self.needs = needs  # per kind, the fields the rules name
        self.max_buffered = max_buffered
        self.interval_s = interval_s
        self.sent = 0
        self.dropped = 0
        self.connected = False
        self._buf: list[tuple[Any, ...]] = []
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    def add_many(self, readings: list[Reading]) -> None:
        """Hot path: keep the readings for the next frame; what does not fit is counted."""
        room = self.max_buffered - len(self._buf)
        if room < len(readings):
            self.dropped += len(readings) - max(room, 0)
            readings = readings[: max(room, 0)]
        get = self.needs.get
        for r in readings:
            f = r.fields
            cut = {k: f[k] for k in get(r.kind, ()) if k in f}
            self._buf.append((r.station, r.kind, r.device, r.ts_ms, cut))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-forward")

    async def stop(self, timeout: float = 3.0) -> None:
        """Send what is buffered (bounded wait), then close."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._send(), timeout)
        self.dropped += len(self._buf)
        self._buf = []
        if self._writer is not None:
            self._writer.close()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._send()
                delay = 0.1
            except OSError as exc:
                if self.connected:
                    log.warning("alert forwarding to worker 0 lost: %s; retrying", exc)
                self.connected = False
                self._writer = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _send(self) -> None:
        if self._writer is None or self._writer.is_closing():
            _, self._writer = await asyncio.open_unix_connection(self.path)
            self.connected = True
            log.info("forwarding readings to the alert engine in worker 0 (%s)", self.path)
        if not self._buf:
            return
        batch, self._buf = self._buf, []
        body = orjson.dumps(batch)
        self._writer.write(_LEN.pack(len(body)) + body)
        try:
            await self._writer.drain()
        except OSError:
            self.dropped += len(batch)  # the frame may be half sent: counted, not resent
            raise
        self.sent += len(batch)


class AlertForwardServer:
    """Worker 0: receives the other workers' readings and feeds them to the alert engine."""

    def __init__(self, path: str, observe: Callable[[list[Reading]], None]) -> None:
        self.path = path
        self.observe = observe
        self.received = 0
        self.bad_frames = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # left by a worker 0 that was killed
        self._server = await asyncio.start_unix_server(self._client, self.path)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (n,) = _LEN.unpack(await reader.readexactly(4))
                if n > MAX_FRAME:
                    raise ValueError(f"frame of {n} bytes")
                self._feed(orjson.loads(await reader.readexactly(n)))
        except asyncio.IncompleteReadError:
            pass  # the worker closed its end
        except (ValueError, TypeError) as exc:
            self.bad_frames += 1
            log.error("bad frame from a worker on %s: %s; dropping the link", self.path, exc)
        except OSError:
            pass
        finally:
            writer.close()

    def _feed(self, batch: list[list[Any]]) -> None:
        self.observe([Reading(st, None, kind, dev, ts, None, f) for st, kind, dev, ts, f in batch])
        self.received += len(batch)
