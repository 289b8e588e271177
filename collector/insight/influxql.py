"""InfluxQL over the v1 HTTP API (`/query`), answered by InfluxDB 1.x, 2.x (DBRP) and 3.x."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from devices.errors import SolarWaterError

Row = dict[str, Any]


class QueryError(SolarWaterError):
    """InfluxDB refused a query or could not be reached; the message is one line."""


def quote_ident(name: str) -> str:
    """An identifier in double quotes, its quotes and backslashes escaped."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_str(value: str) -> str:
    """A string literal in single quotes (tag values in WHERE)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxQL:
    """Reads with GET /query?db=..&epoch=ms; times come back as epoch milliseconds."""

    def __init__(
        self,
        url: str,
        db: str,
        *,
        headers: dict[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._url = url.rstrip("/") + "/query"
        self._db = db
        self._headers = headers or {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def rows(self, q: str) -> list[Row]:
        """Every row of every series of each statement, its series' tags merged in."""
        if self._session is None:
            await self.start()
        assert self._session is not None
        params = {"db": self._db, "q": q, "epoch": "ms"}
        try:
            async with self._session.get(self._url, params=params) as resp:
                body = await resp.read()
                if resp.status != 200:
                    text = body.decode(errors="replace").strip()[:200]
                    raise QueryError(f"InfluxDB answered {resp.status} to a query: {text}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise QueryError(f"InfluxDB query failed: {exc or type(exc).__name__}") from None
        answer = orjson.loads(body)
        out: list[Row] = []
        for result in answer.get("results", []):
            if "error" in result:
                raise QueryError(f"InfluxQL error: {result['error']}")
            for series in result.get("series", []):
                tags = series.get("tags", {})
                cols = series["columns"]
                for values in series["values"]:
                    row = dict(zip(cols, values, strict=True))
                    row.update(tags)
                    out.append(row)
        return out
