"""Rejected input kept for an operator: a bounded JSONL file plus the newest entries in memory."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections import deque
from pathlib import Path
from typing import Any

import orjson

Entry = dict[str, Any]


class Quarantine:
    """Appends off the event loop via a bounded queue; a full queue is counted, not waited on."""

    def __init__(self, directory: Path, max_bytes: int, keep_recent: int, excerpt: int) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "quarantine.jsonl"
        self.max_bytes = max_bytes
        self.excerpt = excerpt
        self.recent: deque[Entry] = deque(maxlen=keep_recent)
        self._queue: asyncio.Queue[Entry] = asyncio.Queue(maxsize=10_000)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.total = 0

    def add(
        self, reason: str, detail: str, topic: str, payload: bytes, received_ms: int, index: int
    ) -> None:
        """Record one rejected message or reading; never blocks, never raises."""
        raw = payload[: self.excerpt]
        try:
            text: str | None = raw.decode("utf-8")
            b64 = None
        except UnicodeDecodeError:
            text, b64 = None, base64.b64encode(raw).decode()
        entry: Entry = {
            "received_ms": received_ms,
            "topic": topic[:300],
            "reason": reason,
            "detail": detail,
            "index": index,
            "payload": text,
            "payload_b64": b64,
            "truncated": len(payload) > self.excerpt,
        }
        self.total += 1
        self.recent.append(entry)
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.dropped += 1  # still counted in the reject metrics and kept in `recent`

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="quarantine-writer")

    async def stop(self) -> None:
        if self._task is None:
            return
        await self._drain()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _drain(self) -> None:
        entries = []
        while not self._queue.empty():
            entries.append(self._queue.get_nowait())
        if entries:
            await asyncio.to_thread(self._write, entries)

    async def _writer(self) -> None:
        while True:
            entries = [await self._queue.get()]
            while not self._queue.empty() and len(entries) < 1000:
                entries.append(self._queue.get_nowait())
            await asyncio.to_thread(self._write, entries)

    def _write(self, entries: list[Entry]) -> None:
        data = b"".join(orjson.dumps(e) + b"\n" for e in entries)
        if self.path.exists() and self.path.stat().st_size + len(data) > self.max_bytes:
            self.path.replace(self.path.with_suffix(".jsonl.1"))  # keep one older file
        with self.path.open("ab") as f:
            f.write(data)

    def query(self, limit: int = 100, reason: str | None = None) -> list[Entry]:
        """The newest entries first, optionally of one reason."""
        items = [e for e in reversed(self.recent) if reason is None or e["reason"] == reason]
        return items[:limit]
