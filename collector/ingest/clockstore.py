"""Device clock estimates on disk (SQLite): after a restart, devices are judged on corrected time.

One row per device whose offset is known: the estimate and the correction applied, the live
samples behind them and the device's previous message (its next message is judged live or
not against that one, as without a restart). The file is read once at start-up and written
every SAVE_EVERY_S and at stop, in the store's own thread: the event loop never waits on the
disk. An estimate whose last live sample is older than `max_age_s` is neither restored nor
kept (a clock may have been reset since), and the table holds at most as many devices as the
in-memory one.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from array import array
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from collector.ingest.clockskew import WINDOW, ClockSkew, DeviceClock
from collector.private_files import private_dir, touch_private

log = logging.getLogger("collector")
FILE_NAME = "clock.sqlite3"
SAVE_EVERY_S = 60.0  # a crash loses at most this much of the estimates' progress
# station, device, device_ms, received_ms, samples, next_slot, offset_ms, correction_ms,
# estimated_ms, changed_ms
Row = tuple[str, str, int, int, bytes, int, int, int, int, int]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS device_clocks (
  station TEXT NOT NULL, device TEXT NOT NULL,
  device_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
  samples BLOB NOT NULL, next_slot INTEGER NOT NULL,
  offset_ms INTEGER NOT NULL, correction_ms INTEGER NOT NULL,
  estimated_ms INTEGER NOT NULL, changed_ms INTEGER NOT NULL,
  PRIMARY KEY (station, device)
);
CREATE INDEX IF NOT EXISTS device_clocks_age ON device_clocks(estimated_ms);
"""
_COLUMNS = (
    "station, device, device_ms, received_ms, samples, next_slot, offset_ms, correction_ms,"
    " estimated_ms, changed_ms"
)


def unsaved(skew: ClockSkew) -> list[Row]:
    """Rows of the devices estimated again since they were last taken (marks them taken)."""
    rows: list[Row] = []
    for (station, device), c in skew.devices.items():
        if c.offset_ms is None or c.estimated_ms == c.saved_ms:
            continue
        c.saved_ms = c.estimated_ms
        rows.append(
            (station, device, c.device_ms, c.received_ms, c.samples.tobytes(), c.next_slot,
             c.offset_ms, c.correction_ms, c.estimated_ms, c.changed_ms)
        )  # fmt: skip
    return rows


def restore(skew: ClockSkew, rows: list[Row]) -> list[tuple[tuple[str, str], DeviceClock]]:
    """Put saved estimates into the table (up to its bound, newest first); those restored."""
    out: list[tuple[tuple[str, str], DeviceClock]] = []
    for station, device, dev_ms, rx_ms, raw, slot, offset, corr, est_ms, changed in rows:
        key = (station, device)
        if key in skew.devices:
            continue
        if len(skew.devices) >= skew.max_devices:
            skew.table_full += 1
            continue
        samples = array("q")
        whole = min(len(raw), WINDOW * samples.itemsize) // samples.itemsize
        samples.frombytes(raw[: whole * samples.itemsize])  # a torn row gives what is whole
        clock = DeviceClock(
            dev_ms, rx_ms, samples, next_slot=slot % WINDOW, offset_ms=offset,
            correction_ms=corr, pending=False, estimated_ms=est_ms, changed_ms=changed,
            saved_ms=est_ms,
        )  # fmt: skip
        skew.devices[key] = clock
        out.append((key, clock))
    return out


class ClockStore:
    """The SQLite file `clock.sqlite3` in the data folder; every call runs in its one thread."""

    def __init__(self, data_dir: Path, max_age_s: float, max_devices: int) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self.max_age_ms = int(max_age_s * 1000)
        self.max_devices = max_devices
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clock-store")
        self._db: sqlite3.Connection | None = None
        self.too_old = 0  # estimates found too old at start-up

    async def load(self, now_ms: int) -> list[Row]:
        """Open the file and read the estimates young enough to trust, newest first."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._load, now_ms)

    async def save(self, rows: list[Row], now_ms: int) -> None:
        """Write `rows` and drop what is too old or beyond the bound."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._save, rows, now_ms)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._close)
        self._pool.shutdown(wait=True)

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            private_dir(self.path.parent)
            touch_private(self.path)  # SQLite gives its -wal and -shm files this file's mode
            self._db = sqlite3.connect(self.path, isolation_level="DEFERRED")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        return self._db

    def _load(self, now_ms: int) -> list[Row]:
        db = self._open()
        cut = now_ms - self.max_age_ms
        self.too_old = db.execute(
            "SELECT count(*) FROM device_clocks WHERE estimated_ms < ?", [cut]
        ).fetchone()[0]
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM device_clocks WHERE estimated_ms >= ?"
            " ORDER BY estimated_ms DESC LIMIT ?",
            [cut, self.max_devices],
        ).fetchall()
        return [
            (str(r[0]), str(r[1]), int(r[2]), int(r[3]), bytes(r[4]), int(r[5]), int(r[6]),
             int(r[7]), int(r[8]), int(r[9]))
            for r in rows
        ]  # fmt: skip

    def _save(self, rows: list[Row], now_ms: int) -> None:
        db = self._open()
        try:
            db.executemany(
                f"INSERT OR REPLACE INTO device_clocks ({_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute(
                "DELETE FROM device_clocks WHERE estimated_ms < ?", [now_ms - self.max_age_ms]
            )
            (held,) = db.execute("SELECT count(*) FROM device_clocks").fetchone()
            if held > self.max_devices:
                db.execute(
                    "DELETE FROM device_clocks WHERE rowid IN (SELECT rowid FROM device_clocks"
                    " ORDER BY estimated_ms LIMIT ?)",
                    [held - self.max_devices],
                )
            db.commit()
        except BaseException:
            db.rollback()
            raise

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
