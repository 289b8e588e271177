"""The alerts a grouped notification stands for, kept so its one signed link can name them.

A storm's notification lists many stations; its link (`/g/{id}...`) names a row here, not
the alerts themselves, so it stays SMS-short however many there are. The functions run in
the store's thread (`AlertStore.call`), like the store's own methods; rows go with the
alert history (`history_keep`).
"""

from __future__ import annotations

import orjson

from collector.alerts.store import AlertStore

MAX_IDS = 1000  # alerts one group names (a route's storm is a few dozen stations)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS link_groups (
  id INTEGER PRIMARY KEY AUTOINCREMENT, created_ms INTEGER NOT NULL, alert_ids BLOB NOT NULL
);
"""


def create(s: AlertStore) -> None:
    s.db.executescript(_SCHEMA)


def add(s: AlertStore, alert_ids: tuple[int, ...], now_ms: int) -> int:
    cur = s.db.execute(
        "INSERT INTO link_groups (created_ms, alert_ids) VALUES (?, ?)",
        [now_ms, orjson.dumps(list(alert_ids[:MAX_IDS]))],
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def get(s: AlertStore, group_id: int) -> tuple[int, ...] | None:
    row = s.db.execute("SELECT alert_ids FROM link_groups WHERE id = ?", [group_id]).fetchone()
    return None if row is None else tuple(int(i) for i in orjson.loads(row[0]))


def prune(s: AlertStore, before_ms: int) -> None:
    s.db.execute("DELETE FROM link_groups WHERE created_ms < ?", [before_ms])
