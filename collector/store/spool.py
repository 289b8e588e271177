"""An append-only, fsync'd disk spool of line-protocol batches, replayed in order.

Records are `<len, crc32, n_readings>` + the batch's lines. The head position is
persisted after each replayed chunk; a crash between a write and that persist
replays the chunk again, which rewrites the same points (idempotent by design).
A failed append is cut back off the segment (or the segment is sealed), so a later
append never lands behind a torn record. Files are 0600 in 0700 folders.
Blocking calls: run them with asyncio.to_thread.
"""

from __future__ import annotations

import builtins
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from collector.private_files import open_private, private_dir, write_all

log = logging.getLogger("collector.spool")
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
        self.dir = private_dir(Path(directory))
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._head = Position(0, 0)
        self._tail_seg = 0
        self._sizes: dict[int, int] = {}
        self._readings = 0
        self._sealed: set[int] = set()  # segments a failed append could not be cut back on
        self.append_errors = 0
        self._fd: tuple[int, int] | None = None  # (segment, fd) of the tail segment
        self.last_error = ""
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
        """Check a segment's records; cut a torn tail, skip damage before valid records.

        Returns (size, readings) of the repaired segment.
        """
        path = self._seg_path(n)
        data = path.read_bytes()
        good: list[tuple[int, int]] = []  # (offset, end) of each valid record
        readings, pos = 0, 0
        while pos + _HEADER.size <= len(data):
            end = _record_end(data, pos)
            if end is None:
                # Damage: look for the next valid record rather than give up on the rest.
                pos = _resync(data, pos + 1)
                continue
            good.append((pos, end))
            if end > start:
                readings += _HEADER.unpack_from(data, pos)[2]
            pos = end
        valid_end = good[-1][1] if good else 0
        contiguous = all(a == (good[i - 1][1] if i else 0) for i, (a, _b) in enumerate(good))
        if contiguous:
            if valid_end != len(data):
                log.warning(
                    "spool segment %d: cut a torn tail of %d bytes", n, len(data) - valid_end
                )
                with path.open("r+b") as f:
                    f.truncate(valid_end)
                    os.fsync(f.fileno())
            return valid_end, readings
        return self._compact(n, data, good, start), readings

    def _compact(self, n: int, data: bytes, good: list[tuple[int, int]], start: int) -> int:
        """Rewrite segment `n` with only its valid records; the head offset moves with them."""
        kept = b"".join(data[a:b] for a, b in good)
        log.warning("spool segment %d: dropped %d damaged bytes, kept every valid record", n,
                    len(data) - len(kept))  # fmt: skip
        if n == self._head.segment and start:
            self._head = Position(n, sum(b - a for a, b in good if b <= start))
        tmp = self.dir / f"{n:010d}.tmp"
        fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            write_all(fd, kept)
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(self._seg_path(n))
        if n == self._head.segment and start:
            self._write_head()
        self._fsync_dir()
        return len(kept)

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
        """Durably add one batch; False when the spool is full (nothing written).

        Raises OSError when the disk refuses; then nothing of the batch stays in the spool.
        """
        body = "\n".join(lines).encode()
        record = _HEADER.pack(len(body), zlib.crc32(body), readings) + body
        with self._lock:
            if self.bytes + len(record) > self.max_bytes:
                return False
            size = self._sizes.get(self._tail_seg, 0)
            if size >= self.segment_bytes or self._tail_seg in self._sealed:
                self._tail_seg += 1
                size = 0
            seg = self._tail_seg
            new = seg not in self._sizes
            try:
                self._write_record(seg, size, record)
                if new:
                    self._fsync_dir()
            except OSError as exc:
                self.append_errors += 1
                self.last_error = f"{exc.strerror or exc}"
                raise
            self._sizes[seg] = size + len(record)
            self._readings += readings
            self.last_error = ""
            return True

    def _write_record(self, seg: int, size: int, record: builtins.bytes) -> None:
        """Write and fsync one record at `size`; on failure cut the file back to `size`."""
        fd = self._tail_fd(seg)
        try:
            write_all(fd, record)
            os.fdatasync(fd)
        except OSError:
            self._cut_back(fd, seg, size)
            self.close()  # opened afresh next time: the failure may have been the file's
            raise

    def _tail_fd(self, seg: int) -> int:
        # Kept open between appends: open + fchmod + close cost as much as a small fsync.
        if self._fd is not None and self._fd[0] == seg:
            return self._fd[1]
        self.close()
        fd = open_private(self._seg_path(seg), os.O_WRONLY | os.O_APPEND)
        self._fd = (seg, fd)
        return fd

    def close(self) -> None:
        """Close the tail segment's file (reopened by the next append)."""
        if self._fd is not None:
            os.close(self._fd[1])
            self._fd = None

    def _cut_back(self, fd: int, seg: int, size: int) -> None:
        """Remove a part-written record so the next append does not land behind it."""
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        except OSError as exc:
            # The torn bytes stay at this segment's end: nothing more goes into it. The
            # start-up scan cuts them; reads stop at `size` until then.
            log.error("spool segment %d: cannot cut a failed write (%s): sealed", seg, exc)
            self._sealed.add(seg)

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
            self._save_head()
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
                self._save_head()
            self._sealed = {n for n in self._sealed if n in self._sizes}
            try:
                self._fsync_dir()
            except OSError as exc:
                log.warning("spool: folder fsync failed (%s)", exc)

    def _save_head(self) -> None:
        # The chunk is in the database either way; a head left behind only means it is
        # replayed again after a restart (idempotent), so a full disk must not stop the replay.
        try:
            self._write_head()
        except OSError as exc:
            log.warning("spool: cannot save the head position (%s); kept in memory", exc)

    def _write_head(self) -> None:
        # Write, fsync, then rename: after a power cut `head` is the old or the new one,
        # never empty (which would stop the collector from starting).
        tmp = self.dir / "head.tmp"
        fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            write_all(fd, f"{self._head.segment} {self._head.offset}".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(self.dir / "head")

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _record_end(data: bytes, pos: int) -> int | None:
    """The end of the valid record at `pos`, or None when it is torn or damaged."""
    if pos + _HEADER.size > len(data):
        return None
    length, crc, _count = _HEADER.unpack_from(data, pos)
    end: int = pos + _HEADER.size + length
    if end > len(data) or zlib.crc32(data[pos + _HEADER.size : end]) != crc:
        return None
    return end


def _resync(data: bytes, pos: int) -> int:
    """The offset of the next valid record at or after `pos`, or len(data) when none is."""
    while pos + _HEADER.size <= len(data):
        if _record_end(data, pos) is not None:
            return pos
        pos += 1
    return len(data)
