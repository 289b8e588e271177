"""Telemetry, phone numbers and secrets on disk: files 0600 in 0700 folders, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.alerts.store import AlertStore
from collector.config import load_settings
from collector.ingest.quarantine import Quarantine
from collector.service import Collector
from collector.store.spool import Spool


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)  # the worst case: nothing masked
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(root: Path) -> None:
    paths = [root, *root.rglob("*")]
    assert len(paths) > 1
    for p in paths:
        if p.is_socket():
            continue
        want = 0o700 if p.is_dir() else 0o600
        assert mode(p) == want, f"{p} is {oct(mode(p))}"


@pytest.mark.usefixtures("open_umask")
def test_spool_files_are_private(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1 << 20, 256)
    for i in range(10):
        assert spool.append([f"m v={i}i {i}"] * 10, 10)
    chunk = spool.read_chunk(15)
    assert chunk is not None
    spool.commit(chunk)  # writes the head file
    assert (tmp_path / "spool" / "head").exists()
    assert_private(tmp_path / "spool")


@pytest.mark.usefixtures("open_umask")
async def test_quarantine_files_are_private(tmp_path: Path) -> None:
    q = Quarantine(tmp_path / "q", 1 << 20, 10, 100)
    q.start()
    q.add("malformed_json", "x", "t", b"{", 1, -1)
    await q.stop()
    assert q.path.exists()
    assert_private(tmp_path / "q")


@pytest.mark.usefixtures("open_umask")
def test_alert_db_and_its_wal_are_private(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "alerts")
    store.open()
    try:
        store.put("engine", {"phones": ["+258840000000"]})
        store.db.commit()
        names = {p.name for p in (tmp_path / "alerts").iterdir()}
        assert {"alerts.sqlite3", "alerts.sqlite3-wal", "alerts.sqlite3-shm"} <= names
        assert_private(tmp_path / "alerts")
    finally:
        store.close()


@pytest.mark.usefixtures("open_umask")
def test_existing_loose_files_and_folders_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "alerts").mkdir(parents=True, mode=0o755)
    (data / "alerts").chmod(0o755)
    db = data / "alerts" / "alerts.sqlite3"
    db.touch(0o644)
    db.chmod(0o644)
    Collector(load_settings(None, {"data_dir": str(data), "http.listen": "127.0.0.1:0"}))
    assert mode(data) == 0o700
    assert mode(data / "spool") == 0o700 and mode(data / "quarantine") == 0o700
    store = AlertStore(data / "alerts")
    store.open()
    store.close()
    assert mode(data / "alerts") == 0o700 and mode(db) == 0o600
