"""Rejected input kept for an operator: a bounded JSONL file plus the newest entries in memory."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from collector.private_files import open_private, private_dir, write_all
from collector.supervise import Spawn, unsupervised

log = logging.getLogger("collector.quarantine")
Entry = dict[str, Any]
# Rejected readings listed in one message's entry; the rest are only counted, so a message of
# 1,000 bad readings costs about one entry on disk, not 1,000 copies of its payload excerpt.
MAX_REJECTS_PER_ENTRY = 20
RETRY_S = 2.0  # after a disk error, entries not yet on disk are tried again this often
MAX_UNWRITTEN = 1000  # entries held for that retry; older ones are dropped (and counted)


class Quarantine:
    """Appends off the event loop via a bounded queue; a full queue is counted, not waited on.

    One entry per message: consecutive `add` calls for the same payload object are grouped.
    """

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        keep_recent: int,
        excerpt: int,
        on_write_error: Callable[[], None] | None = None,
    ) -> None:
        self.dir = private_dir(Path(directory))
        self.path = self.dir / "quarantine.jsonl"
        self.max_bytes = max_bytes
        self.excerpt = excerpt
        self.recent: deque[Entry] = deque(maxlen=keep_recent)
        self._queue: asyncio.Queue[Entry] = asyncio.Queue(maxsize=10_000)
        self._task: asyncio.Task[None] | None = None
        self._open: tuple[bytes, str, Entry] | None = None  # the entry `add` may still extend
        self._unwritten: list[Entry] = []  # refused by the disk, tried again
        self.on_write_error = on_write_error
        self.dropped = 0
        self.total = 0
        self.write_errors = 0
        self.last_error = ""  # the last write error, "" once a write succeeds again

    def add(
        self, reason: str, detail: str, topic: str, payload: bytes, received_ms: int, index: int
    ) -> None:
        """Record one rejected message or reading; never blocks, never raises."""
        self.total += 1
        reject = {"index": index, "reason": reason, "detail": detail}
        if self._open is not None and self._open[0] is payload and self._open[1] == topic:
            entry = self._open[2]
            entry["rejected"] += 1
            if len(entry["rejects"]) < MAX_REJECTS_PER_ENTRY:
                entry["rejects"].append(reject)
            return
        raw = payload[: self.excerpt]
        try:
            text: str | None = raw.decode("utf-8")
            b64 = None
        except UnicodeDecodeError:
            text, b64 = None, base64.b64encode(raw).decode()
        entry = {
            "received_ms": received_ms,
            "topic": topic[:300],
            "reason": reason,
            "detail": detail,
            "index": index,
            "payload": text,
            "payload_b64": b64,
            "truncated": len(payload) > self.excerpt,
            "rejected": 1,
            "rejects": [reject],
        }
        self.recent.append(entry)
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.dropped += 1  # still counted in the reject metrics and kept in `recent`
            self._open = None
            return
        self._open = (payload, topic, entry)

    def start(self, spawn: Spawn = unsupervised) -> None:
        self._task = spawn("quarantine-writer", self._writer)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()  # a write in progress finishes first (see _write_counted)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._drain()

    async def _drain(self) -> None:
        entries = self._take([])
        if entries or self._unwritten:
            await self._write_counted(entries)

    def _take(self, entries: list[Entry]) -> list[Entry]:
        while not self._queue.empty() and len(entries) < 1000:
            entries.append(self._queue.get_nowait())
        self._open = None  # taken entries are not changed any more (a thread writes them)
        return entries

    async def _writer(self) -> None:
        while True:
            first: list[Entry] = []
            if self._unwritten:
                with contextlib.suppress(TimeoutError):
                    first.append(await asyncio.wait_for(self._queue.get(), RETRY_S))
            else:
                first.append(await self._queue.get())
            await self._write_counted(self._take(first))

    async def _write_counted(self, entries: list[Entry]) -> None:
        batch, self._unwritten = self._unwritten + entries, []
        job = asyncio.ensure_future(asyncio.to_thread(self._write, batch))
        try:
            ok = await asyncio.shield(job)
        except asyncio.CancelledError:
            # Stopping: the thread writes on regardless, so wait for it before the final drain.
            self._settle(batch, await job)
            raise
        self._settle(batch, ok)

    def _settle(self, batch: list[Entry], ok: bool) -> None:
        if ok:
            return
        self.write_errors += 1  # counted here, on the loop (the metrics are not thread-safe)
        self._unwritten = batch[-MAX_UNWRITTEN:]
        self.dropped += len(batch) - len(self._unwritten)
        if self.on_write_error is not None:
            self.on_write_error()

    def _write(self, entries: list[Entry]) -> bool:
        """Append to the file; False on a disk error (logged, never raised)."""
        data = b"".join(orjson.dumps(e) + b"\n" for e in entries)
        try:
            if self.path.exists() and self.path.stat().st_size + len(data) > self.max_bytes:
                self.path.replace(self.path.with_suffix(".jsonl.1"))  # keep one older file
            fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                size = os.fstat(fd).st_size
                try:
                    write_all(fd, data)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, size)  # no half line for the next reader to trip on
                    raise
            finally:
                os.close(fd)
        except OSError as exc:
            if not self.last_error:
                log.error(
                    "quarantine: cannot write %s (%s); entries kept in memory", self.path, exc
                )
            self.last_error = str(exc)[:300]
            return False
        self.last_error = ""
        return True

    def query(self, limit: int = 100, reason: str | None = None) -> list[Entry]:
        """The newest rejections first (one per listed reading), optionally of one reason."""
        items: list[Entry] = []
        for entry in reversed(self.recent):
            base = {k: v for k, v in entry.items() if k != "rejects"}
            for r in entry["rejects"]:
                if reason is None or r["reason"] == reason:
                    items.append({**base, **r})
            if len(items) >= limit:
                break
        return items[:limit]
