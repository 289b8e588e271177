"""Server-side sessions in SQLite: a random id in the cookie, only its hash on disk.

Kept in `<data_dir>/web/sessions.sqlite3` (0600) so a collector restart signs nobody out.
Bounded (the oldest goes when full, counted) and expiring (expired rows are deleted at
sign-in and when met). The database runs in one worker thread, as the alert store does, so
the event loop never waits on the disk. A stolen copy of the file opens no session: it
holds SHA-256 hashes of the ids, and the CSRF token is derived from the id itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from collector.alerts.technicians import Identity
from collector.private_files import private_dir, touch_private

COOKIE = "sw_session"
FILE = "sessions.sqlite3"
ID_MAX = 100  # a cookie longer than any id we make is not looked up
T = TypeVar("T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
  id_sha256 TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL,
  created_s REAL NOT NULL, expires_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_created ON sessions(created_s);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions(expires_s);
"""


def id_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def csrf_of(sid: str) -> str:
    """The session's form token: derived from its id, so it is never stored."""
    mac = hmac.new(sid.encode(), b"csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:32]


@dataclass(frozen=True, slots=True)
class Stored:
    """A session as the file keeps it: the id the cookie gave, the token it signed in with."""

    id: str
    token_sha256: str  # rotated or removed, the session ends
    expires_s: float


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: who it is comes from the token's technician on file, at each request."""

    id: str
    who: Identity
    token_sha256: str
    expires_s: float

    @property
    def csrf(self) -> str:
        return csrf_of(self.id)

    def csrf_ok(self, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(self.csrf.encode(), given.encode())


class Sessions:
    """At most `limit` sessions, each ending `ttl_s` after sign-in, in one SQLite file."""

    def __init__(self, folder: Path, limit: int, ttl_s: float) -> None:
        self.path = Path(folder) / FILE
        self.limit = limit
        self.ttl_s = ttl_s
        self.evicted = 0
        self.count = 0  # rows held, as of the last call (the gauge reads it without I/O)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="web-sessions")
        self._db: sqlite3.Connection | None = None

    def __len__(self) -> int:
        return self.count

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, fn)

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._open()
        try:
            result = fn(db)
            self.count = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
            db.commit()
            return result
        except BaseException:
            db.rollback()
            raise

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            # SQLite gives -wal and -shm the main file's mode: 0600 first covers all three
            private_dir(self.path.parent)
            touch_private(self.path)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level="DEFERRED")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    async def start(self, now_s: float) -> None:
        """Open the file and drop what expired while the collector was down."""
        await self._call(lambda db: db.execute("DELETE FROM sessions WHERE expires_s <= ?",
                                               [now_s]))  # fmt: skip

    async def open(self, token_sha256: str, now_s: float) -> Stored:
        """A new session for the technician whose token hashes to `token_sha256`."""
        s = Stored(secrets.token_urlsafe(32), token_sha256, now_s + self.ttl_s)

        def add(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM sessions WHERE expires_s <= ?", [now_s])
            held = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
            if held >= self.limit:
                gone = db.execute(
                    "DELETE FROM sessions WHERE id_sha256 IN (SELECT id_sha256 FROM sessions"
                    " ORDER BY created_s LIMIT ?)",
                    [held - self.limit + 1],
                ).rowcount
                self.evicted += gone
            db.execute(
                "INSERT INTO sessions (id_sha256, token_sha256, created_s, expires_s)"
                " VALUES (?, ?, ?, ?)",
                [id_hash(s.id), token_sha256, now_s, s.expires_s],
            )

        await self._call(add)
        return s

    async def get(self, sid: str | None, now_s: float) -> Stored | None:
        if not sid or len(sid) > ID_MAX:
            return None
        key = id_hash(sid)

        def find(db: sqlite3.Connection) -> tuple[str, float] | None:
            row = db.execute(
                "SELECT token_sha256, expires_s FROM sessions WHERE id_sha256 = ?", [key]
            ).fetchone()
            if row is not None and now_s >= row[1]:
                db.execute("DELETE FROM sessions WHERE id_sha256 = ?", [key])
                return None
            return None if row is None else (str(row[0]), float(row[1]))

        found = await self._call(find)
        return None if found is None else Stored(sid, *found)

    async def close(self, sid: str) -> None:
        key = id_hash(sid)
        await self._call(lambda db: db.execute("DELETE FROM sessions WHERE id_sha256 = ?", [key]))

    async def aclose(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._pool, shut)
        self._pool.shutdown(wait=True)
