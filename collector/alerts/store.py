"""Alert state on disk (SQLite): alerts with their notification marks, silences, outbox, snapshot.

Methods are synchronous and do not commit; the service runs them in one worker thread and
commits once per batch (`AlertStore.call`), so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import orjson

from collector.alerts.model import Alert
from collector.private_files import private_dir, touch_private

T = TypeVar("T")

_ALERT_COLS = [f.name for f in fields(Alert)]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  station TEXT NOT NULL, district TEXT, device TEXT NOT NULL, rule TEXT NOT NULL,
  severity TEXT NOT NULL, state TEXT NOT NULL, since_ms INTEGER NOT NULL,
  fired_ms INTEGER NOT NULL, value REAL NOT NULL, threshold TEXT NOT NULL,
  message TEXT NOT NULL, resolved_ms INTEGER, resolved_value REAL, resolved_message TEXT,
  acked_ms INTEGER, acked_by TEXT, notified_firing INTEGER NOT NULL DEFAULT 0,
  notified_resolved INTEGER NOT NULL DEFAULT 0, last_notified_ms INTEGER,
  reminders INTEGER NOT NULL DEFAULT 0, repeat_s REAL, detail TEXT NOT NULL DEFAULT '',
  resolved_detail TEXT NOT NULL DEFAULT '', cause TEXT
);
CREATE INDEX IF NOT EXISTS alerts_state ON alerts(state);
CREATE TABLE IF NOT EXISTS silences (
  id INTEGER PRIMARY KEY AUTOINCREMENT, station TEXT, rule TEXT,
  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,
  created_by TEXT, comment TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, notifier TEXT NOT NULL, body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Silence:
    """No notification for matching alerts between start and end (wall-clock ms)."""

    id: int
    station: str | None
    rule: str | None
    start_ms: int
    end_ms: int
    created_ms: int
    created_by: str | None
    comment: str | None

    def matches(self, station: str, rule: str, now_ms: int) -> bool:
        return (
            self.start_ms <= now_ms < self.end_ms
            and (self.station is None or self.station == station)
            and (self.rule is None or self.rule == rule)
        )


class AlertStore:
    """The SQLite file `alerts.sqlite3` under the state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "alerts.sqlite3"
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alert-store")
        self._db: sqlite3.Connection | None = None

    async def call(self, fn: Callable[[AlertStore], T]) -> T:
        """Run `fn(store)` in the store's thread and commit."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, fn)

    def _run(self, fn: Callable[[AlertStore], T]) -> T:
        try:
            result = fn(self)
            self.db.commit()
            return result
        except BaseException:
            if self._db is not None:
                self._db.rollback()
            raise

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("alert store is not open")
        return self._db

    def open(self) -> None:
        # Phone numbers and e-mail addresses: 0600 in a 0700 folder. SQLite gives the -wal and
        # -shm files the database file's mode, so creating that one 0600 first covers them.
        private_dir(self.path.parent)
        touch_private(self.path)
        for extra in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + extra)
            if side.exists():
                side.chmod(0o600)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level="DEFERRED")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(alerts)")}
        if "cause" not in have:  # a state folder from before silence causes were stored
            self._db.execute("ALTER TABLE alerts ADD COLUMN cause TEXT")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self.close)
        self._pool.shutdown(wait=True)

    # alerts
    def insert_alert(self, a: Alert) -> int:
        cols = [c for c in _ALERT_COLS if c != "id"]
        cur = self.db.execute(
            f"INSERT INTO alerts ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [getattr(a, c) for c in cols],
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def update_alert(self, a: Alert) -> None:
        cols = [c for c in _ALERT_COLS if c != "id"]
        self.db.execute(
            f"UPDATE alerts SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
            [*(getattr(a, c) for c in cols), a.id],
        )

    def _alerts(self, where: str, args: list[Any]) -> list[Alert]:
        rows = self.db.execute(f"SELECT {', '.join(_ALERT_COLS)} FROM alerts {where}", args)
        out = []
        for row in rows:
            a = Alert(**dict(zip(_ALERT_COLS, row, strict=True)))
            a.notified_firing, a.notified_resolved = (
                bool(a.notified_firing),
                bool(a.notified_resolved),
            )
            out.append(a)
        return out

    def open_alerts(self) -> list[Alert]:
        """Active alerts, and resolved ones whose resolved notification is still owed."""
        return self._alerts(
            "WHERE state = 'firing' OR (notified_firing = 1 AND notified_resolved = 0) ORDER BY id",
            [],
        )

    def get_alert(self, alert_id: int) -> Alert | None:
        found = self._alerts("WHERE id = ?", [alert_id])
        return found[0] if found else None

    def history(
        self, limit: int, station: str | None, rule: str | None, before_id: int | None
    ) -> list[Alert]:
        conds: list[str] = []
        args: list[str | int] = []
        for col, val in (("station", station), ("rule", rule)):
            if val is not None:
                conds.append(f"{col} = ?")
                args.append(val)
        if before_id is not None:
            conds.append("id < ?")
            args.append(before_id)
        where = ("WHERE " + " AND ".join(conds)) if conds else ""
        return self._alerts(f"{where} ORDER BY id DESC LIMIT ?", [*args, limit])

    def prune(self, before_ms: int) -> int:
        cur = self.db.execute(
            "DELETE FROM alerts WHERE state = 'resolved' AND resolved_ms < ?"
            " AND (notified_firing = 0 OR notified_resolved = 1)",
            [before_ms],
        )
        self.db.execute("DELETE FROM silences WHERE end_ms < ?", [before_ms])
        return cur.rowcount

    # silences
    def add_silence(self, s: Silence) -> int:
        cur = self.db.execute(
            "INSERT INTO silences (station, rule, start_ms, end_ms, created_ms, created_by,"
            " comment) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [s.station, s.rule, s.start_ms, s.end_ms, s.created_ms, s.created_by, s.comment],
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def silences(self) -> list[Silence]:
        rows = self.db.execute(
            "SELECT id, station, rule, start_ms, end_ms, created_ms, created_by, comment"
            " FROM silences ORDER BY id"
        )
        return [Silence(*row) for row in rows]

    def delete_silence(self, silence_id: int) -> bool:
        return self.db.execute("DELETE FROM silences WHERE id = ?", [silence_id]).rowcount > 0

    # outbox: notifications accepted but not yet delivered (or given up)
    def outbox_add(self, notifier: str, body: bytes) -> int:
        cur = self.db.execute("INSERT INTO outbox (notifier, body) VALUES (?, ?)", [notifier, body])
        assert cur.lastrowid is not None
        return cur.lastrowid

    def outbox_done(self, job_id: int) -> None:
        self.db.execute("DELETE FROM outbox WHERE id = ?", [job_id])

    def outbox(self) -> list[tuple[int, str, bytes]]:
        return list(self.db.execute("SELECT id, notifier, body FROM outbox ORDER BY id"))

    # small key/value state (engine snapshot)
    def put(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, orjson.dumps(value)],
        )

    def get(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", [key]).fetchone()
        return orjson.loads(row[0]) if row else None
