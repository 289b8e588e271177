"""InfluxQL over the v1 `/query` API, read by the pages: never blocks the loop, bounded.

Every query has a time range and, for the charts, a GROUP BY time(), so one page reads at
most a few hundred points whatever the fleet wrote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

log = logging.getLogger("collector.web")
MAX_BODY = 2 * 1024 * 1024  # a page's answers are far smaller; a bigger one is not ours


@dataclass(frozen=True, slots=True)
class Series:
    """One series of an answer: its tags and its rows as {column: value}."""

    name: str
    tags: dict[str, str]
    rows: list[dict[str, Any]]


def quote(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxQL:
    """Queries one database; a failure is logged and counted, and reads as no data."""

    def __init__(self, url: str, db: str, auth: aiohttp.BasicAuth | None, timeout_s: float) -> None:
        self.url = url.rstrip("/") + "/query"
        self.db = db
        self.auth = auth
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.errors = 0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def query(self, *statements: str) -> list[list[Series]]:
        """The series of each statement, in order; empty lists when InfluxDB fails."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout, auth=self.auth)
        params = {"db": self.db, "epoch": "ms", "q": ";".join(statements)}
        empty: list[list[Series]] = [[] for _ in statements]
        try:
            async with self._session.get(self.url, params=params) as resp:
                if resp.status != 200:
                    raise ValueError(f"HTTP {resp.status}")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise ValueError(f"answer over {MAX_BODY} bytes")
            answer = orjson.loads(body)
            if not isinstance(answer, dict):
                raise ValueError("answer is not a JSON object")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.errors += 1
            log.warning("InfluxQL query failed: %s", str(exc)[:200])
            return empty
        out = empty
        for i, result in enumerate(answer.get("results", [])[: len(statements)]):
            if result.get("error"):
                self.errors += 1
                log.warning("InfluxQL statement failed: %s", str(result["error"])[:200])
            out[i] = [
                Series(
                    s.get("name", ""),
                    s.get("tags") or {},
                    [dict(zip(s["columns"], v, strict=False)) for v in s.get("values", [])],
                )
                for s in result.get("series", [])
            ]
        return out
