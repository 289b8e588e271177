"""An append-only, fsync'd disk spool of line-protocol batches, replayed in order.

Records are `<len, crc32, n_readings>` + the batch's lines. The head position is
persisted after each replayed chunk; a crash between a write and that persist
replays the chunk again, which rewrites the same points (idempotent by design).
Blocking calls: run them with asyncio.to_thread.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

_HEADER = struct.Struct("<IIi")


@dataclass(frozen=True, slots=True)
class Position:
    """A place in the spool: segment number and byte offset."""

    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """Records read from the head, and where the head goes once they are written."""

    lines: list[str]
    readings: int
    end: Position


class Spool:
    """Bounded by `max_bytes`; `append` refuses (returns False) rather than drop anything."""

    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._head = Position(0, 0)
        self._tail_seg = 0
        self._sizes: dict[int, int] = {}
        self._readings = 0
        self._open()

    # --- layout -------------------------------------------------------------
    def _seg_path(self, n: int) -> Path:
        return self.dir / f"{n:010d}.seg"

    def _open(self) -> None:
        head_file = self.dir / "head"
        if head_file.exists():
            seg, off = head_file.read_text().split()
            self._head = Position(int(seg), int(off))
        segments = sorted(int(p.stem) for p in self.dir.glob("*.seg"))
        for n in segments:
            if n < self._head.segment:
                self._seg_path(n).unlink()
                continue
            size, readings = self._scan(n, self._head.offset if n == self._head.segment else 0)
            self._sizes[n] = size
            self._readings += readings
        if self._sizes:
            self._tail_seg = max(self._sizes)
        else:
            self._tail_seg = self._head.segment
            if self._head.offset:
                self._head = Position(self._head.segment + 1, 0)
                self._tail_seg = self._head.segment

    def _scan(self, n: int, start: int) -> tuple[int, int]:
        """Check a segment's records; cut a torn tail left by a crash. Returns (size, readings)."""
        path = self._seg_path(n)
        data = path.read_bytes()
        pos, readings, valid_end = 0, 0, 0
        while pos + _HEADER.size <= len(data):
            length, crc, count = _HEADER.unpack_from(data, pos)
            body = data[pos + _HEADER.size : pos + _HEADER.size + length]
            if len(body) != length or zlib.crc32(body) != crc:
                break
            pos += _HEADER.size + length
            valid_end = pos
            if pos > start:
                readings += count
        if valid_end != len(data):
            with path.open("r+b") as f:
                f.truncate(valid_end)
                os.fsync(f.fileno())
        return valid_end, readings

    # --- state --------------------------------------------------------------
    @property
    def bytes(self) -> int:
        """Bytes not yet replayed."""
        return sum(self._sizes.values()) - (
            self._head.offset if self._head.segment in self._sizes else 0
        )

    @property
    def readings(self) -> int:
        """Readings not yet replayed."""
        return self._readings

    @property
    def empty(self) -> bool:
        return self.bytes == 0

    # --- operations ---------------------------------------------------------
    def append(self, lines: list[str], readings: int) -> bool:
        """Durably add one batch; False when the spool is full (nothing written)."""
        body = "\n".join(lines).encode()
        record = _HEADER.pack(len(body), zlib.crc32(body), readings) + body
        with self._lock:
            if self.bytes + len(record) > self.max_bytes:
                return False
            if self._sizes.get(self._tail_seg, 0) >= self.segment_bytes:
                self._tail_seg += 1
            path = self._seg_path(self._tail_seg)
            with path.open("ab") as f:
                f.write(record)
                f.flush()
                os.fsync(f.fileno())
            if self._tail_seg not in self._sizes:
                self._fsync_dir()
            self._sizes[self._tail_seg] = self._sizes.get(self._tail_seg, 0) + len(record)
            self._readings += readings
            return True

    def read_chunk(self, max_lines: int) -> Chunk | None:
        """Whole records from the head, at least one, up to about `max_lines` lines."""
        with self._lock:
            seg, off = self._head.segment, self._head.offset
            lines: list[str] = []
            readings = 0
            while seg <= self._tail_seg and len(lines) < max_lines:
                size = self._sizes.get(seg, 0)
                if off >= size:
                    if seg == self._tail_seg:
                        break
                    seg, off = seg + 1, 0
                    continue
                with self._seg_path(seg).open("rb") as f:
                    f.seek(off)
                    data = f.read(size - off)
                pos = 0
                while pos < len(data) and len(lines) < max_lines:
                    length, _crc, count = _HEADER.unpack_from(data, pos)
                    body = data[pos + _HEADER.size : pos + _HEADER.size + length]
                    lines.extend(body.decode().split("\n") if body else [])
                    readings += count
                    pos += _HEADER.size + length
                off += pos
            if not lines and readings == 0 and Position(seg, off) == self._head:
                return None
            return Chunk(lines, readings, Position(seg, off))

    def commit(self, chunk: Chunk) -> None:
        """The chunk is in the database: move the head past it and trim finished segments."""
        with self._lock:
            self._head = chunk.end
            self._readings -= chunk.readings
            self._write_head()
            for n in [n for n in self._sizes if n < chunk.end.segment]:
                self._seg_path(n).unlink(missing_ok=True)
                del self._sizes[n]
            if self._head.segment == self._tail_seg and self._head.offset >= self._sizes.get(
                self._tail_seg, 0
            ):
                # Fully drained: start a fresh segment so the old one can go.
                self._seg_path(self._tail_seg).unlink(missing_ok=True)
                self._sizes.pop(self._tail_seg, None)
                self._tail_seg += 1
                self._head = Position(self._tail_seg, 0)
                self._write_head()
            self._fsync_dir()

    def _write_head(self) -> None:
        # Write, fsync, then rename: after a power cut `head` is the old or the new one,
        # never empty (which would stop the collector from starting).
        tmp = self.dir / "head.tmp"
        with tmp.open("w") as f:
            f.write(f"{self._head.segment} {self._head.offset}")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.dir / "head")

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
