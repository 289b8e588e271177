"""An InfluxDB 1.x server on free ports, with its data in a given folder."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from devstack.ports import free_port, wait_for_port
from devstack.process import ManagedProcess, require_binary

Row = dict[str, Any]


class Influxd(ManagedProcess):
    """Local InfluxDB 1.6 speaking the v1 HTTP API."""

    name = "influxd"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir)
        self.port = port or free_port()
        self.rpc_port = free_port()
        self.conf_path = self.workdir / "influxdb.conf"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config_text(self) -> str:
        d = self.workdir
        return (
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{d}/meta"\n'
            f'[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n'
            '  query-log-enabled = false\n  index-version = "inmem"\n'
            '  cache-snapshot-write-cold-duration = "10s"\n'
            f'[http]\n  enabled = true\n  bind-address = "127.0.0.1:{self.port}"\n'
            "  log-enabled = false\n  max-body-size = 0\n"
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
            '[logging]\n  level = "warn"\n'
        )

    def command(self) -> list[str]:
        self.conf_path.write_text(self.config_text())
        return [require_binary("influxd"), "-config", str(self.conf_path)]

    def wait_ready(self) -> None:
        wait_for_port(self.port, timeout=60)
        self._request("GET", "/ping")

    def _request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        with urllib.request.urlopen(req, timeout=60) as resp:
            data: bytes = resp.read()
            return data

    def create_db(self, db: str) -> None:
        self.query_raw(f'CREATE DATABASE "{db}"', db=None, method="POST")

    def drop_db(self, db: str) -> None:
        self.query_raw(f'DROP DATABASE "{db}"', db=None, method="POST")

    def write(
        self, lines: list[str] | str, db: str, precision: str = "ms", rp: str | None = None
    ) -> None:
        """Write line protocol (into `rp`, else the default policy); HTTPError on a refusal."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        params = {"db": db, "precision": precision} | ({"rp": rp} if rp else {})
        qs = urllib.parse.urlencode(params)
        self._request("POST", f"/write?{qs}", body.encode())

    def query_raw(
        self, q: str, db: str | None = "solarwater", method: str = "GET", epoch: str = "ms"
    ) -> dict[str, Any]:
        """Run InfluxQL and return the decoded JSON answer; raises on an error in it."""
        params = {"q": q, "epoch": epoch}
        if db:
            params["db"] = db
        qs = urllib.parse.urlencode(params)
        if method == "POST":
            raw = self._request("POST", "/query", qs.encode())
        else:
            raw = self._request("GET", f"/query?{qs}")
        answer: dict[str, Any] = json.loads(raw)
        for result in answer.get("results", []):
            if "error" in result:
                raise RuntimeError(f"InfluxQL error for {q!r}: {result['error']}")
        return answer

    def query(self, q: str, db: str = "solarwater") -> list[Row]:
        """Rows of every series of the first statement, each with its series' tags merged in."""
        answer = self.query_raw(q, db=db)
        rows: list[Row] = []
        for series in answer["results"][0].get("series", []):
            tags = series.get("tags", {})
            for values in series["values"]:
                row = dict(zip(series["columns"], values, strict=True))
                row.update(tags)
                rows.append(row)
        return rows

    def count(self, measurement: str, db: str = "solarwater", field: str | None = None) -> int:
        """Number of points in `measurement` (counted on one field, or the first one)."""
        target = f'"{field}"' if field else "*"
        rows = self.query(f'SELECT count({target}) FROM "{measurement}"', db=db)
        if not rows:
            return 0
        # count(*) gives one column per field; a field absent from every point is null
        counts = [int(v) for k, v in rows[0].items() if k.startswith("count") and v is not None]
        return max(counts, default=0)
