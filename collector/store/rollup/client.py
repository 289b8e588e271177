"""A small blocking InfluxDB 1.x client for the rollup commands (not used on the event loop)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from devices.errors import SolarWaterError

Row = dict[str, Any]


class RollupError(SolarWaterError):
    """InfluxDB refused a rollup statement or could not be reached; one line for the operator."""


class InfluxQLClient:
    """POST /query and /write with optional basic auth; answers decoded, errors as RollupError."""

    def __init__(
        self,
        url: str,
        db: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        self.base = url.rstrip("/")
        self.db = db
        self.timeout_s = timeout_s
        self._headers: dict[str, str] = {}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = "Basic " + token

    def _post(self, path: str, params: dict[str, str], body: bytes | None) -> bytes:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, data=body or b"", method="POST", headers=self._headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                data: bytes = resp.read()
                return data
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace").strip()[:300]
            raise RollupError(f"InfluxDB at {self.base}: HTTP {exc.code}: {text}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RollupError(f"InfluxDB at {self.base} unreachable: {reason}") from None

    def series(self, statement: str) -> list[tuple[str, list[Row]]]:
        """(series name, rows with its tags merged in) of the statement; RollupError on error."""
        raw = self._post("/query", {"db": self.db, "epoch": "ms", "q": statement}, None)
        result = json.loads(raw)["results"][0]
        if "error" in result:
            raise RollupError(f"InfluxDB refused {statement[:60]!r}: {result['error']}")
        out: list[tuple[str, list[Row]]] = []
        for series in result.get("series", []):
            rows = []
            for values in series.get("values", []):
                row = dict(zip(series["columns"], values, strict=True))
                row.update(series.get("tags", {}))
                rows.append(row)
            out.append((series.get("name", ""), rows))
        return out

    def query(self, statement: str) -> list[Row]:
        """Rows of every series of the statement, one list."""
        return [row for _, rows in self.series(statement) for row in rows]

    def write(self, lines: list[str], rp: str | None = None, precision: str = "ms") -> None:
        """Write line protocol into `rp` (the default policy if None)."""
        params = {"db": self.db, "precision": precision} | ({"rp": rp} if rp else {})
        self._post("/write", params, "\n".join(lines).encode())
