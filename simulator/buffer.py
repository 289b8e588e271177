"""A bounded FIFO of encoded readings in an append-only JSONL file, as station firmware keeps."""

from __future__ import annotations

from collections import deque
from pathlib import Path

_COMPACT_BYTES = 1 << 20


class DiskBuffer:
    """Readings waiting for a PUBACK; only line offsets stay in memory, the readings are on disk."""

    def __init__(self, path: Path, max_items: int) -> None:
        if max_items < 1:
            raise ValueError("the buffer must hold at least one reading")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_items = max_items
        # a run starts empty: its counts must not include a previous run's readings
        self._file = path.open("w+b")
        self._offsets: deque[int] = deque()
        self._end = 0

    def __len__(self) -> int:
        return len(self._offsets)

    def append(self, line: bytes) -> bool:
        """Add one encoded reading; True when the oldest had to be dropped to make room."""
        dropped = False
        if len(self._offsets) >= self.max_items:
            self._offsets.popleft()
            dropped = True
        self._file.seek(self._end)
        self._file.write(line + b"\n")
        self._offsets.append(self._end)
        self._end += len(line) + 1
        self._maybe_compact()
        return dropped

    def read(self, start: int, count: int) -> list[bytes]:
        """Up to `count` readings from position `start` (0 = oldest), oldest first."""
        stop = min(len(self._offsets), start + count)
        if start >= stop:
            return []
        self._file.flush()
        self._file.seek(self._offsets[start])
        return [self._file.readline().rstrip(b"\n") for _ in range(start, stop)]

    def pop(self, count: int) -> None:
        """Forget the `count` oldest readings (they were acknowledged)."""
        for _ in range(min(count, len(self._offsets))):
            self._offsets.popleft()
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        if not self._offsets:
            self._file.seek(0)
            self._file.truncate()
            self._end = 0
            return
        head = self._offsets[0]
        if head < _COMPACT_BYTES:
            return
        self._file.flush()
        self._file.seek(head)
        rest = self._file.read(self._end - head)
        self._file.seek(0)
        self._file.write(rest)
        self._file.truncate()
        self._offsets = deque(o - head for o in self._offsets)
        self._end -= head

    def close(self) -> None:
        self._file.close()
