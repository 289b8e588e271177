"""Who did what to the alerts: acks, silences and windows, kept in the alert store's SQLite.

The functions run in the store's thread (`AlertStore.call`), like the store's own methods.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from collector.alerts.store import AlertStore
from collector.alerts.windows import WindowSettings

ActionKind = str  # ack, silence, unsilence, window, unwindow
_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL, action TEXT NOT NULL,
  by TEXT NOT NULL, via TEXT NOT NULL, alert_id INTEGER, silence_id INTEGER,
  window_id INTEGER, station TEXT, rule TEXT, comment TEXT
);
CREATE INDEX IF NOT EXISTS actions_alert ON actions(alert_id);
CREATE TABLE IF NOT EXISTS windows (
  id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL, created_ms INTEGER NOT NULL,
  created_by TEXT NOT NULL
);
"""
_COLS = "id, ts_ms, action, by, via, alert_id, silence_id, window_id, station, rule, comment"


@dataclass(frozen=True, slots=True)
class Action:
    """One change someone made; `via` says how: admin token, technician token or signed link."""

    id: int
    ts_ms: int
    action: ActionKind
    by: str
    via: str
    alert_id: int | None = None
    silence_id: int | None = None
    window_id: int | None = None
    station: str | None = None
    rule: str | None = None
    comment: str | None = None


def create(s: AlertStore) -> None:
    s.db.executescript(_SCHEMA)


def record(s: AlertStore, a: Action) -> int:
    cur = s.db.execute(
        f"INSERT INTO actions ({_COLS.removeprefix('id, ')}) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [a.ts_ms, a.action, a.by, a.via, a.alert_id, a.silence_id, a.window_id, a.station,
         a.rule, a.comment],
    )  # fmt: skip
    assert cur.lastrowid is not None
    return cur.lastrowid


def history(
    s: AlertStore, limit: int, alert_id: int | None, station: str | None, before: int | None
) -> list[Action]:
    """Newest first; `before` pages on by action id."""
    conds: list[str] = []
    args: list[int | str] = []
    for col, val in (("alert_id", alert_id), ("station", station)):
        if val is not None:
            conds.append(f"{col} = ?")
            args.append(val)
    if before is not None:
        conds.append("id < ?")
        args.append(before)
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    rows = s.db.execute(
        f"SELECT {_COLS} FROM actions {where} ORDER BY id DESC LIMIT ?", [*args, limit]
    )
    return [Action(*row) for row in rows]


def prune(s: AlertStore, before_ms: int) -> None:
    s.db.execute("DELETE FROM actions WHERE ts_ms < ?", [before_ms])


def add_window(s: AlertStore, w: WindowSettings, now_ms: int, by: str) -> int:
    cur = s.db.execute(
        "INSERT INTO windows (body, created_ms, created_by) VALUES (?, ?, ?)",
        [orjson.dumps(w.model_dump(mode="json", by_alias=True)), now_ms, by],
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def windows(s: AlertStore) -> list[tuple[int, WindowSettings]]:
    rows = s.db.execute("SELECT id, body FROM windows ORDER BY id")
    return [(i, WindowSettings.model_validate(orjson.loads(body))) for i, body in rows]


def delete_window(s: AlertStore, window_id: int) -> bool:
    return s.db.execute("DELETE FROM windows WHERE id = ?", [window_id]).rowcount > 0
