"""The spool as SQLite (WAL, synchronous=FULL, one transaction per batch), for comparison only.

Same interface as collector.spool.Spool; `python -m bench.spool` measures the two side by side.
A Position here is (0, id of the last record handed out).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from collector.private_files import private_dir, touch_private
from collector.store.spool import Chunk, Position

_SCHEMA = "CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, n INTEGER, body BLOB)"


class SqliteSpool:
    """Bounded by `max_bytes` of line text; disk errors surface as OSError, as in Spool."""

    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = 0) -> None:
        self.dir = private_dir(Path(directory))
        self.max_bytes = max_bytes
        path = self.dir / "spool.sqlite3"
        touch_private(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        row = self._db.execute(
            "SELECT COALESCE(SUM(length(body)), 0), COALESCE(SUM(n), 0) FROM records"
        )
        total_bytes, total_readings = row.fetchone()
        self._bytes, self._readings = int(total_bytes), int(total_readings)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def readings(self) -> int:
        return self._readings

    @property
    def empty(self) -> bool:
        return self._bytes == 0

    def append(self, lines: list[str], readings: int) -> bool:
        body = "\n".join(lines).encode()
        with self._lock:
            if self._bytes + len(body) > self.max_bytes:
                return False
            try:
                with self._db:  # one transaction (BEGIN ... COMMIT)
                    self._db.execute("BEGIN")
                    self._db.execute(
                        "INSERT INTO records (n, body) VALUES (?, ?)", [readings, body]
                    )
            except sqlite3.OperationalError as exc:  # "database or disk is full", I/O errors
                raise OSError(str(exc)) from exc
            self._bytes += len(body)
            self._readings += readings
            return True

    def read_chunk(self, max_lines: int) -> Chunk | None:
        with self._lock:
            lines: list[str] = []
            readings, last = 0, 0
            rows = self._db.execute("SELECT id, n, body FROM records ORDER BY id")
            for rid, n, body in rows:
                lines.extend(body.decode().split("\n") if body else [])
                readings += n
                last = rid
                if len(lines) >= max_lines:
                    break
            rows.close()
            if last == 0:
                return None
            return Chunk(lines, readings, Position(0, last))

    def commit(self, chunk: Chunk) -> None:
        with self._lock:
            size = self._db.execute(
                "SELECT COALESCE(SUM(length(body)), 0) FROM records WHERE id <= ?",
                [chunk.end.offset],
            ).fetchone()[0]
            try:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.execute("DELETE FROM records WHERE id <= ?", [chunk.end.offset])
            except sqlite3.OperationalError as exc:
                raise OSError(str(exc)) from exc
            self._bytes -= size
            self._readings -= chunk.readings

    def close(self) -> None:
        self._db.close()
